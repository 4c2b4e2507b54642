// The follow-up pages' few interactive parts; everything else is rendered on the server.
//
// - Task page: the public online evaluation (网上评议): POST /api/followup/tasks/{id}/vote,
//   one vote per browser (the server refuses a second one with code "already_voted");
//   and the asker's evaluation with the private code: GET /api/followup/by-code/{code}
//   checks that the code belongs to this task, then POST /by-code/{code}/evaluation.
// - Code page: look the question up by code (never put in the URL of a page), show its
//   status, timeline and reply, and the evaluation form once the reply is published.

import { api, ApiError } from '../frontend/api.js';
import { CONFIG, byTestId, formatDateTime, h, t, toast } from '../frontend/common.js';

const F = (key, params) => t(`followup.${key}`, params);
const BASE = CONFIG.followup_api || '/api/followup';

function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) return t('rate_limited', { seconds: err.retryAfter ?? 60 });
    return err.message;
  }
  return t('network_error');
}

function showResult(el, message, kind) {
  if (!el) return;
  el.hidden = false;
  el.textContent = message;
  el.className = `form-result result-${kind}`;
}

function normaliseCode(value) {
  return String(value || '').trim().replace(/\s+/g, '');
}

// --- votes ---------------------------------------------------------------------------

function setVoteCounts(panel, tally) {
  for (const verdict of ['satisfied', 'basic', 'unsatisfied']) {
    const count = byTestId(`vote-count-${verdict}`, panel);
    if (count && tally && typeof tally[verdict] === 'number') count.textContent = String(tally[verdict]);
  }
}

function lockVotes(panel, mine) {
  for (const button of panel.querySelectorAll('[data-verdict]')) {
    button.disabled = true;
    const isMine = button.dataset.verdict === mine;
    button.setAttribute('aria-pressed', isMine ? 'true' : 'false');
    button.classList.toggle('is-mine', isMine);
  }
}

function initVotes() {
  const panel = byTestId('vote-panel');
  if (!panel || !CONFIG.task) return;
  const result = byTestId('vote-result', panel);
  panel.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-verdict]');
    if (!button || button.disabled) return;
    const verdict = button.dataset.verdict;
    for (const b of panel.querySelectorAll('[data-verdict]')) b.disabled = true;
    try {
      const tally = await api(`${BASE}/tasks/${CONFIG.task}/vote`, { method: 'POST', body: { verdict } });
      setVoteCounts(panel, tally);
      lockVotes(panel, verdict);
      showResult(result, `${F('vote_thanks')} ${F('your_vote', { verdict: verdictLabel(verdict) })}`, 'success');
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_voted') {
        lockVotes(panel, '');
        showResult(result, F('vote_already'), 'error');
      } else {
        for (const b of panel.querySelectorAll('[data-verdict]')) b.disabled = false;
        showResult(result, errorText(err), 'error');
      }
    }
  });
}

function verdictLabel(code) {
  return F(`satisfaction.${code}`);
}

// --- the asker's evaluation ----------------------------------------------------------------

function checked(form, name) {
  const input = form.querySelector(`input[name="${name}"]:checked`);
  return input ? input.value : '';
}

async function sendEvaluation(form, code) {
  const result = byTestId('evaluate-result', form);
  const resolved = checked(form, 'resolved');
  const satisfaction = checked(form, 'satisfaction');
  if (!resolved) return showResult(result, F('choose_resolved'), 'error');
  if (!satisfaction) return showResult(result, F('choose_satisfaction'), 'error');
  const comment = form.querySelector('textarea[name="comment"]')?.value || '';
  const submit = form.querySelector('[type="submit"]');
  submit.disabled = true;
  showResult(result, t('sending'), 'pending');
  try {
    const out = await api(`${BASE}/by-code/${encodeURIComponent(code)}/evaluation`, {
      method: 'POST',
      body: { resolved, satisfaction, comment },
    });
    showResult(result, out && out.reopen_requested ? F('evaluate_reopen') : F('evaluate_thanks'), 'success');
    for (const el of form.querySelectorAll('input, textarea, button')) el.disabled = true;
    return true;
  } catch (err) {
    submit.disabled = false;
    showResult(result, errorText(err), 'error');
    return false;
  }
}

async function lookUp(code) {
  return api(`${BASE}/by-code/${encodeURIComponent(code)}`);
}

function initTaskEvaluation() {
  const form = byTestId('evaluate-form');
  if (!form || !CONFIG.task) return;
  const codeInput = byTestId('evaluate-code', form);
  if (!codeInput) return;
  const result = byTestId('evaluate-result', form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const code = normaliseCode(codeInput.value);
    if (!code) {
      codeInput.setAttribute('aria-invalid', 'true');
      codeInput.focus();
      return showResult(result, F('code_required'), 'error');
    }
    codeInput.removeAttribute('aria-invalid');
    showResult(result, F('code_checking'), 'pending');
    try {
      const found = await lookUp(code);
      const task = found && found.task;
      if (!task) return showResult(result, F('code_no_task'), 'error');
      if (task.id !== CONFIG.task) return showResult(result, F('code_other_task', { id: task.id }), 'error');
      if (found.evaluated) return showResult(result, F('code_evaluated'), 'success');
      if (!found.can_evaluate) return showResult(result, F('code_no_reply'), 'error');
    } catch (err) {
      codeInput.setAttribute('aria-invalid', 'true');
      return showResult(result, errorText(err), 'error');
    }
    await sendEvaluation(form, code);
  });
}

// --- the code page ---------------------------------------------------------------------------

function when(value) {
  return value ? h('time', { datetime: value }, formatDateTime(value)) : null;
}

function signature(role, sig) {
  return h('li', { 'data-testid': `code-review-${role}` },
    h('span', { class: 'fu-review-step' }, F(role)), ' ',
    h('strong', null, sig ? sig.name : '—'), ' ', sig ? when(sig.at) : null);
}

function renderTask(found) {
  const task = found.task;
  if (!task) {
    return [
      h('p', { 'data-testid': 'code-question-state' },
        F('question_state', { state: t(`viewer_states.${found.question_state}`) || found.question_state })),
      h('p', { class: 'muted' }, F('code_no_task')),
    ];
  }
  const reply = task.replies.length ? task.replies[task.replies.length - 1] : null;
  const due = task.reply_paused ? F('paused') : (task.reply_deadline ? formatDateTime(task.reply_deadline) : '—');
  return [
    h('div', { class: 'q-head' },
      h('span', { class: 'q-id' }, F('task_no', { id: task.id })),
      h('span', { class: `badge fu-state fu-state-${task.state}`, 'data-testid': 'code-task-state' }, task.state_label),
      task.overdue ? h('span', { class: 'badge fu-overdue' }, F('overdue')) : null),
    h('h2', { class: 'fu-question', 'data-testid': 'code-task-text' }, task.text),
    h('dl', { class: 'fu-facts' },
      h('div', null, h('dt', null, F('department')), h('dd', null, task.lead_department ? task.lead_department.name : '—')),
      reply ? null : h('div', null, h('dt', null, F('reply_by')), h('dd', null, due))),
    reply
      ? h('section', { class: 'fu-reply', 'data-testid': 'code-reply' },
        h('h3', null, F('reply')),
        h('p', { class: 'muted small' }, reply.department, ' · ', F('published_at', { time: formatDateTime(reply.published_at) })),
        h('div', { class: 'answer' }, h('p', { class: 'answer-text' }, reply.text)),
        h('ol', { class: 'fu-reviews' },
          signature('editor', reply.editor), signature('section_head', reply.section_head), signature('leader', reply.leader)))
      : h('p', { class: 'notice', 'data-testid': 'code-no-reply' }, F('code_no_reply')),
    h('h3', null, F('timeline')),
    h('ol', { class: 'fu-timeline' }, task.timeline.map((e) => h('li', { class: 'fu-event' },
      when(e.at), ' ', h('span', { class: 'fu-event-label' }, e.label),
      e.department ? h('span', { class: 'muted' }, ` · ${e.department}`) : null,
      e.note ? h('p', { class: 'fu-event-note' }, e.note) : null))),
  ];
}

function initCodePage() {
  const form = byTestId('code-form');
  if (!form) return;
  const input = byTestId('code-input', form);
  const result = byTestId('code-result');
  const panel = byTestId('code-task');
  const body = panel.querySelector('[data-role="task"]');
  const evaluate = panel.querySelector('[data-role="evaluate"]');
  const evaluateForm = byTestId('evaluate-form', evaluate);
  let currentCode = '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const code = normaliseCode(input.value);
    if (!code) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return showResult(result, F('code_required'), 'error');
    }
    input.removeAttribute('aria-invalid');
    showResult(result, F('code_checking'), 'pending');
    try {
      const found = await lookUp(code);
      currentCode = code;
      result.hidden = true;
      body.replaceChildren(...renderTask(found).filter(Boolean));
      panel.hidden = false;
      evaluate.hidden = !found.can_evaluate;
      if (found.evaluated) body.appendChild(h('p', { class: 'form-result result-success', 'data-testid': 'code-evaluated' }, F('code_evaluated')));
      else if (found.can_evaluate) body.appendChild(h('p', { class: 'notice' }, F('code_can_evaluate')));
    } catch (err) {
      panel.hidden = true;
      input.setAttribute('aria-invalid', 'true');
      showResult(result, errorText(err), 'error');
    }
  });
  evaluateForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (currentCode) await sendEvaluation(evaluateForm, currentCode);
  });
}

try {
  initVotes();
  initTaskEvaluation();
  initCodePage();
} catch (err) {
  toast(t('server_error'));
  throw err;
}
