"""Captions and contact sheets: several images in one, each under a caption strip.

The caption strip is what GIF frames (:mod:`actlog.animate`) and the probe-sample sheets of the
activation grids share: white text on a black strip, above the image, so it never hides a
pixel. :func:`contact_sheet` lays out per-sample images in a near-square arrangement with black
gaps, so TensorBoard shows one card per layer rather than one per probe sample.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from actlog.layout import grid_shape

STRIP_BACKGROUND = 0  # black strip ...
STRIP_TEXT = 255  # ... with white text
MARGIN = 3  # pixels around the caption text
_TALLEST = "Agjy0|()[]"  # glyphs reaching the font's top and bottom: sets the strip height
#: Pixels of black between the images of a contact sheet.
SHEET_GAP = 3


@functools.lru_cache(maxsize=1)
def font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """The caption font (Pillow's built-in default: no font file needed), loaded once."""
    return ImageFont.load_default()


@functools.lru_cache(maxsize=1)
def label_strip_height() -> int:
    """The height in pixels of a caption strip.

    Returns:
        The tallest glyphs of the caption font, plus a margin above and below.

    Example:
        ```python
        frame[label_strip_height():]  # a GIF frame's image, below its caption
        ```
    """
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    return draw.textbbox((0, 0), _TALLEST, font=font())[3] + 2 * MARGIN


@functools.lru_cache(maxsize=4096)
def text_width(text: str) -> int:
    """The width in pixels of ``text`` in the caption font."""
    return int(ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font())[2])


@functools.lru_cache(maxsize=512)
def caption_strip(text: str, width: int) -> np.ndarray:
    """A uint8 strip ``(label_strip_height(), width)``: ``text`` in white on black, clipped at
    the right edge."""
    strip = Image.new("L", (width, label_strip_height()), STRIP_BACKGROUND)
    ImageDraw.Draw(strip).text((MARGIN, MARGIN), text, fill=STRIP_TEXT, font=font())
    pixels = np.asarray(strip, dtype=np.uint8)
    pixels.flags.writeable = False
    return pixels


def sheet_origins(k: int, h: int, w: int) -> list[tuple[int, int]]:
    """Where :func:`contact_sheet` puts each of ``k`` images of ``h`` x ``w`` pixels: the
    ``(top, left)`` of each image (below its caption) in the sheet."""
    _, cols = grid_shape(k)
    cell_h = label_strip_height() + h
    return [((index // cols) * (cell_h + SHEET_GAP) + label_strip_height(),
             (index % cols) * (w + SHEET_GAP)) for index in range(k)]  # fmt: skip


def contact_sheet(images: np.ndarray, captions: Sequence[str]) -> np.ndarray:
    """Images ``(k, h, w, c)`` in one image ``(1, H, W, c)``: a near-square arrangement, row
    by row, each image under its caption, :data:`SHEET_GAP` black pixels between them (each
    image's place: :func:`sheet_origins`).

    Example:
        ```python
        sheet = contact_sheet(grids.images, probe.captions())  # one card instead of k
        ```
    """
    k, h, w, c = images.shape
    if len(captions) != k:
        raise ValueError(f"contact_sheet needs one caption per image; got {len(captions)}/{k}.")
    rows, cols = grid_shape(k)
    strip = label_strip_height()
    sheet = np.full((rows * (strip + h) + (rows - 1) * SHEET_GAP,
                     cols * w + (cols - 1) * SHEET_GAP, c), STRIP_BACKGROUND, np.uint8)  # fmt: skip
    origins = sheet_origins(k, h, w)
    for (top, left), image, caption in zip(origins, images, captions, strict=True):
        sheet[top - strip : top, left : left + w] = caption_strip(caption, w)[..., None]
        sheet[top : top + h, left : left + w] = image
    return sheet[None]


def image_side(k: int, max_size: int, max_pixels: float, sheet: bool = True) -> int:
    """The largest square box, in pixels, for each of ``k`` per-sample images: on one contact
    sheet (:func:`sheet_cell`), or each an image of its own within ``max_pixels``."""
    return sheet_cell(k, max_size, max_pixels) if sheet else int(max_pixels**0.5)


def sheet_cell(k: int, max_size: int, max_pixels: float) -> int:
    """The largest square box, in pixels, for each of ``k`` images of a contact sheet that
    keeps the sheet within ``max_size`` pixels a side and ``max_pixels`` pixels in all."""
    rows, cols = grid_shape(k)
    strip = label_strip_height()
    by_side = min((max_size - (cols - 1) * SHEET_GAP) // cols,
                  (max_size - (rows - 1) * SHEET_GAP) // rows - strip)  # fmt: skip
    by_area = int((max_pixels / k) ** 0.5)
    return max(8, min(by_side, by_area))
