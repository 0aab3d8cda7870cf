"""Axes and a legend around a filter-health timeline, so that the image reads on its own in
TensorBoard's Images tab, W&B and MLflow: filter numbers down the left, the logged steps along
the bottom, and on top the colour legend (the on-rate's colour map from 0 to 1, dead, no
value). White text on black, as actlog's caption strips. Pure: no I/O.

Example:
    ```python
    image, layout = render_timeline(rates, dead)
    framed = frame_timeline(image, layout, steps=[-1, 0, 1], filters=rates.shape[1])
    framed.image[framed.top : framed.top + image.shape[0], framed.left :]  # the cells
    ```
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from actlog.images import NONFINITE_RGB, colormap_lut
from actlog.sheet import MARGIN, STRIP_BACKGROUND, STRIP_TEXT, font, label_strip_height, text_width
from actlog.timeline import CMAP, DEAD_RGB, TimelineLayout, render_timeline, timeline_layout

#: Pixels of the legend's colour bar, from on-rate 0 to 1.
BAR_WIDTH = 64
#: Side of the legend's colour swatches (dead, no value).
SWATCH = 9
#: PNG bytes the frame adds, per pixel outside the cells, per pixel row, and besides (the
#: legend): fitted as an upper bound to the frames of 1 to 1,500 filters and 1 to 400 steps of
#: uniformly random on-rates (1.0-3.3x the bytes actually added).
FRAME_PIXEL_BYTES = 0.1
FRAME_ROW_BYTES = 8
FRAME_BYTES = 900


@dataclass(frozen=True)
class FramedTimeline:
    """A timeline inside its axes: ``image`` (uint8 RGB), the cells' top-left corner at
    ``(top, left)``."""

    image: np.ndarray
    top: int
    left: int


def axes_margins(filters: int) -> tuple[int, int, int]:
    """The frame's ``(top, left, bottom)`` in pixels around the cells of a layer of
    ``filters``: the legend strip, the filter numbers, the step labels."""
    strip = label_strip_height()
    return strip, text_width(str(max(0, filters - 1))) + 2 * MARGIN, strip


def legend_width() -> int:
    """The narrowest the framed image gets: the legend's width."""
    return MARGIN + _legend_parts()[-1][1] + MARGIN


def frame_bytes(filters: int, width: int, height: int) -> float:
    """The PNG bytes the frame of a ``(height, width)`` cell area adds (an upper estimate)."""
    top, left, bottom = axes_margins(filters)
    total_width, total_height = max(left + width, legend_width()), top + height + bottom
    outside = total_width * total_height - width * height
    return FRAME_BYTES + FRAME_PIXEL_BYTES * outside + FRAME_ROW_BYTES * total_height


def framed_timeline(
    rates: np.ndarray, dead: np.ndarray | None, steps: Sequence[int], max_size: int = 1024,
    max_bytes: float = math.inf, cmap: str = CMAP,
) -> tuple[FramedTimeline, TimelineLayout]:  # fmt: skip
    """:func:`actlog.timeline.render_timeline` inside its axes, the whole within ``max_size``
    pixels a side and about ``max_bytes`` (the cells get what the frame leaves). Where the
    frame does not fit (``max_size`` narrower than the legend, or the frame would take more
    than half of ``max_bytes``), the cells alone (``top`` and ``left`` 0).

    Args:
        rates, dead: as :func:`~actlog.timeline.render_timeline` takes them.
        steps: the step of each row of ``rates``.

    Example:
        ```python
        framed, layout = framed_timeline(np.array([[0.0, 0.5], [0.2, 1.0]]), None, [-1, 0])
        ```
    """
    filters = rates.shape[1]
    top, left, bottom = axes_margins(filters)
    size = max_size - max(left, top + bottom)
    planned = None
    if legend_width() <= max_size and size >= 1:
        planned = timeline_layout(filters, rates.shape[0], size, max_bytes)
        extra = frame_bytes(filters, planned.shape[1], planned.shape[0])
    if planned is None or extra > max_bytes / 2:  # no room for the frame
        image, layout = render_timeline(rates, dead, max_size, max_bytes, cmap)
        return FramedTimeline(image, 0, 0), layout
    budget = max_bytes - extra if planned.estimated_bytes() + extra > max_bytes else max_bytes
    image, layout = render_timeline(rates, dead, size, budget, cmap)
    return frame_timeline(image, layout, list(steps)[len(steps) - layout.steps :], filters,
                          cmap), layout  # fmt: skip


def frame_timeline(
    image: np.ndarray, layout: TimelineLayout, steps: Sequence[int], filters: int,
    cmap: str = CMAP,
) -> FramedTimeline:  # fmt: skip
    """``image`` (from :func:`actlog.timeline.render_timeline`) inside its axes.

    Args:
        image: the timeline's cells, ``(height, width, 3)``.
        layout: its layout.
        steps: the steps of its columns, oldest first (``layout.steps`` of them).
        filters: the layer's filter count.
        cmap: the on-rate's colour map, for the legend's bar.
    """
    if len(steps) != layout.steps:
        raise ValueError(f"{layout.steps} columns need {layout.steps} steps; got {len(steps)}.")
    top, left, bottom = axes_margins(filters)
    height, width = image.shape[:2]
    canvas = np.full((top + height + bottom, max(left + width, legend_width()), 3),
                     STRIP_BACKGROUND, np.uint8)  # fmt: skip
    canvas[top : top + height, left : left + width] = image
    _draw_legend(canvas, cmap)
    _draw_filter_numbers(canvas, layout, filters, top, left)
    _draw_steps(canvas, layout, steps, top + height, left)
    return FramedTimeline(canvas, top, left)


@functools.lru_cache(maxsize=4096)
def _glyphs(text: str) -> np.ndarray:
    """Where ``text`` is drawn, in the caption font without anti-aliasing (two-colour text
    compresses better), as it is placed by drawing it at the origin: bool ``(height, width)``."""
    image = Image.new("1", (text_width(text) + 2 * MARGIN, label_strip_height()), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text((0, 0), text, fill=1, font=font())
    mask = np.asarray(image, bool)
    mask.flags.writeable = False
    return mask


def _put_text(canvas: np.ndarray, x: int, y: int, text: str) -> None:
    """Draws ``text`` on ``canvas`` in the caption strips' colour, clipped at its edges."""
    mask = _glyphs(text)
    height, width = canvas.shape[:2]
    mask = mask[: max(0, height - y), : max(0, width - x)]
    canvas[y : y + mask.shape[0], x : x + mask.shape[1]][mask] = STRIP_TEXT


def _legend_parts() -> list[tuple[int, int, str]]:
    """The legend's parts left to right: ``(start, end, what)``, ``what`` a text or
    ``"bar"``, ``"dead"``, ``"nonfinite"``."""
    items = [("text", "on-rate 0"), ("bar", ""), ("text", "1"), ("dead", ""), ("text", "dead"),
             ("nonfinite", ""), ("text", "no value")]  # fmt: skip
    parts, x = [], MARGIN
    for kind, text in items:
        if kind == "text":
            size, gap = text_width(text), 2 * MARGIN
        else:
            size, gap = (BAR_WIDTH if kind == "bar" else SWATCH), MARGIN
        parts.append((x, x + size, text or f"<{kind}>"))
        x += size + gap
    return parts


def _draw_legend(canvas: np.ndarray, cmap: str) -> None:
    box = slice((label_strip_height() - SWATCH) // 2, (label_strip_height() + SWATCH) // 2)
    for start, end, what in _legend_parts():
        if what == "<bar>":
            canvas[box, start:end] = colormap_lut(cmap)[
                np.linspace(0, 255, end - start).round().astype(int)]  # fmt: skip
        elif what in ("<dead>", "<nonfinite>"):
            canvas[box, start:end] = DEAD_RGB if what == "<dead>" else NONFINITE_RGB
        else:
            _put_text(canvas, start, MARGIN, what)


def _every(size: int, room: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that spaces labels of ``room`` pixels apart
    on a scale of ``size`` pixels per unit."""
    for power in range(12):
        for base in (1, 2, 5):
            step = base * 10**power
            if step * size >= room:
                return step
    return math.inf  # type: ignore[return-value]


def _draw_filter_numbers(canvas: np.ndarray, layout: TimelineLayout, filters: int,
                         top: int, left: int) -> None:  # fmt: skip
    """Filter numbers of the first band, right-aligned in the left margin, at their rows."""
    glyphs = label_strip_height() - 2 * MARGIN
    every = _every(layout.cell_height, glyphs + 2)
    for number in range(0, min(filters, layout.rows), every):
        row_top = top + number * layout.cell_height
        y = row_top + max(0, (layout.cell_height - glyphs) // 2) - 1
        text = str(number)
        _put_text(canvas, left - MARGIN - text_width(text), y, text)


def _draw_steps(canvas: np.ndarray, layout: TimelineLayout, steps: Sequence[int],
                y: int, left: int) -> None:  # fmt: skip
    """Step labels under the first band's columns, left-aligned on their column: the oldest,
    then the steps that are multiples of a round number, none overlapping."""
    widest = max(text_width(str(steps[0])), text_width(str(steps[-1])))  # steps ascend
    spacing = max(1, steps[-1] - steps[-2]) if len(steps) > 1 else 1
    every = _every(max(1, layout.cell_width // spacing), widest + 2 * MARGIN) * spacing
    band_end, free = left + layout.steps * layout.cell_width, left
    for column, step in enumerate(steps):
        x, text = left + column * layout.cell_width, str(step)
        end = x + text_width(text)
        if (column == 0 or step % every == 0) and x >= free and (end <= band_end or column == 0):
            _put_text(canvas, x, y + MARGIN, text)
            free = end + 2 * MARGIN
