"""Media plane of live video (issue 5), built on aiortc and PyAV.

- :mod:`.engine`: the process's registry of programs and peers, and the calls the HTTP
  endpoints make (WHIP publish, WHEP play, guests, host listening).
- :mod:`.program`: one session's programme: studio input and guests in, one composed
  video and one mixed audio track out, fanned out through aiortc's ``MediaRelay``.
- :mod:`.hls`: the programme encoded once to H.264 + AAC and packaged to HLS; the same
  segments, listed in a VOD playlist, are the recording.
- :mod:`.slates`, :mod:`.audio`, :mod:`.tracks`: holding slates, mixing, track helpers.
- :mod:`.peers`: RTCPeerConnection set-up (non-trickle) and clean-up.
- :mod:`.testpattern`, :mod:`.client`: colour bars and tone, and a WHIP/WHEP client
  (the demo publisher and the tests use them).
"""
