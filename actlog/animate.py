"""Animated GIFs of logged image grids: one frame per step, captioned with its epoch.

TensorBoard's step slider shows one epoch at a time; a GIF shows the filters forming over the
whole run at a glance, and can go in a README, a slide or a chat message. The frames come
from a logged run, read back with :mod:`actlog.reader` (``actlog animate``), or from the grids
as they are logged (``ActivationLogger(animate=True)``).

Example:
    ```python
    from actlog.animate import make_gif
    from actlog.reader import read_image_series

    frames = read_image_series("logs/actlog", "activations/conv2d", sample=0)
    make_gif(frames, "conv2d.gif")  # one frame per logged step, labelled "epoch 3"
    ```
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from actlog.images import SEPARATOR_GRAY
from actlog.records import INITIAL_STEP
from actlog.sheet import (
    MARGIN,
    STRIP_BACKGROUND,
    STRIP_TEXT,
    font,
    label_strip_height,
    text_width,
)

_PAD_FILL = SEPARATOR_GRAY  # around frames smaller than the canvas, as empty grid cells


def step_label(step: int, label: str = "epoch") -> str:
    """The caption of a frame: ``"before training"`` for step -1, else ``f"{label} {step}"``.

    Args:
        step: the logged step: an epoch, or :data:`~actlog.records.INITIAL_STEP`.
        label: the word before the step number.

    Returns:
        The caption.

    Example:
        ```python
        step_label(-1), step_label(3)  # ("before training", "epoch 3")
        ```
    """
    return "before training" if step == INITIAL_STEP else f"{label} {step}"


def _as_pixels(image: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise TypeError(f"make_gif takes uint8 images; got {pixels.dtype}.")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = pixels[..., :3]  # GIF has no alpha channel worth keeping here
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[-1] == 3)):
        raise ValueError(
            f"make_gif takes images (h, w) or (h, w, 1 | 3 | 4); got shape {pixels.shape}."
        )
    return pixels


def make_gif(
    frames: Sequence[tuple[int, np.ndarray]],
    path: str | os.PathLike[str],
    duration_ms: int = 400,
    label: str = "epoch",
) -> Path:
    """Writes an animated GIF, one frame per step, each captioned with its step.

    The caption (``"before training"`` for step -1, else ``f"{label} {step}"``) is drawn in a
    black strip above the image, so it never hides a pixel. Frames of different sizes are
    centred on a common canvas (the room around them grey, as empty grid cells). Grey and
    colour frames may be mixed (the GIF is then colour). It loops forever, and the same frames
    always give the same bytes.

    Args:
        frames: ``(step, image)`` pairs, in the order to show them (as
            :func:`actlog.reader.read_image_series` returns them); images are uint8
            ``(h, w)`` or ``(h, w, 1 | 3 | 4)`` (alpha is dropped).
        path: the ``.gif`` file to write; its parent directories are created.
        duration_ms: how long each frame shows, in milliseconds.
        label: the word before the step number in captions.

    Returns:
        The path written.

    Raises:
        ValueError: if there are no frames, or an image has an unsupported shape.
        TypeError: if an image is not uint8.

    Example:
        ```python
        frames = read_image_series("logs/actlog", "activations/conv2d")  # actlog.reader
        make_gif(frames, "conv2d.gif")
        ```
    """
    if not frames:
        raise ValueError("make_gif needs at least one frame.")
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be positive; got {duration_ms}.")
    pixels = [_as_pixels(image) for _, image in frames]
    captions = [step_label(int(step), label) for step, _ in frames]
    colour = any(p.ndim == 3 for p in pixels)
    mode = "RGB" if colour else "L"

    strip = label_strip_height()
    widest = max(text_width(text) for text in captions)
    width = max(max(p.shape[1] for p in pixels), widest + 2 * MARGIN)
    height = strip + max(p.shape[0] for p in pixels)

    def fill(level: int) -> int | tuple[int, int, int]:
        return (level, level, level) if colour else level

    images = []
    for image, text in zip(pixels, captions, strict=True):
        if colour and image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        canvas = Image.new(mode, (width, height), fill(_PAD_FILL))
        draw = ImageDraw.Draw(canvas)
        draw.rectangle((0, 0, width - 1, strip - 1), fill=fill(STRIP_BACKGROUND))
        draw.text((MARGIN, MARGIN), text, fill=fill(STRIP_TEXT), font=font())
        left = (width - image.shape[1]) // 2
        canvas.paste(Image.fromarray(image, mode), (left, strip))
        images.append(canvas)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        disposal=1,
    )
    return out
