"""Filter-health timelines: a layer's per-filter on-rates over training as one image. Pure NumPy.

One row per filter (filter 0 at the top), one column per logged step, oldest on the left. A cell's
colour is the filter's on-rate at that step (:func:`actlog.stats.filter_on_rates`) through a
perceptual colour map (viridis: dark purple = never on, yellow = always on); dead cells (at the
rectifier's floor for every probe sample) are filled with :data:`DEAD_RGB`, cells without a
finite value with :data:`actlog.images.NONFINITE_RGB`.

The layout (:func:`timeline_layout`) fits the image in ``max_size`` pixels a side and a byte
budget: cells are :data:`CELL_WIDTH` pixels wide and tall enough for the filters to fill about
:data:`TARGET_HEIGHT` pixels (1-pixel rows from 512 filters on). With more steps than fit the
width, cells narrow down to 1 pixel; with more than fit the budget, cells shrink (the longer
side first) down to 1 pixel, then only the most recent steps are shown. Every filter is shown: a
layer with more filters than ``max_size`` is cut into bands of consecutive filters, side by
side, :data:`BAND_GAP` grey pixels apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from actlog.images import MARK_RGB, NONFINITE_RGB, SEPARATOR_GRAY, colormap_lut

#: Colour of a dead filter's cell: the red that frames dead filters in the activation grids.
DEAD_RGB = MARK_RGB
#: Colour map of the on-rate (0 -> its first colour, 1 -> its last).
CMAP = "viridis"
#: Cell width in pixels while the steps fit at this width.
CELL_WIDTH = 8
#: The tallest cell, in pixels.
MAX_CELL_HEIGHT = 16
#: About how tall the filters' rows make the image (less for few filters, whose cells are at
#: most :data:`MAX_CELL_HEIGHT` tall; more with 1-pixel rows for more than this many filters).
TARGET_HEIGHT = 512
#: Grey pixels between bands of filters.
BAND_GAP = 4
#: PNG bytes assumed per image, per cell, per pixel and per pixel row when sizing to a byte
#: budget (actlog's encoder: no row filter, zlib level 1). Fitted to uniformly random on-rates,
#: the worst case, then raised: every layout of 1 to 1,500 filters and 1 to 400 steps, with
#: 10% dead cells, came within 94% of the estimate. On-rates of a real layer change slowly and
#: dead filters stay dead: they take a third to a half of it.
IMAGE_BYTES = 400
CELL_BYTES = 1.6
PIXEL_BYTES = 0.13
ROW_BYTES = 1.6


@dataclass(frozen=True)
class TimelineLayout:
    """How a timeline is laid out.

    Attributes:
        bands: side-by-side bands of consecutive filters (1 unless the filters do not fit in
            ``max_size`` rows).
        rows: filters per band (the last band may have fewer; the rest is grey).
        cell_height: pixels per filter row.
        cell_width: pixels per step column.
        steps: how many steps are shown (the most recent ones).
    """

    bands: int
    rows: int
    cell_height: int
    cell_width: int
    steps: int

    @property
    def shape(self) -> tuple[int, int]:
        """The image's ``(height, width)`` in pixels."""
        band_width = self.steps * self.cell_width
        return self.rows * self.cell_height, self.bands * band_width + (self.bands - 1) * BAND_GAP

    def estimated_bytes(self) -> float:
        """The PNG size assumed for the budget."""
        height, width = self.shape
        cells = self.bands * self.rows * self.steps
        return IMAGE_BYTES + CELL_BYTES * cells + PIXEL_BYTES * height * width + ROW_BYTES * height


def timeline_layout(
    filters: int, steps: int, max_size: int = 1024, max_bytes: float = math.inf
) -> TimelineLayout:
    """The layout of a timeline of ``filters`` rows and ``steps`` columns that fits in
    ``max_size`` pixels a side and about ``max_bytes`` PNG bytes.

    Every filter is shown; the cells shrink (to 1 pixel) before steps are left out, and the
    most recent steps are the ones kept.

    Args:
        filters: the layer's filters.
        steps: the logged steps so far.
        max_size: the largest height and width in pixels.
        max_bytes: the byte budget of the image (see :data:`CELL_BYTES`); at least one step
            is shown, whatever it takes.

    Example:
        ```python
        timeline_layout(64, 10)  # 8 x 8-pixel cells: a 512 x 80 image
        ```
    """
    filters, steps = max(1, filters), max(1, steps)
    bands = math.ceil(filters / max_size)
    rows = math.ceil(filters / bands)
    cell_height = max(1, min(MAX_CELL_HEIGHT, min(TARGET_HEIGHT, max_size) // rows))
    room = max(1, (max_size - (bands - 1) * BAND_GAP) // bands)
    cell_width = max(1, min(CELL_WIDTH, room // steps))
    layout = TimelineLayout(bands, rows, cell_height, cell_width, min(steps, room // cell_width))
    while layout.estimated_bytes() > max_bytes:
        height, width = layout.cell_height, layout.cell_width
        if width > 1 or height > 1:  # smaller cells first, the longer side first
            height, width = (height, width - 1) if width >= height else (height - 1, width)
            layout = replace(layout, cell_height=height, cell_width=width,
                             steps=min(steps, room // width))  # fmt: skip
        elif layout.steps > 1:  # then fewer steps, the most recent kept
            per_step = layout.estimated_bytes() / layout.steps
            layout = replace(layout, steps=max(1, min(layout.steps - 1, int(max_bytes / per_step))))
        else:
            break
    return layout


def render_timeline(
    rates: np.ndarray,
    dead: np.ndarray | None = None,
    max_size: int = 1024,
    max_bytes: float = math.inf,
    cmap: str = CMAP,
) -> tuple[np.ndarray, TimelineLayout]:
    """A layer's filter-health timeline as an RGB image.

    Args:
        rates: on-rates ``(steps, filters)`` in [0, 1], oldest step first; NaN where a filter
            had no finite value.
        dead: bool ``(steps, filters)``, the cells to mark :data:`DEAD_RGB`; None: none.
        max_size: the largest height and width in pixels.
        max_bytes: the byte budget (see :func:`timeline_layout`).
        cmap: a matplotlib colour map for the on-rate.

    Returns:
        The uint8 image ``(height, width, 3)`` and its layout (``layout.steps`` is how many of
        the most recent steps it shows).

    Example:
        ```python
        image, layout = render_timeline(np.array([[0.0, 0.5], [0.2, 1.0]]))
        image.shape  # (32, 16, 3): 2 filters of 16-pixel rows, 2 steps of 8-pixel columns
        ```
    """
    rates = np.asarray(rates, np.float64)
    if rates.ndim != 2:
        raise ValueError(f"rates must be (steps, filters); got shape {rates.shape}.")
    steps, filters = rates.shape
    layout = timeline_layout(filters, steps, max_size, max_bytes)
    shown = rates[steps - layout.steps :]
    index = np.round(np.clip(np.nan_to_num(shown, nan=0.0), 0.0, 1.0) * 255).astype(np.intp)
    cells = colormap_lut(cmap)[index.T]  # (filters, steps, 3)
    cells[np.isnan(shown).T] = NONFINITE_RGB
    if dead is not None:
        cells[np.asarray(dead, bool)[steps - layout.steps :].T] = DEAD_RGB
    pad = layout.bands * layout.rows - filters
    cells = np.concatenate([cells, np.full((pad, layout.steps, 3), SEPARATOR_GRAY, np.uint8)])
    pixels = np.repeat(np.repeat(cells, layout.cell_height, axis=0), layout.cell_width, axis=1)
    height = layout.rows * layout.cell_height
    bands = [pixels[b * height : (b + 1) * height] for b in range(layout.bands)]
    gap = np.full((height, BAND_GAP, 3), SEPARATOR_GRAY, np.uint8)
    parts = [part for band in bands for part in (gap, band)][1:]
    return np.ascontiguousarray(np.concatenate(parts, axis=1)), layout
