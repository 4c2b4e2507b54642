// Replay page: play an ended session's recording (HLS VOD) with its chapters; a click on a
// chapter seeks to it. `?q=<question id>` opens at that question's answer.

import { h, setText } from '../frontend/common.js';
import { loadHlsJs, nativeHls } from './player.js';

function readJson(id) {
  try {
    return JSON.parse(document.getElementById(id)?.textContent || '{}') || {};
  } catch {
    return {};
  }
}

const CONFIG = readJson('stage-config');
const S = CONFIG.strings || {};
const s = (key) => (typeof S[key] === 'string' ? S[key] : key);

const root = document.querySelector('[data-testid="replay"]');
const notice = document.querySelector('[data-testid="replay-notice"]');
const video = document.querySelector('[data-testid="replay-video"]');
const list = document.querySelector('[data-testid="chapters"]');

let current = null; // the recording loaded in the video
let hls = null;

function formatOffset(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(total / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0');
  const ss = String(total % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function whenReady() {
  return new Promise((resolve) => {
    if (video.readyState >= 1) resolve();
    else video.addEventListener('loadedmetadata', () => resolve(), { once: true });
  });
}

async function load(recording) {
  if (current && current.id === recording.id) return;
  current = recording;
  if (hls) {
    hls.destroy();
    hls = null;
  }
  if (nativeHls(video)) {
    video.src = recording.url;
    return;
  }
  const Hls = await loadHlsJs(CONFIG.hls_script);
  if (!Hls.isSupported()) {
    notice.hidden = false;
    setText(notice, s('video_error'));
    return;
  }
  hls = new Hls({ startPosition: 0 });
  hls.loadSource(recording.url);
  hls.attachMedia(video);
}

async function seek(recordings, chapter) {
  const recording = recordings.find((r) => r.id === chapter.recording_id);
  if (!recording) return;
  await load(recording);
  await whenReady();
  video.currentTime = chapter.offset;
  video.play().catch(() => {});
  for (const li of list.children) li.classList.toggle('is-active', li.dataset.key === chapter.key);
}

async function main() {
  let body;
  try {
    const response = await fetch(`${CONFIG.api}/replay`, { credentials: 'same-origin' });
    body = response.ok ? await response.json() : null;
  } catch {
    body = null;
  }
  if (!body || !body.available) {
    root.hidden = true;
    notice.hidden = false;
    setText(notice, body && body.status !== 'ended' ? s('replay_wait') : s('replay_none'));
    return;
  }
  const { recordings, chapters } = body;
  chapters.forEach((c, i) => { c.key = String(i); });
  list.replaceChildren(...chapters.map((c) => h('li', {
    'data-key': c.key,
    'data-testid': c.kind === 'question' ? `chapter-q-${c.question_id}` : `chapter-${c.key}`,
    'data-offset': String(c.offset),
  }, h('button', { type: 'button', onclick: () => seek(recordings, c) },
    h('span', { class: 'chapter-time' }, formatOffset(c.offset)),
    h('span', {},
      h('span', { class: 'chapter-kind' }, c.kind === 'agenda' ? s('chapter_agenda') : s('chapter_question')),
      ' ',
      c.kind === 'agenda' && c.confidential ? s('confidential_item') : c.text)))));
  const wanted = Number(new URLSearchParams(window.location.search).get('q'));
  const chapter = chapters.find((c) => c.kind === 'question' && c.question_id === wanted);
  if (chapter) {
    await seek(recordings, chapter);
  } else if (recordings.length) {
    await load(recordings[0]);
  }
  document.body.dataset.replayReady = 'true';
}

main();
