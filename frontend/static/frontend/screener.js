// The call screener page: type a radio / hotline / on-site caller's question and send it
// into the queue over the console stream; follow the state of the calls sent from here.

import { CONFIG, t, label, h, setText, byTestId, timeElement, rafThrottle } from './common.js';
import { startConsole } from './staff.js';
import { libraryHintBadge, libraryPanel } from './library.js';

const STORE_KEY = `hub:calls:${CONFIG.slug}`;

const els = {
  form: byTestId('call-form'),
  fields: byTestId('call-form').querySelector('[data-role="fields"]'),
  text: byTestId('call-text'),
  name: byTestId('call-name'),
  phone: byTestId('call-phone'),
  private: byTestId('call-private'),
  submit: byTestId('call-submit'),
  result: byTestId('call-result'),
  list: byTestId('call-list'),
  empty: byTestId('call-list-empty'),
  noPermission: byTestId('no-permission'),
};

function loadCalls() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || '[]');
    return Array.isArray(saved) ? saved.filter((c) => c && typeof c.id === 'number') : [];
  } catch {
    return [];
  }
}

// Newest first. Only calls the server accepted are kept across reloads of this tab, and
// never the caller's phone number.
let calls = loadCalls();
let localKey = 0;

function saveCalls() {
  try {
    const keep = calls.filter((c) => typeof c.id === 'number')
      .slice(0, 100)
      .map(({ id, channel, text, at }) => ({ id, channel, text, at }));
    sessionStorage.setItem(STORE_KEY, JSON.stringify(keep));
  } catch {
    // Storage unavailable: the list lasts as long as the page.
  }
}

/** The question id in a submit_call ack, whatever shape the result has. */
function ackQuestionId(result) {
  if (!result || typeof result !== 'object') return null;
  for (const key of ['question', 'id', 'question_id']) {
    const value = result[key];
    if (typeof value === 'number') return value;
    if (value && typeof value === 'object' && typeof value.id === 'number') return value.id;
  }
  return null;
}

function showResult(message, kind) {
  els.result.hidden = !message;
  els.result.className = `form-result result-${kind}`;
  els.result.dataset.kind = kind;
  setText(els.result, message);
}

function renderCalls() {
  els.list.replaceChildren(...calls.map((call) => {
    const q = typeof call.id === 'number' ? client.questions.get(call.id) : null;
    const state = q ? q.state : call.state;
    let stateText;
    if (state === 'sending') stateText = t('call_waiting');
    else if (state === 'failed') stateText = t('call_failed');
    else stateText = label('states', state || 'received');
    const key = typeof call.id === 'number' ? String(call.id) : `pending-${call.key}`;
    return h('li', { class: `call-item state-${state || 'received'}`, 'data-testid': `call-${key}`, 'data-state': state || '' },
      h('div', { class: 'q-item-head' },
        typeof call.id === 'number' ? h('span', { class: 'q-id' }, `#${call.id}`) : null,
        h('span', { class: `badge badge-channel channel-${call.channel}` }, label('channels', call.channel)),
        h('span', { class: `badge badge-state state-${state}`, 'data-testid': `call-state-${key}` }, stateText),
        q && q.visibility === 'private' ? h('span', { class: 'badge badge-private' }, t('private')) : null,
        q ? libraryHintBadge(q) : null,
        h('span', { class: 'q-item-time muted' }, timeElement(call.at))),
      h('p', { class: 'q-item-text' }, q ? q.text : call.text),
      call.error ? h('p', { class: 'form-result result-error' }, call.error) : null,
      q && q.state === 'rejected' && q.rejection_reason
        ? h('p', { class: 'q-item-reason' }, `${t('reason')}: ${label('reasons', q.rejection_reason)}`) : null,
      q && q.answer && q.answer.summary
        ? h('div', { class: 'answer' }, h('span', { class: 'answer-label' }, t('answer')), h('p', { class: 'answer-text' }, q.answer.summary)) : null);
  }));
  els.empty.hidden = calls.length > 0;
}

function renderPermission() {
  const allowed = !client.hello || client.can('submit_call');
  els.noPermission.hidden = allowed;
  els.fields.disabled = !allowed;
}

let library = null; // the answer library panel, mounted once the client exists

/** The question of the newest call the server accepted: the one the library answers. */
function latestCallQuestion() {
  const call = calls.find((c) => typeof c.id === 'number');
  return call ? client.questions.get(call.id) || null : null;
}

const render = rafThrottle(() => {
  renderPermission();
  renderCalls();
  library?.update(latestCallQuestion());
});

els.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});
els.text.addEventListener('input', () => {
  els.text.setAttribute('aria-invalid', 'false');
  library?.suggestFor(els.text.value);
});

els.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = els.text.value.trim();
  if (!text) {
    els.text.setAttribute('aria-invalid', 'true');
    showResult(t('call_text_required'), 'error');
    els.text.focus();
    return;
  }
  const channel = els.form.elements.channel.value || 'hotline';
  const call = { key: (localKey += 1), id: null, channel, text, at: new Date().toISOString(), state: 'sending' };
  calls.unshift(call);
  render();
  els.submit.disabled = true;
  showResult(t('sending'), 'pending');
  try {
    const result = await client.command('submit_call', {
      channel,
      text,
      name: els.name.value.trim(),
      phone: els.phone.value.trim(),
      private: els.private.checked,
    });
    call.id = ackQuestionId(result);
    call.state = (result && typeof result.state === 'string') ? result.state : 'received';
    showResult(call.id !== null ? t('call_sent', { id: call.id }) : t('call_sent_noid'), 'success');
    els.text.value = '';
    els.name.value = '';
    els.phone.value = '';
    els.private.checked = false;
    els.text.focus();
    saveCalls();
  } catch (err) {
    call.state = 'failed';
    call.error = err.message;
    showResult(err.message, 'error');
  } finally {
    els.submit.disabled = false;
    render();
  }
});

const client = startConsole((kind, payload) => {
  if (kind === 'question' && !calls.some((c) => c.id === payload.id)) return;
  render();
});

library = libraryPanel(document.querySelector('[data-testid="library-panel"]'), client);
render();
