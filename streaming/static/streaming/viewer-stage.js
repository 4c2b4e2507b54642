// Live video on the viewer page: the programme player, the signal state (信号中断), the
// agenda with its current item (confidential titles hidden), who is on the line, and links
// from answered questions to their moment in the replay.
//
// State comes from the page's viewer stream (snapshot.stage, then agenda, agenda_item,
// guest_on_air, stream_state and session_state events), tapped in taps.js.

import { h, setText } from '../frontend/common.js';
import { ProgramPlayer } from './player.js';
import { tapViewerFrames } from './taps.js';

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

const root = document.querySelector('[data-testid="stage"]');
const els = {
  player: root.querySelector('[data-testid="player"]'),
  video: root.querySelector('[data-testid="program-video"]'),
  overlay: root.querySelector('[data-testid="player-overlay"]'),
  banner: root.querySelector('[data-testid="guest-banner"]'),
  unmute: root.querySelector('[data-testid="unmute"]'),
  mode: root.querySelector('[data-testid="player-mode"]'),
  agenda: root.querySelector('[data-testid="agenda"]'),
  current: root.querySelector('[data-testid="agenda-current"]'),
  list: root.querySelector('[data-testid="agenda-list"]'),
  replay: root.querySelector('[data-testid="replay-banner"]'),
};

const state = {
  status: CONFIG.status,
  live: null, // unknown until the snapshot
  agenda: [],
  current: null,
  guests: new Map(), // id → label, on air now
  seen: false,
  replay: null, // {chapters: Map question id → chapter}
};

// --- player --------------------------------------------------------------------------

const player = new ProgramPlayer(els.video, {
  whep: CONFIG.whep,
  hls: CONFIG.hls,
  hlsScript: CONFIG.hls_script,
  preferHls: new URLSearchParams(window.location.search).get('player') === 'hls',
});
player.onMode = (mode) => {
  els.player.dataset.mode = mode;
  setText(els.mode, mode === 'webrtc' ? s('mode_webrtc') : mode === 'hls' ? s('mode_hls') : '');
  if (mode === 'unsupported') showOverlay(s('video_error'));
  else renderOverlay();
};

function syncPlayer() {
  if (state.status === 'live') {
    if (player.stopped) player.start();
  } else if (!player.stopped) {
    player.stop();
  }
  els.player.hidden = state.status === 'ended';
}

els.unmute.addEventListener('click', () => {
  els.video.muted = false;
  els.video.play().catch(() => {});
  els.unmute.hidden = true;
});
els.video.addEventListener('volumechange', () => {
  els.unmute.hidden = !els.video.muted;
});

// --- overlay, banner, agenda ----------------------------------------------------------

function showOverlay(text) {
  els.overlay.hidden = !text;
  setText(els.overlay, text || '');
}

function renderOverlay() {
  const confidential = !!(state.current && state.current.confidential);
  els.player.dataset.live = state.live === null ? 'unknown' : String(state.live);
  els.player.dataset.confidential = String(confidential);
  if (state.status !== 'live') {
    showOverlay(state.status === 'ended' ? '' : s('no_signal'));
  } else if (confidential) {
    showOverlay(s('confidential_blank'));
  } else if (state.live === false) {
    showOverlay(s('signal_lost'));
  } else if (player.mode === 'connecting') {
    showOverlay(s('connecting_video'));
  } else {
    showOverlay('');
  }
}

function renderBanner() {
  const labels = [...state.guests.values()];
  els.banner.hidden = labels.length === 0;
  setText(els.banner, labels.map((label) => s('guest_on_air', { label })).join(' · '));
}

function itemTitle(item) {
  return item.confidential ? s('confidential_item') : item.title;
}

function renderAgenda() {
  els.agenda.hidden = state.agenda.length === 0;
  const currentId = state.current ? state.current.id : null;
  els.list.replaceChildren(...state.agenda.map((item) => h('li', {
    class: `agenda-item${item.confidential ? ' is-confidential' : ''}${item.id === currentId ? ' is-current' : ''}`,
    'data-testid': `agenda-item-${item.position}`,
    'data-confidential': String(item.confidential),
    'aria-current': item.id === currentId ? 'step' : null,
  }, itemTitle(item))));
  els.current.dataset.confidential = String(!!(state.current && state.current.confidential));
  setText(els.current, state.current ? s('current_item', { title: itemTitle(state.current) }) : s('between_items'));
}

function render() {
  renderOverlay();
  renderBanner();
  renderAgenda();
  syncPlayer();
  if (state.status === 'ended' && replayAttempts === 0) loadReplay();
}

function applyStage(stage) {
  if (!stage) return;
  state.live = !!stage.live;
  state.agenda = stage.agenda || [];
  state.current = stage.current_item || null;
  state.guests = new Map((stage.guests_on_air || []).map((g) => [g.id, g.label]));
}

tapViewerFrames((frame) => {
  const d = frame.data || {};
  state.seen = true;
  switch (frame.type) {
    case 'snapshot':
      if (d.session) state.status = d.session.status;
      applyStage(d.stage);
      break;
    case 'session_state':
      state.status = d.status;
      break;
    case 'stream_state':
      state.live = !!d.live;
      break;
    case 'agenda':
      state.agenda = d.items || [];
      if (state.current) state.current = state.agenda.find((i) => i.id === state.current.id) || state.current;
      break;
    case 'agenda_item':
      state.current = d.item || null;
      break;
    case 'guest_on_air':
      if (d.guest) {
        if (d.on_air) state.guests.set(d.guest.id, d.guest.label);
        else state.guests.delete(d.guest.id);
      }
      break;
    default:
      return;
  }
  render();
});

// Before the stream's snapshot (or if it is slow), show the stage from the HTTP API.
fetch(`${CONFIG.api}/stage`, { credentials: 'same-origin' })
  .then((r) => (r.ok ? r.json() : null))
  .then((stage) => {
    if (stage && !state.seen) {
      applyStage(stage);
      render();
    }
  })
  .catch(() => {});

// --- replay links on answered questions ----------------------------------------------

let replayLoading = false;
let replayAttempts = 0;
const REPLAY_RETRY_MS = 5000;
const REPLAY_MAX_ATTEMPTS = 60; // the engine finishes the recording shortly after the end

async function loadReplay() {
  if (state.replay || replayLoading) return;
  replayLoading = true;
  replayAttempts += 1;
  let available = false;
  try {
    const response = await fetch(`${CONFIG.api}/replay`, { credentials: 'same-origin', cache: 'no-store' });
    const body = response.ok ? await response.json() : null;
    if (body && body.available) {
      available = true;
      state.replay = new Map(
        (body.chapters || []).filter((c) => c.kind === 'question').map((c) => [c.question_id, c]),
      );
      els.replay.hidden = false;
      decorateQuestions();
    }
  } catch {
    // No replay links yet; the questions still show.
  } finally {
    replayLoading = false;
  }
  if (!available && replayAttempts < REPLAY_MAX_ATTEMPTS) setTimeout(loadReplay, REPLAY_RETRY_MS);
}

function formatOffset(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(total / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0');
  const ss = String(total % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function decorateQuestions() {
  if (!state.replay) return;
  for (const li of document.querySelectorAll('[data-testid="question-list"] li[data-id]')) {
    const id = Number(li.dataset.id);
    const chapter = state.replay.get(id);
    let link = li.querySelector(':scope > .replay-link');
    if (!chapter) {
      if (link) link.remove();
      continue;
    }
    if (!link) {
      link = h('a', {
        class: 'replay-link',
        'data-testid': `replay-link-${id}`,
        href: `${CONFIG.replay}?q=${id}`,
        title: s('replay_at', { time: formatOffset(chapter.offset) }),
      }, s('replay_link'), ` (${formatOffset(chapter.offset)})`);
      li.appendChild(link);
    }
  }
}

const list = document.querySelector('[data-testid="question-list"]');
if (list) new MutationObserver(() => decorateQuestions()).observe(list, { childList: true });

render();
