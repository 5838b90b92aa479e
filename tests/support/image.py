"""Images with text in them, drawn by Pillow for tests: what a vision model would read,
and the OCR (Tesseract) reads too."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from tests.support.pdf import data_url


def text_png(*lines: str, size: int = 32) -> bytes:
    """A PNG with each of ``lines`` in black on white, one under the other."""
    font = ImageFont.load_default(size=size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    image = Image.new("L", (width, (len(lines) + 1) * size * 3 // 2), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((size, size // 2 + number * size * 3 // 2), line, fill=0, font=font)
    return png(image)


def blank_png(width: int = 64, height: int = 48) -> bytes:
    """A picture with no text in it: a grey gradient."""
    image = Image.new("L", (width, height))
    image.putdata([(x * 4 + y) % 256 for y in range(height) for x in range(width)])
    return png(image)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def image_url(data: bytes, media_type: str = "image/png") -> str:
    """An image as a ``data:`` URL."""
    return data_url(data, media_type)


def scanned_pdf(*lines: str) -> bytes:
    """A PDF whose one page is a picture of ``lines`` (no text layer): a scan."""
    from PIL import Image

    page = Image.open(io.BytesIO(text_png(*lines))).convert("RGB")
    out = io.BytesIO()
    page.save(out, "PDF", resolution=100)
    return out.getvalue()
