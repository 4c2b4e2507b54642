// Live video on the host console: studio signal and publisher token, agenda (move to an
// item, edit), call-ins (one-time links, waiting room, listen first, on/off air).
//
// The stage arrives whole in `stage` console frames after every change and per guest in
// `guest` frames (tapped from the page's console connection); on every (re)connection
// the page asks the API for the whole stage. Commands go through /api/streaming/…, which
// refuse with a coded, translated message what the role may not do.

import { api, csrfToken } from '../frontend/api.js';
import { h, setText, toast, formatDateTime } from '../frontend/common.js';
import { negotiate, release } from './player.js';
import { tapConsoleFrames } from './taps.js';

function readJson(id) {
  try {
    return JSON.parse(document.getElementById(id)?.textContent || '{}') || {};
  } catch {
    return {};
  }
}

const CONFIG = readJson('stage-config');
const S = CONFIG.strings || {};
function s(key, params) {
  const value = typeof S[key] === 'string' ? S[key] : key;
  if (!params) return value;
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

const root = document.querySelector('[data-testid="stage-console"]');
const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
const els = {
  publisher: $('publisher-state'),
  hint: $('token-hint'),
  rotate: $('rotate-token'),
  handover: $('handover'),
  newToken: $('new-token'),
  handoverState: $('handover-state'),
  current: $('console-agenda-current'),
  agenda: $('console-agenda'),
  clearItem: $('clear-item'),
  editor: $('agenda-editor'),
  rows: root.querySelector('[data-testid="agenda-editor"] [data-role="rows"]'),
  add: $('agenda-add'),
  save: $('agenda-save'),
  inviteForm: $('invite-form'),
  inviteResult: $('invite-result'),
  inviteLink: $('invite-link'),
  inviteCopy: $('invite-copy'),
  guests: $('guest-list'),
  guestsEmpty: $('guest-list-empty'),
  listenAudio: $('listen-audio'),
};

const state = {
  stage: null,
  permissions: new Set(),
  busy: false,
  listening: null, // {guestId, pc, resource}
};

const can = (action) => state.permissions.has(action);
const base = CONFIG.api.replace(/^\/api/, '');

async function command(path, { method = 'POST', body } = {}) {
  try {
    return await api(`${base}${path}`, { method, body });
  } catch (err) {
    toast(err && err.message ? err.message : String(err), 'error');
    throw err;
  }
}

async function refresh() {
  try {
    state.stage = await api(`${base}/console`);
    render();
  } catch {
    // The next stage frame or reconnection brings it.
  }
}

// --- publisher ------------------------------------------------------------------------

function renderPublisher(stage) {
  const p = stage.publisher;
  els.publisher.dataset.connected = String(p.connected);
  setText(els.publisher, p.connected ? s('publisher_connected') : s('publisher_absent'));
  setText(els.hint, p.token_set
    ? s('token_hint', { hint: p.token_hint, time: formatDateTime(p.token_set_at) })
    : s('token_none'));
  els.rotate.hidden = !can('rotate_stream_token');
  els.handover.hidden = !can('handover_publisher');
  const open = p.handover_until && Date.parse(p.handover_until) > Date.now();
  els.handoverState.hidden = !open;
  if (open) setText(els.handoverState, s('handover_open', { time: formatDateTime(p.handover_until) }));
}

els.rotate.addEventListener('click', async () => {
  if (!window.confirm(s('confirm_rotate'))) return;
  const result = await command('/publisher/token');
  els.newToken.hidden = false;
  setText(els.newToken, s('new_token', { token: result.token }));
});

els.handover.addEventListener('click', async () => {
  await command('/publisher/handover');
});

// --- agenda ---------------------------------------------------------------------------

function renderAgenda(stage) {
  const canMove = can('set_agenda_item');
  els.agenda.replaceChildren(...stage.agenda.map((item) => h('li', {
    class: item.id === stage.current_item ? 'is-current' : '',
    'data-testid': `console-agenda-item-${item.position}`,
  },
  item.title,
  item.confidential ? h('span', { class: 'tag-confidential' }, `[${s('confidential')}]`) : null,
  ' ',
  canMove && item.id !== stage.current_item
    ? h('button', {
      type: 'button', class: 'button button-small', 'data-testid': `goto-item-${item.position}`,
      onclick: () => command('/agenda/current', { body: { item: item.id } }),
    }, s('go_to_item'))
    : null)));
  const current = stage.agenda.find((i) => i.id === stage.current_item);
  setText(els.current, current ? s('current_item', { title: current.title }) : (stage.agenda.length ? s('between_items') : s('agenda_empty')));
  els.clearItem.hidden = !canMove || stage.current_item === null;
  els.editor.hidden = !can('edit_agenda');
  if (!els.editor.open) fillEditor(stage.agenda);
}

function editorRow(item = { id: null, title: '', confidential: false }) {
  const row = h('div', { class: 'agenda-edit-row', 'data-id': item.id === null ? '' : String(item.id) },
    h('input', { type: 'text', maxlength: '200', value: item.title, 'aria-label': s('item_title'), 'data-testid': 'agenda-edit-title' }),
    h('label', { class: 'check' },
      h('input', { type: 'checkbox', checked: item.confidential, 'data-testid': 'agenda-edit-confidential' }),
      s('confidential')),
    h('button', { type: 'button', class: 'button button-small', onclick: () => row.remove() }, s('remove_item')));
  return row;
}

function fillEditor(agenda) {
  els.rows.replaceChildren(...agenda.map((item) => editorRow(item)));
}

els.add.addEventListener('click', () => els.rows.appendChild(editorRow()));
els.save.addEventListener('click', async () => {
  const items = [...els.rows.children].map((row) => ({
    id: row.dataset.id ? Number(row.dataset.id) : null,
    title: row.querySelector('input[type="text"]').value.trim(),
    confidential: row.querySelector('input[type="checkbox"]').checked,
  })).filter((i) => i.title);
  state.stage = await command('/agenda', { method: 'PUT', body: { items } });
  els.editor.open = false;
  toast(s('agenda_saved'), 'success');
  render();
});
els.clearItem.addEventListener('click', () => command('/agenda/current', { body: { item: null } }));

// --- guests ---------------------------------------------------------------------------

els.inviteForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const label = els.inviteForm.elements.label.value.trim();
  if (!label) return;
  const result = await command('/guests', { body: { label, kind: els.inviteForm.elements.kind.value } });
  els.inviteResult.hidden = false;
  els.inviteLink.dataset.url = result.url;
  setText(els.inviteLink, s('invite_sent', { label, url: result.url }));
  els.inviteForm.reset();
  upsertGuest(result.guest);
});

els.inviteCopy.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(els.inviteLink.dataset.url || '');
    toast(s('copied'), 'success');
  } catch {
    // Select it for a manual copy.
    window.getSelection()?.selectAllChildren(els.inviteLink);
  }
});

function upsertGuest(guest) {
  if (!state.stage) return;
  const guests = state.stage.guests.filter((g) => g.id !== guest.id);
  if (guest.state !== 'revoked') guests.push(guest);
  guests.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
  state.stage = { ...state.stage, guests };
  if (state.listening && state.listening.guestId === guest.id && !['waiting', 'on_air'].includes(guest.state)) stopListening();
  render();
}

async function listen(guest) {
  stopListening();
  const pc = new RTCPeerConnection();
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.ontrack = (event) => {
    els.listenAudio.srcObject = event.streams[0] || new MediaStream([event.track]);
    els.listenAudio.play().catch(() => {});
  };
  state.listening = { guestId: guest.id, pc, resource: null };
  render();
  try {
    const resource = await negotiate(pc, `/whep/${encodeURIComponent(CONFIG.slug)}/guest/${guest.id}`, {
      headers: { 'X-CSRFToken': csrfToken() },
    });
    if (state.listening && state.listening.pc === pc) state.listening.resource = resource;
    else release(resource);
  } catch (err) {
    toast(err && err.message ? err.message : String(err), 'error');
    if (state.listening && state.listening.pc === pc) stopListening();
  }
}

function stopListening() {
  const listening = state.listening;
  state.listening = null;
  if (!listening) return;
  release(listening.resource);
  listening.pc.close();
  els.listenAudio.srcObject = null;
  render();
}

function guestRow(guest) {
  const label = (S.guest_states && S.guest_states[guest.state]) || guest.state;
  const kind = (S.guest_kinds && S.guest_kinds[guest.kind]) || guest.kind;
  const connected = guest.state === 'waiting' || guest.state === 'on_air';
  const listening = state.listening && state.listening.guestId === guest.id;
  const button = (text, testid, onclick, cls = 'button button-small') => h('button', {
    type: 'button', class: cls, 'data-testid': `${testid}-${guest.id}`, onclick,
  }, text);
  return h('li', { class: 'guest-row', 'data-testid': `guest-${guest.id}`, 'data-state': guest.state },
    h('strong', {}, guest.label), ' ', h('span', { class: 'muted' }, `${kind} · `),
    h('span', { 'data-testid': `guest-state-${guest.id}` }, label),
    h('div', { class: 'stage-row' },
      connected && can('listen_guest')
        ? button(listening ? s('stop_listening') : s('listen'), 'guest-listen', () => (listening ? stopListening() : listen(guest)))
        : null,
      guest.state === 'waiting' && can('guest_on_air')
        ? button(s('put_on_air'), 'guest-on-air', () => command(`/guests/${guest.id}/on_air`).then(upsertGuest), 'button button-small button-live')
        : null,
      guest.state === 'on_air' && can('guest_off_air')
        ? button(s('take_off_air'), 'guest-off-air', () => command(`/guests/${guest.id}/off_air`).then(upsertGuest))
        : null,
      guest.state === 'invited' && can('revoke_guest')
        ? button(s('revoke'), 'guest-revoke', () => command(`/guests/${guest.id}/revoke`).then(upsertGuest))
        : null));
}

function renderGuests(stage) {
  els.inviteForm.hidden = !can('invite_guest');
  const shown = stage.guests.filter((g) => g.state !== 'left' || Date.now() - Date.parse(g.left_at) < 10 * 60 * 1000);
  els.guests.replaceChildren(...shown.map(guestRow));
  els.guestsEmpty.hidden = shown.length > 0;
}

function render() {
  if (!state.stage) return;
  renderPublisher(state.stage);
  renderAgenda(state.stage);
  renderGuests(state.stage);
}

tapConsoleFrames((frame) => {
  switch (frame.type) {
    case 'hello':
      state.permissions = new Set((frame.data && frame.data.permissions) || []);
      render();
      break;
    case 'snapshot':
      refresh();
      break;
    case 'stage':
      state.stage = frame.data;
      render();
      break;
    case 'guest':
      upsertGuest(frame.data);
      break;
    default:
      break;
  }
});

refresh();
window.addEventListener('pagehide', () => stopListening());
