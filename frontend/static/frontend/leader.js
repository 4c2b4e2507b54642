// The leader (guest) screen: the question on air in large type, a box where the answer
// summary is typed live (sent at most every 500 ms while typing, and once more when typing
// stops), a "mark answered" button and the next queued questions.

import { t, label, h, setText, byTestId, rafThrottle } from './common.js';
import { startConsole } from './staff.js';

const SEND_EVERY_MS = 500;

const els = {
  current: byTestId('leader-current'),
  question: byTestId('leader-question'),
  meta: byTestId('leader-meta'),
  form: byTestId('answer-form'),
  summary: byTestId('leader-summary'),
  answered: byTestId('answered-btn'),
  sync: byTestId('sync-state'),
  noPermission: byTestId('no-permission'),
  next: byTestId('next-list'),
  nextEmpty: byTestId('next-empty'),
};

let currentId = null; // the on-air question the text box belongs to
let lastSent = ''; // the summary the server has for it (as far as we know)
let sendTimer = null;
let sending = false;
let finishing = false;

function setSync(key, kind = 'idle') {
  els.sync.dataset.state = kind;
  setText(els.sync, key ? t(key) : '');
}

async function flush() {
  sendTimer = null;
  if (currentId === null || finishing || !client.can('live_answer')) return;
  const value = els.summary.value;
  if (value === lastSent) return;
  if (!client.connected) {
    setSync('sync_offline', 'offline');
    return;
  }
  if (sending) {
    // One command at a time keeps the viewers' text in typing order.
    sendTimer = setTimeout(flush, SEND_EVERY_MS);
    return;
  }
  sending = true;
  setSync('sync_sending', 'sending');
  const question = currentId;
  try {
    await client.command('live_answer', { question, summary: value });
    if (question === currentId) {
      lastSent = value;
      setSync(els.summary.value === value ? 'sync_sent' : 'sync_sending', els.summary.value === value ? 'sent' : 'sending');
    }
  } catch (err) {
    setSync(err && err.code === 'connection_lost' ? 'sync_offline' : null, 'error');
  } finally {
    sending = false;
  }
}

function scheduleSend() {
  if (!sendTimer) sendTimer = setTimeout(flush, SEND_EVERY_MS);
}

els.summary.addEventListener('input', () => {
  if (els.summary.value !== lastSent) setSync('sync_sending', 'dirty');
  scheduleSend();
});

els.summary.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});

els.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (currentId === null || finishing || !client.can('answered')) return;
  clearTimeout(sendTimer);
  sendTimer = null;
  finishing = true;
  render();
  const question = currentId;
  const summary = els.summary.value.trim();
  try {
    await client.command('answered', { question, summary });
    lastSent = els.summary.value;
    setSync('marked_answered', 'sent');
  } catch {
    setSync(null, 'error');
  } finally {
    finishing = false;
    render();
  }
});

function renderCurrent() {
  const q = client.onAir();
  const canWrite = client.can('live_answer');
  els.noPermission.hidden = !client.hello || canWrite || client.can('answered');
  if (!q) {
    if (currentId !== null) {
      clearTimeout(sendTimer);
      sendTimer = null;
    }
    currentId = null;
    els.current.dataset.empty = 'true';
    els.current.dataset.questionId = '';
    setText(els.question, t('leader_waiting'));
    setText(els.meta, '');
    els.summary.disabled = true;
    els.answered.disabled = true;
    return;
  }
  if (q.id !== currentId) {
    clearTimeout(sendTimer);
    sendTimer = null;
    currentId = q.id;
    els.summary.value = (q.answer && q.answer.summary) || '';
    lastSent = els.summary.value;
    setSync(canWrite ? 'sync_idle' : null);
  }
  els.current.dataset.empty = 'false';
  els.current.dataset.questionId = String(q.id);
  setText(els.question, q.text);
  setText(els.meta, `#${q.id} · ${label('channels', q.channel)} · ${q.asker || t('anonymous')} · ${t('supports_n', { count: q.supports || 0 })}`);
  els.summary.disabled = !canWrite || finishing;
  els.answered.disabled = !client.can('answered') || finishing || !client.connected;
}

function renderNext() {
  const queued = client.ordered('queued').slice(0, 10);
  els.next.replaceChildren(...queued.map((q, i) => h('li', { class: 'next-item', 'data-testid': `next-${q.id}` },
    h('span', { class: 'order-pos', 'aria-hidden': 'true' }, String(i + 1)),
    h('div', { class: 'order-body' },
      h('p', { class: 'next-text' }, q.text),
      h('p', { class: 'order-meta muted' }, `#${q.id} · ${label('channels', q.channel)} · ${q.asker || t('anonymous')}`)))));
  els.nextEmpty.hidden = queued.length > 0;
}

const render = rafThrottle(() => {
  renderCurrent();
  renderNext();
});

const client = startConsole((kind, payload) => {
  if (kind === 'status' && payload.state !== 'open' && currentId !== null && els.summary.value !== lastSent) {
    setSync('sync_offline', 'offline');
  }
  if (kind === 'snapshot') {
    // Back after a drop: send what was typed meanwhile.
    render();
    requestAnimationFrame(() => {
      if (currentId !== null && els.summary.value !== lastSent) scheduleSend();
    });
    return;
  }
  render();
});

render();
