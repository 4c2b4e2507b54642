"""A frame encoded once is a valid WebSocket text frame for any viewer."""

from __future__ import annotations

import pytest
from websockets.frames import OP_TEXT, Frame
from websockets.streams import StreamReader

from hub.realtime.wsframe import encode_text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_encoded_frames_parse_back_to_the_same_text(size: int) -> None:
    text = ("问" * size)[: size // 3] + "x" * (size - len(("问" * size)[: size // 3]) * 3)
    data = encode_text_frame(text)
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode == OP_TEXT and frame.fin
    assert frame.data.decode() == text
