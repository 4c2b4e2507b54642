// The public viewer page: session info, the question on air with its live answer, the ask
// form and the published questions with support buttons. A question asked again by others
// (merged repeats, on any channel) shows how many people asked it.

import {
  CONFIG, T, t, label, h, icon, setText, byTestId, timeElement, formatDateTime, toast, rafThrottle,
  charLength, storageGet, storageSet, setStatusBadge,
} from './common.js';
import { api, ApiError } from './api.js';
import { ViewerStream, CLOSE_UNKNOWN_SESSION } from './live.js';

const slug = CONFIG.slug;
const apiSession = `/sessions/${encodeURIComponent(slug)}`;

const state = {
  session: null,
  questions: new Map(),
  onAir: null,
  liveText: new Map(),
  haveSnapshot: false,
  filter: 'all',
  sort: 'hot',
  supported: new Set(storageGet(`hub:supported:${slug}`, [])),
  mine: new Set(storageGet(`hub:mine:${slug}`, [])),
  supporting: new Set(),
};

const FILTERS = {
  all: () => true,
  waiting: (q) => q.state === 'approved' || q.state === 'queued' || q.state === 'on_air',
  answered: (q) => q.state === 'answered',
  followup: (q) => q.state === 'deferred' || q.state === 'unanswered',
};

const els = {
  title: byTestId('session-title'),
  status: byTestId('session-status'),
  kind: byTestId('session-kind'),
  schedule: byTestId('session-schedule'),
  guests: byTestId('session-guests'),
  departments: byTestId('session-departments'),
  reconnecting: byTestId('reconnecting'),
  fatal: byTestId('fatal'),
  onAir: byTestId('on-air'),
  onAirQuestion: byTestId('on-air-question'),
  onAirMeta: byTestId('on-air-meta'),
  liveAnswer: byTestId('live-answer'),
  list: byTestId('question-list'),
  listEmpty: byTestId('question-list-empty'),
  count: byTestId('question-count'),
  form: byTestId('ask-form'),
  askText: byTestId('ask-text'),
  askCount: byTestId('ask-count'),
  askNickname: byTestId('ask-nickname'),
  askContact: byTestId('ask-contact'),
  askPrivate: byTestId('ask-private'),
  askSubmit: byTestId('ask-submit'),
  askResult: byTestId('ask-result'),
  askCode: byTestId('ask-code'),
  askClosed: byTestId('ask-closed'),
  sort: byTestId('sort'),
};

// --- Session header ----------------------------------------------------------------------

function renderSession() {
  const s = state.session;
  if (!s) return;
  setText(els.title, s.title);
  if (s.title) document.title = `${s.title} · ${document.title.split(' · ').pop()}`;
  setStatusBadge(els.status, s.status);
  setText(els.kind, label('kinds', s.kind));
  const times = els.schedule.querySelectorAll('time');
  const when = [s.scheduled_start, s.scheduled_end];
  times.forEach((el, i) => {
    // Rewrite a time only when it changed, keeping the server's formatting otherwise.
    if (when[i] && Date.parse(el.dateTime) !== Date.parse(when[i])) {
      el.dateTime = when[i];
      setText(el, formatDateTime(when[i]));
    }
  });
  if (Array.isArray(s.guests)) {
    const dd = els.guests.querySelector('dd');
    dd.replaceChildren(...s.guests.map((g) => h('span', { class: 'guest' },
      h('strong', null, g.name), g.title ? [' ', h('span', { class: 'muted' }, g.title)] : null)));
    els.guests.hidden = s.guests.length === 0;
  }
  if (Array.isArray(s.departments)) {
    const dd = els.departments.querySelector('dd');
    dd.replaceChildren(...s.departments.map((d) => h('span', { class: 'dept' }, d)));
    els.departments.hidden = s.departments.length === 0;
  }
  renderFormAvailability();
}

function accepting() {
  const status = state.session ? state.session.status : CONFIG.status;
  return status === 'collecting' || status === 'live';
}

function renderFormAvailability() {
  const status = state.session ? state.session.status : CONFIG.status;
  const open = accepting();
  els.form.querySelector('fieldset').disabled = !open;
  els.askClosed.hidden = open;
  if (!open) setText(els.askClosed, status === 'ended' ? t('ended_note') : t('announced_note'));
  document.body.dataset.sessionStatus = status || '';
}

// --- On air ------------------------------------------------------------------------------

function liveSummary(q) {
  if (!q) return '';
  if (state.liveText.has(q.id)) return state.liveText.get(q.id);
  return (q.answer && q.answer.summary) || '';
}

function renderOnAir() {
  const q = state.onAir !== null ? state.questions.get(state.onAir) : null;
  const empty = els.onAir.querySelector('[data-role="empty"]');
  const content = els.onAir.querySelector('[data-role="content"]');
  els.onAir.dataset.empty = q ? 'false' : 'true';
  els.onAir.dataset.questionId = q ? String(q.id) : '';
  empty.hidden = !!q;
  content.hidden = !q;
  if (!q) return;
  setText(els.onAirQuestion, q.text);
  const askers = askersOf(q);
  setText(els.onAirMeta, [
    q.asker || t('anonymous'), label('channels', q.channel), askers > 1 ? t('askers_n', { count: askers }) : null,
  ].filter(Boolean).join(' · '));
  const summary = liveSummary(q);
  setText(els.liveAnswer, summary || t('answer_pending'));
  els.liveAnswer.classList.toggle('placeholder', !summary);
}

// --- Question list -----------------------------------------------------------------------

/** How many people asked it: the asker and the repeats merged into it (at least 1). */
function askersOf(q) {
  const n = Number(q && q.askers);
  return Number.isFinite(n) && n > 1 ? Math.floor(n) : 1;
}

const items = new Map(); // id → {el, refs}

function createItem(id) {
  const refs = {};
  refs.state = h('span', { class: 'badge badge-state' });
  refs.mine = h('span', { class: 'badge badge-mine', hidden: true }, t('mine'));
  refs.askers = h('span', { class: 'badge badge-askers', 'data-testid': `askers-${id}`, hidden: true });
  refs.text = h('p', { class: 'q-text', 'data-testid': `question-text-${id}` });
  refs.asker = h('span', { class: 'q-asker' });
  refs.channel = h('span', { class: 'q-channel' });
  refs.time = h('span', { class: 'q-time' });
  refs.count = h('span', { class: 'support-count', 'data-testid': `supports-${id}` }, '0');
  refs.supportLabel = h('span', { class: 'support-label' }, t('support'));
  refs.support = h('button', {
    type: 'button', class: 'support-button', 'data-testid': `support-${id}`,
    'aria-pressed': 'false', title: t('support_title'), onclick: () => support(id),
  }, icon('thumb', 'icon thumb'), refs.supportLabel, refs.count);
  refs.answerText = h('p', { class: 'answer-text', 'data-testid': `answer-${id}` });
  refs.answerMeta = h('p', { class: 'answer-meta muted' });
  refs.answer = h('div', { class: 'answer', hidden: true },
    h('span', { class: 'answer-label' }, t('answer')), refs.answerText, refs.answerMeta);
  const el = h('li', { class: 'question', 'data-testid': `question-${id}`, 'data-id': String(id) },
    h('div', { class: 'q-head' }, refs.state, refs.askers, refs.mine),
    refs.text,
    h('div', { class: 'q-foot' },
      h('span', { class: 'q-meta muted' }, refs.asker, ' · ', refs.channel, ' · ', refs.time),
      refs.support),
    refs.answer);
  return { el, refs };
}

function updateItem(item, q) {
  const { el, refs } = item;
  el.dataset.state = q.state;
  el.classList.toggle('is-on-air', q.id === state.onAir);
  for (const cls of [...refs.state.classList]) if (cls.startsWith('state-')) refs.state.classList.remove(cls);
  refs.state.classList.add(`state-${q.state}`);
  setText(refs.state, (T.viewer_states && T.viewer_states[q.state]) || label('states', q.state));
  refs.mine.hidden = !state.mine.has(q.id);
  const askers = askersOf(q);
  refs.askers.hidden = askers <= 1;
  refs.askers.dataset.count = String(askers);
  if (askers > 1) setText(refs.askers, t('askers_n', { count: askers }));
  setText(refs.text, q.text);
  setText(refs.asker, q.asker || t('anonymous'));
  setText(refs.channel, label('channels', q.channel));
  const when = q.published_at || q.received_at;
  const time = timeElement(when);
  if (time && refs.time.firstChild?.getAttribute?.('datetime') !== time.getAttribute('datetime')) {
    refs.time.replaceChildren(time);
  }
  setText(refs.count, q.supports ?? 0);
  const supported = state.supported.has(q.id);
  refs.support.setAttribute('aria-pressed', supported ? 'true' : 'false');
  refs.support.classList.toggle('is-supported', supported);
  refs.support.disabled = supported || state.supporting.has(q.id);
  setText(refs.supportLabel, supported ? t('supported') : t('support'));
  refs.support.setAttribute('aria-label', `${supported ? t('supported') : t('support')} (${t('supports_n', { count: q.supports ?? 0 })})`);
  const summary = q.answer && q.answer.summary;
  const showAnswer = !!summary && (q.state === 'answered' || q.state === 'deferred' || q.state === 'unanswered');
  refs.answer.hidden = !showAnswer;
  if (showAnswer) {
    setText(refs.answerText, summary);
    const parts = [];
    if (q.answer.library_entry) parts.push(t('answered_from_library'));
    if (q.answer.answered_by) parts.push(q.answer.answered_by);
    if (q.answer.answered_at) parts.push(t('answered_at', { time: formatDateTime(q.answer.answered_at) }));
    setText(refs.answerMeta, parts.join(' · '));
  }
}

function sortedQuestions() {
  const filter = FILTERS[state.filter] || FILTERS.all;
  const list = [...state.questions.values()].filter(filter);
  const published = (q) => Date.parse(q.published_at || q.received_at) || 0;
  list.sort((a, b) => {
    const air = (b.id === state.onAir) - (a.id === state.onAir);
    if (air) return air;
    if (state.sort === 'hot') {
      const diff = (b.supports || 0) - (a.supports || 0);
      if (diff) return diff;
    }
    return published(b) - published(a) || b.id - a.id;
  });
  return list;
}

function renderList() {
  const list = sortedQuestions();
  const wanted = new Set(list.map((q) => q.id));
  for (const [id, item] of items) {
    if (!state.questions.has(id)) {
      item.el.remove();
      items.delete(id);
    } else if (!wanted.has(id)) {
      item.el.remove();
    }
  }
  let cursor = els.list.firstElementChild;
  for (const q of list) {
    let item = items.get(q.id);
    if (!item) {
      item = createItem(q.id);
      items.set(q.id, item);
    }
    updateItem(item, q);
    if (item.el === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      els.list.insertBefore(item.el, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
  const total = state.questions.size;
  setText(els.count, total ? `(${total})` : '');
  if (list.length) {
    els.listEmpty.hidden = true;
  } else {
    els.listEmpty.hidden = false;
    setText(els.listEmpty, state.haveSnapshot || total ? (total ? t('empty_filter') : t('empty_list')) : t('connecting'));
  }
}

const render = rafThrottle(() => {
  renderOnAir();
  renderList();
});

// --- Stream events -----------------------------------------------------------------------

function upsert(q) {
  if (q && typeof q.id === 'number') state.questions.set(q.id, q);
}

function clearOnAir(id) {
  if (state.onAir === id) state.onAir = null;
}

function applySnapshot(data) {
  state.haveSnapshot = true;
  if (data.session) {
    state.session = data.session;
    renderSession();
  }
  state.questions = new Map();
  for (const q of data.questions || []) upsert(q);
  state.onAir = typeof data.on_air === 'number' ? data.on_air : null;
  state.liveText.clear();
  render();
}

function applyEvent(frame) {
  const d = frame.data || {};
  switch (frame.type) {
    case 'session_state':
      state.session = d;
      renderSession();
      break;
    case 'question_published':
      upsert(d);
      break;
    case 'question_withdrawn':
      state.questions.delete(d.id);
      clearOnAir(d.id);
      break;
    case 'question_on_air':
      upsert(d);
      state.onAir = d.id;
      break;
    case 'question_off_air':
    case 'question_answered':
    case 'question_deferred':
      upsert(d);
      clearOnAir(d.id);
      state.liveText.delete(d.id);
      break;
    case 'answer_live':
      state.liveText.set(d.question_id, d.summary || '');
      break;
    case 'questions_unanswered':
      for (const id of d.ids || []) {
        const q = state.questions.get(id);
        if (q) state.questions.set(id, { ...q, state: 'unanswered' });
        clearOnAir(id);
      }
      break;
    case 'supports':
      for (const { id, supports, askers } of d.questions || []) {
        const q = state.questions.get(id);
        if (!q) continue;
        const next = { ...q };
        if (typeof supports === 'number') next.supports = supports;
        if (typeof askers === 'number') next.askers = askers;
        state.questions.set(id, next);
      }
      break;
    default:
      return;
  }
  render();
}

function showConnection(status) {
  const banner = els.reconnecting;
  if (status.state === 'reconnecting') {
    banner.hidden = false;
    const seconds = status.delay ? Math.max(1, Math.round(status.delay / 1000)) : null;
    setText(banner.querySelector('[data-role="text"]'),
      seconds && seconds > 1 ? t('reconnecting_in', { seconds }) : t('reconnecting'));
  } else if (status.state === 'open' || status.state === 'stopped') {
    banner.hidden = true;
  }
  document.body.dataset.connection = status.state;
  if (status.state === 'stopped' && status.code === CLOSE_UNKNOWN_SESSION) {
    els.fatal.hidden = false;
    setText(els.fatal, t('session_not_found'));
  }
}

const stream = new ViewerStream({
  slug,
  base: CONFIG.ws || '/ws',
  heartbeatSeconds: Number(CONFIG.heartbeat_seconds) || 15,
  onSnapshot: applySnapshot,
  onEvent: applyEvent,
  onStatus: showConnection,
});
stream.start();

// If the stream cannot deliver a snapshot quickly, show the questions from the HTTP API so
// the page is not empty; the stream's snapshot replaces them as soon as it arrives.
setTimeout(async () => {
  if (state.haveSnapshot) return;
  try {
    const [session, questions] = await Promise.all([
      api(apiSession), api(`${apiSession}/questions`),
    ]);
    if (state.haveSnapshot) return;
    if (session) {
      state.session = session;
      renderSession();
    }
    for (const q of (questions && questions.items) || []) upsert(q);
    const onAir = [...state.questions.values()].find((q) => q.state === 'on_air');
    state.onAir = onAir ? onAir.id : null;
    render();
  } catch {
    // The banner already says we are reconnecting.
  }
}, 4000);

// --- Support -----------------------------------------------------------------------------

async function support(id) {
  if (state.supported.has(id) || state.supporting.has(id)) return;
  state.supporting.add(id);
  render();
  try {
    const result = await api(`${apiSession}/questions/${id}/support`, { method: 'POST' });
    state.supported.add(id);
    storageSet(`hub:supported:${slug}`, [...state.supported].slice(-500));
    const q = state.questions.get(id);
    if (q && result && typeof result.supports === 'number') {
      state.questions.set(id, { ...q, supports: Math.max(result.supports, 0) });
    }
  } catch (err) {
    toast(err instanceof ApiError ? err.message : t('network_error'));
  } finally {
    state.supporting.delete(id);
    render();
  }
}

// --- Ask form ----------------------------------------------------------------------------

const minChars = Number(CONFIG.question_min_chars) || 1;
const maxChars = Number(CONFIG.question_max_chars) || 500;
let retryUntil = 0;
let retryTimer = null;
// One key per question being sent: a retry after a network failure is recognised by the
// server (Idempotency-Key) instead of asking twice. Editing the text starts a new key.
let idempotencyKey = null;

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function updateCounter() {
  const count = charLength(els.askText.value.trim());
  setText(els.askCount, t('chars', { count, max: maxChars }));
  els.askCount.classList.toggle('over', count > maxChars);
}

function showResult(message, kind) {
  els.askResult.hidden = !message;
  els.askResult.className = `form-result result-${kind}`;
  els.askResult.dataset.kind = kind;
  setText(els.askResult, message);
}

/** Show the asker's private follow-up code (returned once by the server, never stored by
 * the page: whoever reads it can rate the reply in the asker's name). */
function showPrivateCode(code) {
  if (!els.askCode) return;
  els.askCode.hidden = !code;
  setText(els.askCode.querySelector('[data-role="code"]'), code || '');
}

function markInvalid(field, invalid) {
  if (field) field.setAttribute('aria-invalid', invalid ? 'true' : 'false');
}

function holdSubmit(seconds) {
  retryUntil = Date.now() + seconds * 1000;
  els.askSubmit.disabled = true;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    els.askSubmit.disabled = false;
  }, seconds * 1000);
}

els.askText.addEventListener('input', () => {
  idempotencyKey = null;
  updateCounter();
  markInvalid(els.askText, false);
});
els.askContact.addEventListener('input', () => markInvalid(els.askContact, false));
els.askNickname.addEventListener('input', () => markInvalid(els.askNickname, false));
updateCounter();

els.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!accepting()) {
    showResult(t('not_accepting'), 'error');
    return;
  }
  if (Date.now() < retryUntil) return;
  const text = els.askText.value.trim();
  if (charLength(text) < minChars) {
    markInvalid(els.askText, true);
    showResult(t('too_short', { min: minChars }), 'error');
    els.askText.focus();
    return;
  }
  const body = { text, private: els.askPrivate.checked };
  const nickname = els.askNickname.value.trim();
  const contact = els.askContact.value.trim();
  if (nickname) body.nickname = nickname;
  if (contact) body.contact = contact;

  els.askSubmit.disabled = true;
  els.form.setAttribute('aria-busy', 'true');
  showResult(t('sending'), 'pending');
  try {
    idempotencyKey = idempotencyKey || newKey();
    const result = await api(`${apiSession}/questions`, {
      method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey },
    });
    idempotencyKey = null;
    showResult((result && result.message) || t('ask_thanks'), 'success');
    showPrivateCode(result && result.private_code);
    if (result && typeof result.id === 'number') {
      state.mine.add(result.id);
      storageSet(`hub:mine:${slug}`, [...state.mine].slice(-200));
      render();
    }
    els.askText.value = '';
    els.askPrivate.checked = false;
    updateCounter();
    els.askSubmit.disabled = false;
  } catch (err) {
    els.askSubmit.disabled = false;
    if (!(err instanceof ApiError)) {
      showResult(t('network_error'), 'error');
      return;
    }
    if (err.status === 429) {
      const seconds = err.retryAfter || 60;
      showResult(err.retryAfter ? t('rate_limited', { seconds }) : err.message, 'error');
      holdSubmit(seconds);
      return;
    }
    showResult(err.message, 'error');
    if (err.code === 'name_too_long') {
      markInvalid(els.askNickname, true);
      els.askNickname.focus();
    } else if (err.code === 'bad_contact') {
      markInvalid(els.askContact, true);
      els.askContact.focus();
    } else if (err.code === 'too_long' || err.code === 'too_short') {
      markInvalid(els.askText, true);
      els.askText.focus();
    } else if (err.code === 'not_accepting') {
      renderFormAvailability();
    }
  } finally {
    els.form.removeAttribute('aria-busy');
  }
});

// --- Filters and sort --------------------------------------------------------------------

for (const chip of document.querySelectorAll('.chips [data-filter]')) {
  chip.addEventListener('click', () => {
    state.filter = chip.dataset.filter;
    for (const other of document.querySelectorAll('.chips [data-filter]')) {
      other.setAttribute('aria-pressed', other === chip ? 'true' : 'false');
    }
    render();
  });
}
els.sort.addEventListener('change', () => {
  state.sort = els.sort.value;
  render();
});

renderFormAvailability();
render();
