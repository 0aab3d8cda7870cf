"""One filter's tile cut from each logged grid: the filmstrip of the filter view. Pure: PNG
bytes in, a PNG out.

The tile's place comes from the layout logged with each event (:mod:`actlog.view.metadata`), so
every frame holds exactly the pixels of that tile in the logged image. Frames are laid out
row-major, :data:`FRAMES_PER_ROW` to a row, each padded to the largest tile (a grid whose tiles
changed size between two ``fit`` calls), in the order of the steps given.

Example:
    ```python
    cache = GridCache()
    grids = [(step, cache.get(key, png, layout, sample), layout) for step, key, png, layout in ...]
    strip = filmstrip(grids, index=5)
    strip.image  # PNG bytes of every frame; strip.steps, strip.height, strip.width, strip.cols
    ```
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

#: Frames per row of a filmstrip image (a 1000-step strip stays under 16,384 pixels wide).
FRAMES_PER_ROW = 32


@dataclass(frozen=True)
class Filmstrip:
    """The frames of one tile over the steps, in one PNG.

    Attributes:
        steps: the step of each frame, in order (steps whose grid holds no such tile are left
            out).
        height, width: each frame's size in pixels (the largest tile).
        cols: frames per row.
        image: the PNG.
    """

    steps: list[int]
    height: int
    width: int
    cols: int
    image: bytes


def sample_box(layout: Mapping[str, Any], sample: int) -> tuple[int, int, int, int, int]:
    """``(image, top, left, height, width)`` of probe sample ``sample``'s grid in a logged
    layout (a document's ``grid``, or an entry of its ``layouts`` with ``origins``): which
    image of the tag holds it, and where.

    Raises:
        IndexError: for a sample the layout does not show.
    """
    origins = layout.get("origins") or [[0, 0]]
    if not 0 <= sample < len(origins):
        raise IndexError(f"probe sample {sample} of {len(origins)} shown")
    top, left = origins[sample]
    count, cols = int(layout["count"]), max(1, int(layout["cols"]))
    rows = math.ceil(count / cols)
    height = rows * (int(layout["height"]) + 1) - 1
    width = cols * (int(layout["width"]) + 1) - 1
    return (sample if layout.get("per_sample") else 0), int(top), int(left), height, width


def tile_box(layout: Mapping[str, Any], index: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of tile ``index`` in a sample's grid.

    Raises:
        IndexError: for a tile the layout does not have.
    """
    count, cols = int(layout["count"]), max(1, int(layout["cols"]))
    if not 0 <= index < count:
        raise IndexError(f"tile {index} of a grid of {count}")
    row, col = divmod(index, cols)
    height, width = int(layout["height"]), int(layout["width"])
    return row * (height + 1), col * (width + 1), height, width


def cut_grid(png: bytes, layout: Mapping[str, Any], sample: int) -> np.ndarray:
    """Probe sample ``sample``'s grid from the PNG that :func:`sample_box` names, as uint8 RGB
    ``(height, width, 3)`` (grey repeated; cut short where the image is)."""
    _, top, left, height, width = sample_box(layout, sample)
    with Image.open(io.BytesIO(png)) as image:
        box = image.convert("RGB").crop((left, top, left + width, top + height))
        pixels = np.asarray(box)
    pixels.flags.writeable = False
    return pixels


def filmstrip(grids: Iterable[tuple[int, np.ndarray, Mapping[str, Any]]], index: int) -> Filmstrip:
    """The tile of filter ``index`` from each ``(step, grid, layout)`` (a sample's grid, from
    :func:`cut_grid`), as one :class:`Filmstrip`."""
    cut: list[tuple[int, np.ndarray]] = []
    for step, grid, layout in grids:
        try:
            top, left, height, width = tile_box(layout, index)
        except IndexError:
            continue
        pixels = grid[top : top + height, left : left + width]
        if pixels.shape[:2] == (height, width):
            cut.append((step, pixels))
    height = max((pixels.shape[0] for _, pixels in cut), default=1)
    width = max((pixels.shape[1] for _, pixels in cut), default=1)
    cols = max(1, min(FRAMES_PER_ROW, len(cut)))
    rows = max(1, math.ceil(len(cut) / cols))
    canvas = np.zeros((rows * height, cols * width, 3), np.uint8)
    for slot, (_, pixels) in enumerate(cut):
        row, col = divmod(slot, cols)
        canvas[row * height : row * height + pixels.shape[0],
               col * width : col * width + pixels.shape[1]] = pixels  # fmt: skip
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG", compress_level=1)
    return Filmstrip([step for step, _ in cut], height, width, cols, buffer.getvalue())


class GridCache:
    """Decoded sample grids by key, at most ``max_bytes`` of them (least recently used out),
    so the filmstrips of several filters of one layer decode each logged image once. Safe to
    use from several threads.

    Args:
        max_bytes: the most bytes of pixels kept.
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self._grids: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The grid under ``key``, made by ``load()`` if it is not kept."""
        with self._lock:
            grid = self._grids.get(key)
            if grid is not None:
                self._grids.move_to_end(key)
                return grid
        grid = load()
        with self._lock:
            if key not in self._grids:
                self._grids[key] = grid
                self._bytes += grid.nbytes
            while self._bytes > self.max_bytes and len(self._grids) > 1:
                _, dropped = self._grids.popitem(last=False)
                self._bytes -= dropped.nbytes
        return grid
