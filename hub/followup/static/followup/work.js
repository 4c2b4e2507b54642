// The follow-up work page: staff sort, assign, chase and close tasks; department members
// accept, return, work on and reply to theirs. Every change is one POST to
// /api/followup/work/tasks/{id}/<action>; the server decides what is allowed and
// answers with the task's new state (or a coded error shown as a toast).

import { api } from '../frontend/api.js';
import { CONFIG, T, h, formatDateTime, label, t, toast } from '../frontend/common.js';

const can = new Set(CONFIG.permissions || []);
const list = document.getElementById('fu-list');
const detail = document.getElementById('fu-detail');
const stateSelect = document.getElementById('fu-state');
const filters = document.querySelector('[data-testid="work-filters"]');
let current = null;

function fillStates() {
  if (!stateSelect) return;
  stateSelect.append(h('option', { value: '' }, t('labels.all_states')));
  stateSelect.append(h('option', { value: 'open' }, t('labels.open_only')));
  for (const [code, name] of Object.entries(T.states || {})) {
    stateSelect.append(h('option', { value: code }, name));
  }
  stateSelect.value = 'open';
}

async function loadList() {
  const params = new URLSearchParams();
  const state = stateSelect.value;
  if (state === 'open') params.set('open', 'true');
  else if (state) params.set('state', state);
  const q = filters.elements.q.value.trim();
  if (q) params.set('q', q);
  let data;
  try {
    data = await api(`/followup/work/tasks?${params}`);
  } catch (err) {
    toast(err.message);
    return;
  }
  list.replaceChildren();
  if (!data.items.length) list.append(h('li', { class: 'empty' }, t('labels.none')));
  for (const task of data.items) {
    list.append(h('li', null, h('button', {
      type: 'button',
      'data-testid': `work-task-${task.id}`,
      'aria-current': current === task.id ? 'true' : 'false',
      onclick: () => select(task.id),
    },
    h('strong', null, `#${task.id} `, task.text.slice(0, 40)),
    h('span', { class: `badge badge-state state-${task.state}` }, label('states', task.state)),
    task.lead_department ? h('span', { class: 'muted small' }, task.lead_department.name) : null,
    task.overdue ? h('span', { class: 'fu-overdue' }, t('labels.overdue')) : null)));
  }
}

async function select(id) {
  current = id;
  let task;
  try {
    task = await api(`/followup/work/tasks/${id}`);
  } catch (err) {
    toast(err.message);
    return;
  }
  render(task);
  for (const btn of list.querySelectorAll('button[aria-current]')) {
    btn.setAttribute('aria-current', btn.dataset.testid === `work-task-${id}` ? 'true' : 'false');
  }
}

async function act(task, action, body) {
  try {
    const updated = await api(`/followup/work/tasks/${task.id}/${action}`, { method: 'POST', body: body || {} });
    toast(T.done, 'success');
    if (updated && updated.id) render(updated);
    else await select(task.id);
    await loadList();
  } catch (err) {
    toast(err.message);
  }
}

function field(name, labelText, input) {
  const id = `fu-${name}-${Math.random().toString(36).slice(2, 8)}`;
  input.id = id;
  input.name = name;
  return [h('label', { for: id }, labelText), input];
}

function form(testid, children, onsubmit) {
  return h('form', {
    'data-testid': testid,
    onsubmit: (event) => {
      event.preventDefault();
      onsubmit(event.currentTarget.elements);
    },
  }, children);
}

function reasonForm(task, action, buttonText) {
  return form(`work-form-${action}`, [
    ...field('reason', t('labels.reason'), h('textarea', { required: true, maxlength: 1000 })),
    h('button', { type: 'submit' }, buttonText),
  ], (els) => act(task, action, { reason: els.reason.value }));
}

function departmentSelect(multiple) {
  const select = h('select', multiple ? { multiple: true } : null);
  if (!multiple) select.append(h('option', { value: '' }, '—'));
  for (const dept of CONFIG.departments || []) {
    select.append(h('option', { value: String(dept.id) }, dept.name));
  }
  return select;
}

async function assignForm(task, action) {
  const lead = departmentSelect(false);
  const assisting = departmentSelect(true);
  const sector = h('select', null);
  for (const [code, name] of Object.entries(T.sectors || {})) {
    sector.append(h('option', { value: code, selected: code === task.sector }, name));
  }
  const suggested = h('p', { class: 'muted small', 'data-testid': 'work-suggestions' });
  try {
    const suggestions = await api(`/followup/work/tasks/${task.id}/suggestions`);
    if (suggestions.length) {
      lead.value = String(suggestions[0].department.id);
      suggested.append(`${t('labels.suggested')}: `,
        suggestions.map((s) => `${s.department.name} (${s.reasons.join('；')})`).join(' · '));
    }
  } catch { /* suggestions are a help, not a requirement */ }
  const children = [
    suggested,
    ...field('lead', t('labels.lead'), lead),
    ...field('assisting', t('labels.assisting'), assisting),
  ];
  if (action === 'assign') {
    children.push(...field('sector', t('labels.sector'), sector));
    if (task.visibility === 'public') {
      children.push(h('label', null, h('input', { type: 'checkbox', name: 'publish', checked: task.is_public }), ' ', t('labels.publish')));
    }
  }
  children.push(...field('note', t('labels.note'), h('textarea', { maxlength: 1000 })));
  children.push(h('button', { type: 'submit' }, T.buttons[action]));
  return form(`work-form-${action}`, children, (els) => {
    const body = {
      lead_department: Number(els.lead.value),
      assisting_departments: [...els.assisting.selectedOptions].map((o) => Number(o.value)),
      note: els.note.value,
    };
    if (action === 'assign') {
      body.sector = els.sector.value;
      if (els.publish) body.publish = els.publish.checked;
    }
    act(task, action, body);
  });
}

function button(task, action, text, body) {
  return h('button', { type: 'button', 'data-testid': `work-${action}`, onclick: () => act(task, action, body) }, text);
}

function reviewLine(name, sig) {
  return h('li', null, `${name}: `, sig ? `${sig.name} · ${formatDateTime(sig.at)}` : '—');
}

async function actionsFor(task) {
  const out = [];
  const mine = task.lead_department && (CONFIG.my_departments || []).includes(task.lead_department.id);
  const s = task.state;
  if (can.has('assign') && s === 'pending') out.push(await assignForm(task, 'assign'));
  if (can.has('reassign') && (s === 'returned' || s === 'dispatched')) out.push(await assignForm(task, 'reassign'));
  if (can.has('dismiss') && (s === 'pending' || s === 'returned')) out.push(reasonForm(task, 'dismiss', T.buttons.dismiss));
  if (mine && can.has('accept') && s === 'dispatched') {
    out.push(button(task, 'accept', T.buttons.accept));
    out.push(reasonForm(task, 'return', T.buttons.return));
  }
  if (mine && s === 'in_progress') {
    out.push(reasonForm(task, 'wait', T.buttons.wait));
    out.push(form('work-form-request-extension', [
      ...field('days', t('labels.days'), h('input', { type: 'number', min: 1, max: 10, value: 5, required: true })),
      ...field('reason', t('labels.reason'), h('textarea', { required: true, maxlength: 1000 })),
      h('button', { type: 'submit' }, T.buttons.request_extension),
    ], (els) => act(task, 'request-extension', { days: Number(els.days.value), reason: els.reason.value })));
  }
  if ((mine || can.has('view_all')) && can.has('resume') && s === 'waiting_citizen') {
    out.push(button(task, 'resume', T.buttons.resume, { note: '' }));
  }
  if (can.has('approve_extension') && s === 'extension_requested') {
    out.push(button(task, 'approve-extension', `${T.buttons.approve_extension} (+${task.requested_extension_days})`, {}));
    out.push(reasonForm(task, 'refuse-extension', T.buttons.refuse_extension));
  }
  const working = ['in_progress', 'waiting_citizen', 'extension_requested'].includes(s);
  const reply = (task.replies || []).find((r) => r.round === task.reopen_count + 1);
  if (mine && working && can.has('draft_reply')) {
    out.push(form('work-form-reply', [
      ...field('text', t('labels.reply'), h('textarea', { required: true, maxlength: 5000, value: reply ? reply.text : '' })),
      h('button', { type: 'submit' }, T.buttons.save_reply),
    ], (els) => act(task, 'reply', { text: els.text.value })));
  }
  if (mine && working && reply && can.has('review_reply')) {
    if (reply.stage === 'drafting') out.push(button(task, 'reply/editor-approve', T.buttons.editor_approve));
    if (reply.stage === 'section_review') out.push(button(task, 'reply/section-approve', T.buttons.section_approve));
    if (reply.stage === 'leader_review') out.push(button(task, 'reply/sign-off', T.buttons.sign_off));
    if (['section_review', 'leader_review', 'blocked'].includes(reply.stage)) {
      out.push(form('work-form-send-back', [
        ...field('note', t('labels.note'), h('textarea', { required: true, maxlength: 1000 })),
        h('button', { type: 'submit' }, T.buttons.send_back),
      ], (els) => act(task, 'reply/send-back', { note: els.note.value })));
    }
  }
  if (can.has('override_tone') && reply && reply.stage === 'blocked') {
    out.push(reasonForm(task, 'reply/override-tone', T.buttons.override_tone));
  }
  if (can.has('close') && s === 'replied') {
    out.push(button(task, 'close', T.buttons.close_resolved, { resolved: true }));
    out.push(button(task, 'close', T.buttons.close_unresolved, { resolved: false }));
  }
  if (can.has('reopen') && ['replied', 'closed_resolved', 'closed_unresolved'].includes(s) && task.reopen_count < 1) {
    out.push(reasonForm(task, 'reopen', T.buttons.reopen));
  }
  if (can.has('record_callback') && (task.replies || []).some((r) => r.stage === 'published')) {
    const asker = h('select', null);
    for (const a of task.askers_detail || []) {
      if (!a.evaluated_latest) asker.append(h('option', { value: String(a.id) }, `${a.name || '—'} ${a.contact} (${a.channel})`));
    }
    if (asker.options.length) {
      const resolved = h('select', null, Object.entries(T.resolutions).map(([v, n]) => h('option', { value: v }, n)));
      const satisfied = h('select', null, Object.entries(T.satisfactions).map(([v, n]) => h('option', { value: v }, n)));
      out.push(form('work-form-callback', [
        ...field('asker', t('labels.asker'), asker),
        ...field('resolved', t('labels.resolved'), resolved),
        ...field('satisfaction', t('labels.satisfied'), satisfied),
        ...field('comment', t('labels.comment'), h('textarea', { maxlength: 1000 })),
        h('button', { type: 'submit' }, T.buttons.callback),
      ], (els) => act(task, 'callback', {
        asker: Number(els.asker.value),
        resolved: els.resolved.value,
        satisfaction: els.satisfaction.value,
        comment: els.comment.value,
      })));
    }
  }
  return out;
}

async function render(task) {
  const deadlines = h('ul', { class: 'small' },
    task.accept_deadline ? h('li', null, `${t('labels.accept_by')}: ${formatDateTime(task.accept_deadline)}`) : null,
    h('li', null, `${t('labels.reply_by')}: `, task.reply_paused ? t('labels.paused') : (task.reply_deadline ? formatDateTime(task.reply_deadline) : '—')),
    h('li', null, `${t('labels.used')}: ${task.reply_used_days} / ${task.reply_budget_days ?? '—'}`),
    task.supervision_level ? h('li', { class: 'fu-overdue' }, `${t('labels.supervision')}: ${task.supervision_level}`) : null,
    task.reopen_requested ? h('li', { class: 'fu-overdue' }, t('labels.reopen_requested')) : null);
  const replies = (task.replies || []).map((r) => h('section', { 'data-testid': `work-reply-${r.round}` },
    h('h3', null, `${t('labels.reply')} ${r.round} · `, h('span', { class: 'badge' }, label('stages', r.stage))),
    h('p', null, r.text),
    r.tone_flags.length ? h('p', { class: 'fu-flags' }, `${t('labels.tone_flags')}: ${r.tone_flags.map((f) => f.term).join('、')}`) : null,
    h('ul', { class: 'small' },
      reviewLine(T.buttons.editor_approve, r.editor),
      reviewLine(T.buttons.section_approve, r.section_head),
      reviewLine(T.buttons.sign_off, r.leader))));
  const timeline = h('ol', { class: 'small' }, (task.events || []).map((e) => h('li', null,
    `${formatDateTime(e.at)} · ${e.label} · ${e.actor}`,
    e.department ? ` · ${e.department}` : '',
    e.note ? ` — ${e.note}` : '')));
  detail.replaceChildren(
    h('h2', null, `#${task.id} `, h('span', { class: `badge badge-state state-${task.state}` }, label('states', task.state))),
    h('p', null, task.text),
    h('p', { class: 'muted small' }, `${label('sectors', task.sector)} · ${t('labels.askers')}: ${task.askers}`,
      task.lead_department ? ` · ${t('labels.lead')}: ${task.lead_department.name}` : ''),
    deadlines,
    h('section', { 'data-testid': 'work-actions' }, await actionsFor(task)),
    ...replies,
    h('section', null, h('h3', null, t('labels.timeline')), timeline),
  );
}

if (list) {
  fillStates();
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    loadList();
  });
  loadList();
}
