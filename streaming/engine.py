"""The media engine of one server process: studio ingest, program, viewers, guests.

Public surface (the control plane and the pages use only these names):

- :func:`get_engine` returns this process's :class:`MediaEngine`.
- :meth:`MediaEngine.status` (thread-safe, callable from sync views and actions) returns
  what the engine holds for a session slug::

      {"slug": "demo", "program": bool, "publisher_connected": bool,
       "webrtc_viewers": int, "webrtc_viewer_cap": int, "guests": int,
       "hls_available": bool, "hls_url": "/hls/demo/index.m3u8" | None,
       "recording": bool, "recording_path": str | None, "confidential": bool,
       "on_air_guest_ids": [int, ...]}

- The HTTP endpoints (:mod:`streaming.views`) call the coroutines below; each returns
  ``(resource_id, answer_sdp)`` for an SDP offer and raises a :class:`streaming.media.errors`
  error (mapped to a coded HTTP error) or a ``hub.errors`` domain error from the control
  plane (``streaming.actions``):

  ``publish`` (WHIP), ``unpublish``, ``play`` (WHEP), ``stop_playing``, ``join_guest``,
  ``leave_guest``, ``listen_guest`` (the host hears a guest in the waiting room).

Where media lives: every peer of a session terminates in the process holding that
session's :class:`streaming.media.program.Program` (deploy routes ``/whip/``, ``/whep/``
and ``/guest/`` by slug to one process). The program runs on the server's event loop;
encoders run in worker threads (aiortc's senders, the HLS packager).
"""

from __future__ import annotations

from streaming.media.engine import MediaEngine, get_engine, reset_engine

__all__ = ["MediaEngine", "get_engine", "reset_engine"]
