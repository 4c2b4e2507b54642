"""The media engine of one server process: studio ingest, program, viewers, guests.

Public surface (the control plane and the pages use only these names):

- :func:`get_engine` returns this process's :class:`MediaEngine`.
- :meth:`MediaEngine.status` (thread-safe, callable from sync views and actions) returns
  what this process holds for a session slug::

      {"slug": "demo",
       "program": bool,                 # a programme runs here (not stopping)
       "publisher_connected": bool,     # a studio publisher is connected (WHIP)
       "showing": "studio" | "waiting" | "confidential" | "audio_only" | None,
       "confidential": bool, "on_air_guest_ids": [int, ...], "guests": int,
       "webrtc_viewers": int,           # WHEP viewers of this session here
       "webrtc_viewers_process": int,   # ... of every session in this process
       "webrtc_viewer_cap": int,        # HUB_WEBRTC_MAX_VIEWERS (per process)
       "hls_available": bool, "hls_url": "/hls/demo/index.m3u8" | None,
       "recording": bool,
       "recording_path": "hls/demo/<run>.m3u8" | None,   # relative to HUB_MEDIA_ROOT
       "recording_started_at": ISO 8601 | None}

  A slug this process knows nothing about gets the same keys, all false/zero/None.

- The HTTP endpoints (:mod:`streaming.views`) call the coroutines below; each returns
  ``(resource_id, answer_sdp)`` for an SDP offer and raises a :class:`streaming.media.errors`
  error (mapped to a coded HTTP error) or a ``hub.errors`` domain error from the control
  plane (``streaming.actions``):

  ``publish`` (WHIP), ``unpublish``, ``play`` (WHEP), ``stop_playing``, ``join_guest``,
  ``leave_guest``, ``listen_guest`` (the host hears a guest in the waiting room).

Where media lives: every peer of a session terminates in the process holding that
session's :class:`streaming.media.program.Program`: deploy/nginx.conf sends all of
``/whip/``, ``/whep/`` and ``/guest/`` to one media process, which follows control-plane
changes made on any process through the session's event stream (Redis). The programme
runs on the server's event loop; encoders run in worker threads (aiortc's senders, the
HLS packager). :func:`stop_on_server_shutdown` (called by ``hub.serve``) finishes every
programme and recording when the server stops.

A media process that dies without stopping (killed, crashed) cannot report its peers
leaving. The engine of the process that replaces it, before it accepts its first peer,
tells the control plane it holds none (``streaming.actions.do_media_engine_started``):
the dead engine's publisher and guests are gone then, viewers hear the signal went off,
and the studio reconnecting is accepted without a hand-over.
"""

from __future__ import annotations

from streaming.media.engine import (
    MediaEngine,
    get_engine,
    reset_engine,
    stop_on_server_shutdown,
)

__all__ = ["MediaEngine", "get_engine", "reset_engine", "stop_on_server_shutdown"]
