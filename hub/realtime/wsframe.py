"""Encode a server-to-client WebSocket text frame once, to write it to many sockets.

RFC 6455 §5.2: a server's frames are never masked, so one unfragmented, uncompressed text
frame is the same bytes for every viewer. (Viewers that negotiated permessage-deflate
are not offered this path: Daphne does not enable that extension.)
"""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def encode_text_frame(text: str) -> bytes:
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        header = bytes((_FIN_TEXT, length))
    elif length < 65536:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload


#: The ASGI scope extension our Daphne server (hub.serve) offers on WebSocket scopes:
#: ``scope["extensions"][PREBUILT_FRAMES]`` is a callable taking the bytes of a complete
#: frame and returning False when the socket is gone or was closed for falling behind.
PREBUILT_FRAMES = "hub.prebuilt_frames"
