"""Holding slates: a still frame shown instead of the studio picture.

Kinds (``SlateKind``): ``waiting`` (信号中断 / Waiting for the studio: no studio signal),
``confidential`` (本议题不公开 / This item is not public: the current agenda item is
confidential) and ``audio_only`` (音频直播: the studio sends sound only). Each has its
own background colour, so a test or an operator can tell them apart at a glance.

The text comes from PNG masks in ``assets/`` (rendered once by
``assets/render_slates.py``); a slate is built per programme size and cached, so showing
one costs nothing per frame.
"""

from __future__ import annotations

import enum
import functools
from pathlib import Path

import av
import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"


class SlateKind(enum.StrEnum):
    WAITING = "waiting"
    CONFIDENTIAL = "confidential"
    AUDIO_ONLY = "audio_only"


#: Background colour (RGB) of each slate.
BACKGROUND: dict[SlateKind, tuple[int, int, int]] = {
    SlateKind.WAITING: (24, 38, 64),
    SlateKind.CONFIDENTIAL: (96, 18, 24),
    SlateKind.AUDIO_ONLY: (14, 70, 60),
}
TEXT_COLOUR = (255, 255, 255)


@functools.cache
def _mask(kind: SlateKind) -> av.VideoFrame:
    with av.open(str(ASSETS / f"slate-{kind.value}.png")) as container:
        frame = next(container.decode(video=0))
    return frame.reformat(format="gray")


@functools.cache
def slate_rgb(kind: SlateKind, width: int, height: int) -> np.ndarray:
    """The slate as an RGB array of ``height x width x 3`` (read-only, cached)."""
    mask_frame = _mask(kind)
    # The text block spans 80% of the width, keeping its aspect ratio.
    text_w = max(2, int(width * 0.8) // 2 * 2)
    text_h = max(2, min(int(height * 0.6), round(text_w * mask_frame.height / mask_frame.width)))
    alpha = mask_frame.reformat(width=text_w, height=text_h, interpolation="AREA").to_ndarray()
    alpha = alpha[:, :text_w].astype(np.float32) / 255.0
    image = np.empty((height, width, 3), dtype=np.float32)
    image[:] = BACKGROUND[kind]
    top, left = (height - text_h) // 2, (width - text_w) // 2
    region = image[top : top + text_h, left : left + text_w]
    region[:] = region * (1 - alpha[..., None]) + np.array(TEXT_COLOUR) * alpha[..., None]
    result = image.round().astype(np.uint8)
    result.setflags(write=False)
    return result


@functools.cache
def slate_yuv(kind: SlateKind, width: int, height: int) -> np.ndarray:
    """The slate as ``yuv420p`` planes (``height * 3 / 2`` rows of ``width``), the form
    in which the programme clock turns pictures into frames (read-only, cached)."""
    rgb = np.ascontiguousarray(slate_rgb(kind, width, height))
    planes = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    result = planes.to_ndarray()
    result.setflags(write=False)
    return result
