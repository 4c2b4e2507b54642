// Frame taps: live video's scripts see the frames of the page's one viewer stream or console
// connection, without opening a second WebSocket (a second socket per viewer would double
// the fan-out's load). They are listeners of the page's ViewerStream and ConsoleClient
// (frontend/live.js's addFrameListener; ES modules are shared per URL, so this is the very
// class the page instantiates). Only frames the stream accepted are passed on: a replayed
// duplicate (seq already seen) is not. The stage scripts are included before the page's
// own script, so their taps are in place before the stream starts.

import { ConsoleClient, ViewerStream } from '../frontend/live.js';

/** Call `tap(frame, stream)` for every snapshot and every new stored viewer event. */
export function tapViewerFrames(tap) {
  return ViewerStream.addFrameListener(tap);
}

/** Call `tap(frame, client)` for every console frame (hello, snapshot, stage, guest…). */
export function tapConsoleFrames(tap) {
  return ConsoleClient.addFrameListener(tap);
}
