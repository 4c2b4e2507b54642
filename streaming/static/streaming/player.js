// Programme player: WebRTC through WHEP while the engine has room, HLS otherwise.
//
//   const player = new ProgramPlayer(video, { whep: '/whep/demo', hls: '/hls/demo/index.m3u8',
//                                            hlsScript: '/static/…/hls.light.min.js' });
//   player.onMode = (mode) => …;   // 'connecting' | 'webrtc' | 'hls' | 'stopped'
//   player.start();
//
// WHEP (draft-ietf-wish-whep): POST an SDP offer (recvonly audio + video, ICE gathered
// first: the engine does not trickle) to the endpoint; 201 carries the answer and a
// Location to DELETE when leaving. 503 means the WebRTC cap is reached, 429 that this
// address posted too many offers: we play HLS and never retry WebRTC on this page. Any other failure (no RTCPeerConnection, network,
// the engine restarting) also falls back to HLS after a few attempts.
//
// HLS: natively where `video.canPlayType('application/vnd.apple.mpegurl')` says so
// (Safari, iOS, Android), else through the vendored hls.js, loaded only then. A playlist
// that is not there yet (programme not started) is retried with backoff.
//
// The engine keeps the programme running when the studio publisher drops (a slate
// plays), so the player needs nothing then; a WebRTC connection that fails is renegotiated
// and HLS recovers from network and media errors by itself, without a page reload.

const ICE_GATHER_TIMEOUT_MS = 4000;
const WEBRTC_ATTEMPTS = 3;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let hlsScriptPromise = null;

/** Load hls.js once (a classic UMD script defining window.Hls). */
export function loadHlsJs(src) {
  if (globalThis.Hls) return Promise.resolve(globalThis.Hls);
  if (!hlsScriptPromise) {
    hlsScriptPromise = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.async = true;
      script.onload = () => (globalThis.Hls ? resolve(globalThis.Hls) : reject(new Error('hls.js did not load')));
      script.onerror = () => {
        hlsScriptPromise = null;
        reject(new Error('hls.js did not load'));
      };
      document.head.appendChild(script);
    });
  }
  return hlsScriptPromise;
}

export function nativeHls(video) {
  return !!video.canPlayType && video.canPlayType('application/vnd.apple.mpegurl') !== '';
}

/** Wait until ICE gathering completes (or a timeout: then send what we have). */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    }, ICE_GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', done);
  });
}

export class WhepError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Negotiate one WHEP/WHIP-style session: POST the offer of `pc`, apply the answer.
 * Returns the resource URL (absolute path) to DELETE later, or null.
 */
export async function negotiate(pc, url, { headers = {} } = {}) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp', ...headers },
    body: pc.localDescription.sdp,
    credentials: 'same-origin',
  });
  const text = await response.text();
  if (response.status !== 201 && response.status !== 200) {
    let message = text;
    try {
      const body = JSON.parse(text);
      message = body.message || text;
    } catch {
      // Plain text error.
    }
    throw new WhepError(response.status, message || `HTTP ${response.status}`);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: text });
  const location = response.headers.get('Location');
  return location ? new URL(location, window.location.href).pathname : null;
}

/** DELETE a WHEP/WHIP resource, also while the page unloads (keepalive). */
export function release(resource) {
  if (!resource) return;
  try {
    fetch(resource, { method: 'DELETE', keepalive: true, credentials: 'same-origin' }).catch(() => {});
  } catch {
    // Leaving anyway.
  }
}

export class ProgramPlayer {
  constructor(video, { whep, hls, hlsScript, preferHls = false }) {
    this.video = video;
    this.whep = whep;
    this.hls = hls;
    this.hlsScript = hlsScript;
    this.preferHls = preferHls;
    this.mode = 'stopped';
    this.onMode = () => {};
    this.pc = null;
    this.resource = null;
    this.hlsPlayer = null;
    this.stopped = true;
    this.capped = false;
    this.generation = 0;
    this._unload = () => release(this.resource);
  }

  _setMode(mode) {
    this.mode = mode;
    try {
      this.onMode(mode);
    } catch (err) {
      console.error(err);
    }
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('pagehide', this._unload);
    this._run(this.generation += 1);
  }

  stop() {
    this.stopped = true;
    this.generation += 1;
    window.removeEventListener('pagehide', this._unload);
    this._closeWebrtc();
    this._closeHls();
    this._setMode('stopped');
  }

  async _run(generation) {
    this._setMode('connecting');
    const webrtcPossible = typeof RTCPeerConnection === 'function' && !this.preferHls && !this.capped;
    if (webrtcPossible) {
      for (let attempt = 0; attempt < WEBRTC_ATTEMPTS; attempt += 1) {
        if (generation !== this.generation) return;
        try {
          await this._startWebrtc(generation);
          return;
        } catch (err) {
          this._closeWebrtc();
          // 503: the WebRTC cap is reached; 429: this address posted too many offers.
          // Either way retrying WebRTC would only add load: play HLS.
          if (err instanceof WhepError && (err.status === 503 || err.status === 429)) {
            this.capped = true;
            break;
          }
          if (err instanceof WhepError && err.status === 404) break;
          await sleep(500 * 2 ** attempt);
        }
      }
    }
    if (generation !== this.generation) return;
    await this._startHls(generation);
  }

  async _startWebrtc(generation) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (event) => {
      stream.addTrack(event.track);
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this._play();
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc || generation !== this.generation) return;
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this._restart();
    };
    this.resource = await negotiate(pc, this.whep);
    if (generation !== this.generation) {
      this._closeWebrtc();
      return;
    }
    this._setMode('webrtc');
  }

  _restart() {
    // The WebRTC path broke (engine restart, network change): start over, same page.
    const generation = (this.generation += 1);
    this._closeWebrtc();
    setTimeout(() => {
      if (!this.stopped && generation === this.generation) this._run(generation);
    }, 1000);
  }

  _closeWebrtc() {
    const pc = this.pc;
    this.pc = null;
    if (this.resource) release(this.resource);
    this.resource = null;
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch {
        // Closed already.
      }
    }
    if (this.video.srcObject) this.video.srcObject = null;
  }

  async _startHls(generation) {
    const video = this.video;
    if (nativeHls(video)) {
      video.src = this.hls;
      video.addEventListener('error', () => {
        if (generation !== this.generation) return;
        // Playlist not there yet or gone: try again later.
        setTimeout(() => {
          if (generation === this.generation) {
            video.src = this.hls;
            this._play();
          }
        }, 3000);
      });
      this._setMode('hls');
      this._play();
      return;
    }
    let Hls;
    try {
      Hls = await loadHlsJs(this.hlsScript);
    } catch (err) {
      console.error(err);
      this._setMode('unsupported');
      return;
    }
    if (generation !== this.generation) return;
    if (!Hls.isSupported()) {
      this._setMode('unsupported');
      return;
    }
    const hls = new Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 2, lowLatencyMode: false });
    this.hlsPlayer = hls;
    let delay = 1000;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      delay = 1000;
      this._play();
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || this.hlsPlayer !== hls) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      // Network: the playlist is not there yet, or the server restarts. Back off.
      setTimeout(() => {
        if (this.hlsPlayer !== hls) return;
        hls.loadSource(this.hls);
        hls.startLoad();
      }, delay);
      delay = Math.min(delay * 2, 15000);
    });
    hls.loadSource(this.hls);
    hls.attachMedia(video);
    this._setMode('hls');
  }

  _closeHls() {
    if (this.hlsPlayer) {
      this.hlsPlayer.destroy();
      this.hlsPlayer = null;
    }
  }

  _play() {
    const promise = this.video.play();
    if (promise && promise.catch) promise.catch(() => {});
  }
}
