// Real-time clients. No DOM here: pages pass callbacks.
//
//  * ReconnectingSocket: a WebSocket that reconnects with exponential backoff and jitter,
//    notices a silent connection (no frame for `staleAfterMs`) and stops on fatal close
//    codes (4404 unknown session, 4401 not signed in, 4403 forbidden). Refused because
//    its address holds too many connections (4503), it waits 15–60 s before each new
//    attempt instead of hammering the server.
//  * ViewerStream: the public stream /ws/sessions/{slug}/live. Remembers the highest seq,
//    drops frames it already has, resumes with ?since=<seq> after any drop.
//  * ConsoleClient: the staff stream /ws/sessions/{slug}/console. Keeps the hello,
//    session, counts and questions; sends commands and resolves them on their ack.
//
// Other scripts of a page (live video's, streaming/taps.js) see the frames of the page's
// stream through ViewerStream.addFrameListener / ConsoleClient.addFrameListener instead of
// opening a second WebSocket: the page keeps one connection per stream.

export const CLOSE_UNKNOWN_SESSION = 4404;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_TOO_SLOW_RESYNC = 4429;
export const CLOSE_TOO_MANY_CONNECTIONS = 4503;
// The first wait after a 4503 (ms): a place frees up when someone on the same network leaves.
const TOO_MANY_CONNECTIONS_DELAY = 15000;

/** ws:// or wss:// URL for a path on this host, matching the page's protocol. */
export function wsUrl(path) {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}${path}`;
}

export class ReconnectingSocket {
  /**
   * @param {object} o
   * @param {() => string} o.url          called before every attempt (to add ?since=)
   * @param {(frame: object) => void} o.onFrame
   * @param {(s: {state: string, attempt?: number, delay?: number, code?: number}) => void} [o.onStatus]
   *        state: connecting | open | reconnecting | stopped
   * @param {() => void} [o.onOpen]
   * @param {number|null} [o.staleAfterMs] reconnect when no frame arrived for this long
   * @param {number} [o.minDelay] first retry delay (ms)
   * @param {number} [o.maxDelay] longest retry delay (ms)
   * @param {number} [o.connectTimeoutMs] give up an attempt that does not open
   * @param {number[]} [o.fatalCodes] close codes after which we stop for good
   */
  constructor({
    url, onFrame, onStatus = () => {}, onOpen = () => {}, staleAfterMs = null,
    minDelay = 500, maxDelay = 30000, connectTimeoutMs = 15000,
    fatalCodes = [CLOSE_UNKNOWN_SESSION, CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED],
    WebSocketImpl = globalThis.WebSocket,
  }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onOpen = onOpen;
    this.staleAfterMs = staleAfterMs;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.connectTimeoutMs = connectTimeoutMs;
    this.fatalCodes = new Set(fatalCodes);
    this.WebSocketImpl = WebSocketImpl;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.watchTimer = null;
    this.connectTimer = null;
    this.lastFrameAt = 0;
    this.state = 'idle';
    this._onOnline = () => { if (this.retryTimer) this.reconnectNow('online'); };
    this._onVisible = () => {
      if (typeof document !== 'undefined' && document.visibilityState === 'visible') this._checkStale();
    };
  }

  get connected() {
    return !!this.ws && this.ws.readyState === 1;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    if (typeof window !== 'undefined' && window.addEventListener) {
      window.addEventListener('online', this._onOnline);
      document.addEventListener('visibilitychange', this._onVisible);
    }
    this._connect();
  }

  stop(code) {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this._detach(1000);
    if (typeof window !== 'undefined' && window.removeEventListener) {
      window.removeEventListener('online', this._onOnline);
      document.removeEventListener('visibilitychange', this._onVisible);
    }
    this._status({ state: 'stopped', code });
  }

  /** Send a JSON value. Returns false (and sends nothing) when not connected. */
  send(value) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(value));
    return true;
  }

  /** Drop the current connection (if any) and connect again at once. */
  reconnectNow(reason = 'manual') {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this._detach(4000, reason);
    this._connect();
  }

  _status(status) {
    this.state = status.state;
    try {
      this.onStatus(status);
    } catch (err) {
      console.error(err);
    }
  }

  _connect() {
    if (this.stopped) return;
    this._status({ state: this.attempt === 0 ? 'connecting' : 'reconnecting', attempt: this.attempt });
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url());
    } catch (err) {
      console.error(err);
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    this.lastFrameAt = Date.now();
    clearTimeout(this.connectTimer);
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && ws.readyState !== 1) this._drop('connect-timeout');
    }, this.connectTimeoutMs);

    ws.onopen = () => {
      if (this.ws !== ws) return;
      clearTimeout(this.connectTimer);
      this.lastFrameAt = Date.now();
      this._startWatch();
      this._status({ state: 'open', attempt: this.attempt });
      this.onOpen();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      // A frame proves the server accepted us: the next drop starts the backoff over.
      this.attempt = 0;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      try {
        this.onFrame(frame);
      } catch (err) {
        console.error(err);
      }
    };
    ws.onerror = () => {
      // A close event always follows; the retry is scheduled there.
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.connectTimer);
      this._stopWatch();
      if (this.stopped) return;
      if (this.fatalCodes.has(event.code)) {
        this.stop(event.code);
        return;
      }
      this._scheduleRetry(event.code);
    };
  }

  _detach(code = 1000, reason = '') {
    const ws = this.ws;
    this.ws = null;
    clearTimeout(this.connectTimer);
    this._stopWatch();
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code, reason.slice(0, 100));
    } catch {
      // Already closing.
    }
  }

  _drop(reason) {
    this._detach(4000, reason);
    if (!this.stopped) this._scheduleRetry();
  }

  _scheduleRetry(code) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    let delay;
    if (code === CLOSE_TOO_SLOW_RESYNC && this.attempt === 0) {
      // The server asked us to resync: come back at once (with ?since=).
      delay = 100 + Math.random() * 400;
    } else if (code === CLOSE_TOO_MANY_CONNECTIONS) {
      // Refused (no frame came, so `attempt` keeps growing): wait long, with jitter so a
      // whole office behind one address does not come back at the same moment.
      const base = Math.max(TOO_MANY_CONNECTIONS_DELAY, this.minDelay * 2 ** this.attempt);
      delay = Math.min(Math.max(this.maxDelay, 2 * TOO_MANY_CONNECTIONS_DELAY), base) * (1 + Math.random());
    } else {
      const base = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
      delay = base * (0.75 + Math.random() * 0.5);
    }
    this.attempt += 1;
    this._status({ state: 'reconnecting', attempt: this.attempt, delay, code });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this._connect();
    }, delay);
  }

  _startWatch() {
    this._stopWatch();
    if (!this.staleAfterMs) return;
    const every = Math.max(250, Math.min(5000, this.staleAfterMs / 3));
    this.watchTimer = setInterval(() => this._checkStale(), every);
  }

  _stopWatch() {
    clearInterval(this.watchTimer);
    this.watchTimer = null;
  }

  _checkStale() {
    if (!this.staleAfterMs || !this.ws || this.ws.readyState !== 1) return;
    if (Date.now() - this.lastFrameAt > this.staleAfterMs) this._drop('stale');
  }
}

// Frame listeners of every ViewerStream / ConsoleClient of the page (see addFrameListener).
const viewerFrameListeners = [];
const consoleFrameListeners = [];

function addFrameListener(listeners, listener) {
  if (typeof listener !== 'function') throw new TypeError('listener must be a function');
  listeners.push(listener);
  return () => {
    const i = listeners.indexOf(listener);
    if (i !== -1) listeners.splice(i, 1);
  };
}

function notifyFrameListeners(listeners, frame, owner) {
  // A copy: a listener may remove itself (or another) while being called.
  for (const listener of [...listeners]) {
    try {
      listener(frame, owner);
    } catch (err) {
      console.error(err);
    }
  }
}

/**
 * The viewer's event stream. Calls onSnapshot(data, frame) for every snapshot (replace
 * all state) and onEvent(frame) once per stored event, in seq order, never twice.
 */
export class ViewerStream {
  /**
   * Call `listener(frame, stream)` for every frame any ViewerStream of the page accepts:
   * each snapshot and each new stored event, never a heartbeat or a replayed duplicate.
   * Listeners run after the stream's own onSnapshot/onEvent, in the order they were added;
   * one that throws is logged and the stream and the other listeners carry on. Frames that
   * arrived before the listener was added are not replayed. Returns a function that
   * removes the listener.
   */
  static addFrameListener(listener) {
    return addFrameListener(viewerFrameListeners, listener);
  }

  constructor({
    slug, base = '/ws', heartbeatSeconds = 15, onSnapshot, onEvent,
    onStatus = () => {}, WebSocketImpl, urlFor = wsUrl,
  }) {
    this.slug = slug;
    this.lastSeq = null;
    this.gapSeq = null;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.path = `${base}/sessions/${encodeURIComponent(slug)}/live`;
    this.socket = new ReconnectingSocket({
      url: () => urlFor(this.lastSeq === null ? this.path : `${this.path}?since=${this.lastSeq}`),
      onFrame: (frame) => this.handle(frame),
      onStatus,
      staleAfterMs: Math.max(1000, heartbeatSeconds * 3 * 1000),
      WebSocketImpl,
    });
  }

  start() {
    this.socket.start();
  }

  stop() {
    this.socket.stop();
  }

  handle(frame) {
    const { type, seq } = frame;
    if (type === 'snapshot') {
      if (typeof seq === 'number') this.lastSeq = seq;
      this.gapSeq = null;
      this.onSnapshot(frame.data || {}, frame);
      notifyFrameListeners(viewerFrameListeners, frame, this);
      return;
    }
    if (type === 'heartbeat') {
      this._checkGap(seq);
      return;
    }
    if (typeof seq !== 'number') return;
    if (this.lastSeq !== null && seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.onEvent(frame);
    notifyFrameListeners(viewerFrameListeners, frame, this);
  }

  // A heartbeat carries the newest stored seq. If we are behind it on two heartbeats in a
  // row, an event was lost on the way: reconnect and replay from our last seq.
  _checkGap(seq) {
    if (typeof seq !== 'number' || this.lastSeq === null || seq <= this.lastSeq) {
      this.gapSeq = null;
      return;
    }
    if (this.gapSeq !== null && this.lastSeq < this.gapSeq) {
      this.gapSeq = null;
      this.socket.reconnectNow('gap');
      return;
    }
    this.gapSeq = seq;
  }
}

let commandCounter = 0;

/**
 * The staff console stream. State: hello ({user, roles, permissions}), session, counts and
 * questions (Map id → StaffQuestion). `listener(kind, payload)` is called after every change
 * with kind: hello | snapshot | question | questions (a batch: an array) | session | counts |
 * status | error.
 */
export class ConsoleClient {
  /**
   * Call `listener(frame, client)` for every frame any ConsoleClient of the page receives,
   * whatever its type (hello, snapshot, question, ack, and the types this client ignores,
   * such as stage and guest), after the client has updated its state and called its own
   * `listener`. Listeners run in the order they were added; one that throws is logged and
   * the client and the other listeners carry on. Returns a function that removes it.
   */
  static addFrameListener(listener) {
    return addFrameListener(consoleFrameListeners, listener);
  }

  constructor({ slug, base = '/ws', listener = () => {}, ackTimeoutMs = 15000, WebSocketImpl, urlFor = wsUrl, messages = {} }) {
    this.slug = slug;
    this.listener = listener;
    this.ackTimeoutMs = ackTimeoutMs;
    this.messages = messages;
    this.hello = null;
    this.session = null;
    this.counts = null;
    this.questions = new Map();
    this.pending = new Map();
    this.ready = false;
    const path = `${base}/sessions/${encodeURIComponent(slug)}/console`;
    this.socket = new ReconnectingSocket({
      url: () => urlFor(path),
      onFrame: (frame) => this.handle(frame),
      onStatus: (status) => {
        if (status.state !== 'open') {
          this.ready = false;
          this._failPending('connection_lost', this.messages.connection_lost || 'Connection lost');
        }
        this._emit('status', status);
      },
      WebSocketImpl,
    });
  }

  start() {
    this.socket.start();
  }

  stop() {
    this.socket.stop();
  }

  get connected() {
    return this.socket.connected;
  }

  can(action) {
    return !!this.hello && Array.isArray(this.hello.permissions) && this.hello.permissions.includes(action);
  }

  /** Send a command; resolves with the ack's result, rejects with {code, message}. */
  command(action, params = {}) {
    const id = `c${Date.now().toString(36)}${(commandCounter += 1).toString(36)}`;
    return new Promise((resolve, reject) => {
      const sent = this.socket.send({ ...params, action, id });
      if (!sent) {
        const error = { code: 'not_connected', message: this.messages.not_connected || 'Not connected', action };
        this._emit('error', error);
        reject(error);
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const error = { code: 'timeout', message: this.messages.ack_timeout || 'No reply', action };
        this._emit('error', error);
        reject(error);
      }, this.ackTimeoutMs);
      this.pending.set(id, { resolve, reject, timer, action });
    });
  }

  handle(frame) {
    const data = frame.data;
    switch (frame.type) {
      case 'hello':
        this.hello = data;
        this._emit('hello', data);
        break;
      case 'snapshot':
        this.session = data.session || this.session;
        this.counts = data.counts || this.counts;
        this.questions = new Map((data.questions || []).map((q) => [q.id, q]));
        this.ready = true;
        this._emit('snapshot', data);
        break;
      case 'question':
        if (data && typeof data.id === 'number') {
          this.questions.set(data.id, data);
          this._emit('question', data);
        }
        break;
      case 'questions_batch': {
        // A batch taken in at once (hundreds of questions): one event for all of them.
        const questions = (data && Array.isArray(data.questions) ? data.questions : [])
          .filter((q) => q && typeof q.id === 'number');
        for (const q of questions) this.questions.set(q.id, q);
        if (questions.length) this._emit('questions', questions);
        break;
      }
      case 'session_state':
        this.session = data;
        this._emit('session', data);
        break;
      case 'counts':
        this.counts = data;
        this._emit('counts', data);
        break;
      case 'ack': {
        const entry = data && this.pending.get(data.id);
        if (entry) {
          this.pending.delete(data.id);
          clearTimeout(entry.timer);
          entry.resolve(data.result || {});
        }
        break;
      }
      case 'error': {
        const error = { code: data?.code || 'error', message: data?.message || '', action: data?.action || null };
        const entry = data && data.id !== null && data.id !== undefined ? this.pending.get(data.id) : null;
        if (entry) {
          this.pending.delete(data.id);
          clearTimeout(entry.timer);
        }
        this._emit('error', error);
        if (entry) entry.reject(error);
        break;
      }
      default:
        break;
    }
    notifyFrameListeners(consoleFrameListeners, frame, this);
  }

  /** Questions in state `state`, sorted by queue position (then id). */
  ordered(state = 'queued') {
    return [...this.questions.values()]
      .filter((q) => q.state === state)
      .sort((a, b) => (a.queue_position ?? Infinity) - (b.queue_position ?? Infinity) || a.id - b.id);
  }

  onAir() {
    for (const q of this.questions.values()) if (q.state === 'on_air') return q;
    return null;
  }

  _failPending(code, message) {
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      this.pending.delete(id);
      const error = { code, message, action: entry.action };
      this._emit('error', error);
      entry.reject(error);
    }
  }

  _emit(kind, payload) {
    try {
      this.listener(kind, payload);
    } catch (err) {
      console.error(err);
    }
  }
}
