"""Developer tool: render the text of the holding slates to PNG masks in this folder.

The engine never renders text at run time (no font or imaging library is needed on a
server): it composes each slate from these masks (white text on black, used as alpha)
with PyAV and numpy. Run this only to change the wording, with a Python that has Pillow
and Debian's ``fonts-noto-cjk``::

    python -m venv /tmp/slates && /tmp/slates/bin/pip install pillow
    /tmp/slates/bin/python streaming/media/assets/render_slates.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
HERE = Path(__file__).resolve().parent

#: name -> (Chinese line, English line); the names are the slate kinds of slates.py.
SLATES = {
    "waiting": ("信号中断", "Waiting for the studio"),
    "confidential": ("本议题不公开", "This item is not public"),
    "audio_only": ("音频直播", "Audio only"),
}

WIDTH, HEIGHT = 1280, 360


def render(chinese: str, english: str) -> Image.Image:
    image = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(image)
    big = ImageFont.truetype(FONT, 150, index=2)  # index 2: the SC (simplified) face
    small = ImageFont.truetype(FONT, 72, index=2)
    for text, font, middle in ((chinese, big, 120), (english, small, 290)):
        box = draw.textbbox((0, 0), text, font=font)
        x = (WIDTH - (box[2] - box[0])) // 2 - box[0]
        y = middle - (box[3] - box[1]) // 2 - box[1]
        draw.text((x, y), text, fill=255, font=font)
    return image


def main() -> None:
    for name, (chinese, english) in SLATES.items():
        path = HERE / f"slate-{name}.png"
        render(chinese, english).save(path, optimize=True)
        sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
