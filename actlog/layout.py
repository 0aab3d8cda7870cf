"""Where the tiles of a grid go: the near-square arrangement, each tile's size within the
image's bounds, and the layout that says where tile ``k`` is (logged with every grid, so the
view cuts one filter out of a logged image). Pure: no NumPy arrays, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of a grid sit: ``count`` tiles of ``height`` x ``width`` pixels,
    row-major in ``cols`` columns, 1-pixel separators between them (what :func:`tile` makes).

    Example:
        ```python
        top, left, h, w = grids.layout.box(5)  # filter 5's tile in each probe sample's grid
        grids.images[0, top : top + h, left : left + w]
        ```
    """

    count: int
    cols: int
    height: int
    width: int

    @property
    def size(self) -> tuple[int, int]:
        """The grid's ``(height, width)`` in pixels."""
        rows = math.ceil(self.count / self.cols) if self.count else 0
        return max(0, rows * (self.height + 1) - 1), max(0, self.cols * (self.width + 1) - 1)

    @classmethod
    def of_grid(cls, count: int, height: int, width: int) -> TileLayout:
        """The layout of a grid of ``count`` tiles in a near-square arrangement
        (:func:`grid_shape`, as :func:`image_grid` makes) that is ``height`` x ``width``
        pixels."""
        rows, cols = grid_shape(count)
        return cls(count, cols, (height + 1) // rows - 1, (width + 1) // cols - 1)

    def box(self, index: int) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of tile ``index`` in the grid."""
        if not 0 <= index < self.count:
            raise IndexError(f"tile {index} of a grid of {self.count}")
        row, col = divmod(index, self.cols)
        return row * (self.height + 1), col * (self.width + 1), self.height, self.width

    def as_dict(self) -> dict[str, int]:
        """The layout as plain values (the view's data, :mod:`actlog.view.metadata`)."""
        return {"count": self.count, "cols": self.cols, "height": self.height,
                "width": self.width}  # fmt: skip


def grid_shape(count: int) -> tuple[int, int]:
    """The near-square grid for ``count`` tiles, filled row-major: ``(rows, cols)``, with
    ``cols = ceil(sqrt(count))``."""
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def tile_size(count: int, h: int, w: int, strips: bool, min_tile: int, max_size: int) -> tuple:
    """The grid's column count and each tile's ``(height, width)`` in pixels.

    2-D maps are upscaled by the smallest integer factor that makes their short side at least
    ``min_tile`` pixels; strips are ``min_tile // 2`` pixels high and at least ``4 * min_tile``
    wide. Tiles are then shrunk, if needed, so that the grid fits in ``max_size`` pixels.
    """
    if strips:
        cols, rows = 1, count
        th = max(2, min_tile // 2)
        tw = w * max(1, math.ceil(4 * min_tile / w))
    else:
        rows, cols = grid_shape(count)
        factor = max(1, math.ceil(min_tile / min(h, w)))
        th, tw = h * factor, w * factor
    room_h = max(1, (max_size - (rows - 1)) // rows)
    room_w = max(1, (max_size - (cols - 1)) // cols)
    if th > room_h or tw > room_w:
        shrink = min(room_h / th, room_w / tw)
        th, tw = max(1, int(th * shrink)), max(1, int(tw * shrink))
    return cols, th, tw


def grid_layout(
    count: int, h: int, w: int, strips: bool = False, min_tile: int = 16, max_size: int = 1024
) -> TileLayout:
    """The :class:`TileLayout` of ``count`` maps of ``h`` x ``w`` pixels (see
    :func:`tile_size`)."""
    cols, th, tw = tile_size(count, h, w, strips, min_tile, max_size)
    return TileLayout(count, cols, th, tw)
