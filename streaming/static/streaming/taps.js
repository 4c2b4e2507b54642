// Frame taps: live video's scripts see the frames of the page's one viewer stream or console
// connection, without opening a second WebSocket (a second socket per viewer would double
// the fan-out's load). They wrap the `handle` method of the page's ViewerStream and
// ConsoleClient (both from frontend/live.js; ES modules are shared per URL, so this is the
// very class the page instantiates). Only frames the stream accepted are passed on: a
// replayed duplicate (seq already seen) is not.

import { ConsoleClient, ViewerStream } from '../frontend/live.js';

const viewerTaps = [];
const consoleTaps = [];

function call(list, frame, owner) {
  for (const tap of list) {
    try {
      tap(frame, owner);
    } catch (err) {
      console.error(err);
    }
  }
}

const viewerHandle = ViewerStream.prototype.handle;
ViewerStream.prototype.handle = function handle(frame) {
  const before = this.lastSeq;
  viewerHandle.call(this, frame);
  const fresh = frame && (frame.type === 'snapshot'
    || (typeof frame.seq === 'number' && frame.type !== 'heartbeat'
      && this.lastSeq === frame.seq && (before === null || frame.seq > before)));
  if (fresh) call(viewerTaps, frame, this);
};

const consoleHandle = ConsoleClient.prototype.handle;
ConsoleClient.prototype.handle = function handle(frame) {
  consoleHandle.call(this, frame);
  if (frame && typeof frame === 'object') call(consoleTaps, frame, this);
};

/** Call `tap(frame, stream)` for every snapshot and every new stored viewer event. */
export function tapViewerFrames(tap) {
  viewerTaps.push(tap);
}

/** Call `tap(frame, client)` for every console frame (hello, snapshot, stage, guest…). */
export function tapConsoleFrames(tap) {
  consoleTaps.push(tap);
}
