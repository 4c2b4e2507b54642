// Guest join page: microphone (and camera if chosen) → RTCPeerConnection → SDP offer POSTed
// to the engine's /guest/<token> (the one-time link is used up then). Then the page polls
// the guest's state (waiting room, on air, left) and plays what the engine sends back.

import { setText } from '../frontend/common.js';
import { negotiate, release } from './player.js';

function readJson(id) {
  try {
    return JSON.parse(document.getElementById(id)?.textContent || '{}') || {};
  } catch {
    return {};
  }
}

const PAGE = readJson('page-config');
const S = readJson('stage-config').strings || {};
function s(key, params) {
  const value = typeof S[key] === 'string' ? S[key] : key;
  if (!params) return value;
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

const form = document.querySelector('[data-testid="guest-form"]');
const joinButton = document.querySelector('[data-testid="guest-join"]');
const leaveButton = document.querySelector('[data-testid="guest-leave"]');
const withVideo = document.querySelector('[data-testid="guest-video"]');
const status = document.querySelector('[data-testid="guest-status"]');
const preview = document.querySelector('[data-testid="guest-preview"]');
const returnAudio = document.querySelector('[data-testid="guest-return"]');

let pc = null;
let resource = null;
let localStream = null;
let pollTimer = null;

function show(state, text) {
  status.dataset.state = state;
  setText(status, text);
}

function hangUp(state = 'left', text = s('guest_left')) {
  clearInterval(pollTimer);
  pollTimer = null;
  release(resource);
  resource = null;
  if (pc) pc.close();
  pc = null;
  if (localStream) for (const track of localStream.getTracks()) track.stop();
  localStream = null;
  preview.hidden = true;
  leaveButton.hidden = true;
  joinButton.hidden = false;
  joinButton.disabled = true; // the link is used up
  show(state, text);
}

async function poll() {
  try {
    const response = await fetch(PAGE.status_url, { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) return;
    const guest = await response.json();
    if (guest.state === 'on_air') show('on_air', s('guest_on_air_now'));
    else if (guest.state === 'waiting') show('waiting', s('guest_waiting'));
    else if (guest.state === 'left' && pc) hangUp('left', s('guest_dropped'));
  } catch {
    // Try again on the next tick.
  }
}

async function join(event) {
  event.preventDefault();
  joinButton.disabled = true;
  show('joining', s('guest_joining'));
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: withVideo.checked });
  } catch {
    joinButton.disabled = false;
    show('error', s('guest_need_media'));
    return;
  }
  if (withVideo.checked) {
    preview.srcObject = localStream;
    preview.hidden = false;
  }
  pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
  pc.ontrack = (e) => {
    returnAudio.srcObject = e.streams[0] || new MediaStream([e.track]);
    returnAudio.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (pc && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) {
      hangUp('error', s('guest_dropped'));
    }
  };
  try {
    resource = await negotiate(pc, PAGE.join_url);
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    hangUp('error', s('guest_failed', { message }));
    return;
  }
  withVideo.disabled = true;
  joinButton.hidden = true;
  leaveButton.hidden = false;
  show('waiting', s('guest_waiting'));
  pollTimer = setInterval(poll, 2000);
}

form.addEventListener('submit', join);
leaveButton.addEventListener('click', () => hangUp());
window.addEventListener('pagehide', () => release(resource));
