"""Feature maps to images: normalization, upscaling, colour maps and tiling. Pure NumPy, no I/O.

One grid per probe sample: the layer's filters tiled row-major into a near-square grid with
1-pixel separators. How maps of each rank become tiles:

* 2-D maps ``(batch, h, w, channels)``: one tile per filter.
* 1-D maps ``(batch, length, channels)``: one heat strip per filter, stacked top to bottom.
* 3-D maps ``(batch, depth, h, w, channels)``: the maximum over depth (a maximum-intensity
  projection), then as 2-D. A sequence of 2-D maps ``(batch, time, h, w, channels)``
  (``TimeDistributed(Conv2D)``, ``ConvLSTM2D(return_sequences=True)``) is projected the same
  way, over time; a sequence of 3-D maps (``ConvLSTM3D``) over time and depth. A sequence of
  1-D maps ``(batch, time, length, channels)`` is shown as 2-D maps, time down, length across.

Normalization modes (each maps values to [0, 1]; a constant map becomes 0, never NaN):

* ``"filter"``: each map of each probe sample by its own min and max. Shows the pattern of every
  filter, however weak.
* ``"layer"``: one min and max per layer and probe sample, so weak and dead filters look dark.
* ``"fixed"``: like ``"layer"``, but each probe sample's scale is frozen at the first logged
  event (values outside it saturate), so brightening or fading over epochs is real.

NaN and infinite values are left out of the scale, counted, and drawn in :data:`NONFINITE_RGB`
(the image becomes RGB for that event).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from actlog.layout import TileLayout, grid_layout

NORMALIZATIONS = ("filter", "layer", "fixed")
#: Colour of NaN and infinite values.
NONFINITE_RGB = (255, 0, 255)
#: Colour of the frame around marked (dead) filters.
MARK_RGB = (255, 40, 40)
#: Grey level of the separators between tiles and of empty grid cells.
SEPARATOR_GRAY = 128

Scale = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Grids:
    """The images of one layer for one logging event.

    Attributes:
        images: uint8 array ``(probe samples, height, width, 1 or 3)``.
        filters_shown: how many filters are tiled (the first ones, by index).
        filters_total: how many filters the layer has.
        nonfinite: how many NaN or infinite values the shown maps held.
        layout: where each filter's tile sits in every sample's grid.
    """

    images: np.ndarray
    filters_shown: int
    filters_total: int
    nonfinite: int
    layout: TileLayout | None = None


def check_normalize(mode: str) -> None:
    """Raises ValueError unless ``mode`` is one of :data:`NORMALIZATIONS`."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}; got {mode!r}.")


def check_cmap(name: str | None) -> None:
    """Raises ValueError unless ``name`` is None (grey) or a matplotlib colour map name."""
    if name is not None:
        colormap_lut(name)


@functools.lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """A matplotlib colour map as a ``(256, 3)`` uint8 lookup table."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(matplotlib.colormaps), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown colour map {name!r}.{hint} Use a matplotlib colour map name "
            "(e.g. 'viridis', 'magma', 'gray') or None for greyscale."
        ) from None
    lut = cmap(np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(lut * 255).astype(np.uint8)


def feature_maps(activation: np.ndarray, max_filters: int | None = None) -> np.ndarray:
    """Channels-last activations to float32 maps ``(batch, filters, h, w)``.

    1-D maps become ``(batch, filters, 1, length)``; 3-D maps (and sequences of 2-D or 3-D
    maps) are projected by their maximum over the leading axes (depth, time). Only the first
    ``max_filters`` filters are kept.

    Raises:
        ValueError: for arrays that are not ``(batch, spatial..., channels)`` with 1 to 4
            axes between batch and channels.
    """
    a = np.asarray(activation)
    if not 3 <= a.ndim <= 6:
        raise ValueError(
            f"Expected a feature map (batch, spatial..., channels) with 1 to 4 axes between "
            f"batch and channels; got shape {a.shape}."
        )
    if max_filters is not None:
        a = a[..., :max_filters]
    if a.ndim > 4:
        a = a.max(axis=tuple(range(1, a.ndim - 3)))
    maps = a.transpose(0, 2, 1)[:, :, None, :] if a.ndim == 3 else a.transpose(0, 3, 1, 2)
    return maps.astype(np.float32, copy=False)


def value_range(maps: np.ndarray, mode: str) -> tuple[Scale, bool]:
    """Per-map (``"filter"``) or per-sample (``"layer"``, ``"fixed"``) min and max of the
    finite values, shaped to broadcast against ``maps``, and whether every value is finite.
    All-NaN slices give NaN."""
    axes = (2, 3) if mode == "filter" else (1, 2, 3)
    lo, hi = maps.min(axis=axes, keepdims=True), maps.max(axis=axes, keepdims=True)
    if np.isfinite(lo).all() and np.isfinite(hi).all():  # then no value is NaN or infinite
        return (lo, hi), True
    finite = np.where(np.isfinite(maps), maps, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        lo = np.nanmin(finite, axis=axes, keepdims=True)
        return (lo, np.nanmax(finite, axis=axes, keepdims=True)), False


def freeze_scale(frozen: Scale | None, current: Scale) -> Scale:
    """The ``"fixed"`` scale: the first one seen, except where it was empty or constant."""
    if frozen is None or frozen[0].shape != current[0].shape:
        return current
    usable = frozen[1] > frozen[0]
    return np.where(usable, frozen[0], current[0]), np.where(usable, frozen[1], current[1])


def normalize_maps(
    maps: np.ndarray, scale: Scale, all_finite: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scales maps to uint8 0..255 by ``(lo, hi)``, clipping outside it.

    Args:
        maps: float maps.
        scale: ``(lo, hi)``, broadcastable against ``maps``.
        all_finite: the caller knows every value is finite (skips the NaN handling).

    Returns:
        The uint8 maps, and a boolean mask of non-finite values (None when there are none).
        Maps whose range is empty or constant become 0.
    """
    lo, hi = scale
    span = hi - lo
    usable = span > 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factor = np.where(usable, 255.0 / np.where(usable, span, 1.0), 0.0)
        unit = np.subtract(maps, np.where(usable, lo, 0.0), dtype=np.float32)
        unit *= factor
    mask = None
    if not all_finite:
        np.nan_to_num(unit, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        nonfinite = ~np.isfinite(maps)
        if nonfinite.any():
            mask = nonfinite
            unit[mask] = 0.0
    np.clip(unit, 0.0, 255.0, out=unit)
    unit += 0.5
    return unit.astype(np.uint8), mask


def colorize(values: np.ndarray, cmap: str | None, mask: np.ndarray | None) -> np.ndarray:
    """uint8 maps ``(..., h, w)`` to images ``(..., h, w, 1 or 3)``; masked pixels in
    :data:`NONFINITE_RGB`."""
    if cmap is not None:
        images = colormap_lut(cmap)[values]
    elif mask is not None:
        images = np.repeat(values[..., None], 3, axis=-1)
    else:
        return values[..., None]
    if mask is not None:
        images[mask] = NONFINITE_RGB
    return images


def display_image(image: np.ndarray, rgb: bool = False) -> np.ndarray:
    """An input image ``(H, W, C)`` or ``(H, W)`` scaled to [0, 1] by its own min..max (NaN is 0;
    a constant image is all 0): 3 channels as RGB ``(H, W, 3)``, others the first channel as
    ``(H, W)``, or with ``rgb`` that channel repeated to ``(H, W, 3)``."""
    picture = np.nan_to_num(np.asarray(image, np.float32))
    if picture.ndim == 3 and picture.shape[-1] != 3:
        picture = picture[..., 0]
    lo, hi = float(picture.min()), float(picture.max())
    unit = (picture - lo) / (hi - lo) if hi > lo else np.zeros_like(picture)
    return np.repeat(unit[..., None], 3, axis=-1) if rgb and unit.ndim == 2 else unit


def resize_nearest(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of ``(..., h, w, c)`` images (an integer factor repeats pixels
    exactly)."""
    h, w = images.shape[-3], images.shape[-2]
    if (h, w) == (height, width):
        return images
    rows = np.arange(height) * h // height
    cols = np.arange(width) * w // width
    return images[..., rows[:, None], cols[None, :], :]


def mark_tiles(tiles: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Frames tiles ``(batch, n, h, w, c)`` at ``indices`` with a 1-pixel :data:`MARK_RGB`
    border (tiles of 2 pixels or less are filled), returning RGB tiles."""
    rgb = np.repeat(tiles, 3, axis=-1) if tiles.shape[-1] == 1 else tiles.copy()
    for index in indices:
        framed = rgb[:, index]  # a view: (batch, h, w, 3)
        framed[:, 0] = framed[:, -1] = MARK_RGB
        framed[:, :, 0] = framed[:, :, -1] = MARK_RGB
    return rgb


def tile(tiles: np.ndarray, cols: int, fill: int = SEPARATOR_GRAY) -> np.ndarray:
    """Tiles ``(batch, n, h, w, c)`` row-major into ``(batch, H, W, c)`` grids with 1-pixel
    separators of value ``fill``; empty cells take ``fill`` too."""
    batch, count, h, w, channels = tiles.shape
    rows = math.ceil(count / cols)
    canvas = np.full((batch, rows * cols, h + 1, w + 1, channels), fill, dtype=np.uint8)
    canvas[:, :count, :h, :w] = tiles
    grid = canvas.reshape(batch, rows, cols, h + 1, w + 1, channels)
    grid = grid.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows * (h + 1), cols * (w + 1), channels)
    return np.ascontiguousarray(grid[:, :-1, :-1])


def image_grid(
    images: np.ndarray,
    marked: Sequence[int] = (),
    min_tile_size: int = 16,
    max_image_size: int = 1024,
) -> np.ndarray:
    """Tiles uint8 images ``(n, h, w, c)`` (c 1 or 3) into one grid ``(1, H, W, c or 3)``,
    upscaled and capped like the activation grids, ``marked`` ones framed."""
    count, h, w = images.shape[:3]
    layout = grid_layout(count, h, w, False, min_tile_size, max_image_size)
    tiles = resize_nearest(images[None], layout.height, layout.width)
    if len(marked):
        tiles = mark_tiles(tiles, marked)
    return tile(tiles, layout.cols)


def render_grids(
    activation: np.ndarray,
    normalize: str = "filter",
    max_filters: int | None = 64,
    cmap: str | None = None,
    min_tile_size: int = 16,
    max_image_size: int = 1024,
    scale: Scale | None = None,
    marked: Sequence[int] | None = None,
) -> tuple[Grids, Scale]:
    """One image grid per probe sample for one layer's activations.

    Args:
        activation: channels-last array ``(batch, spatial..., channels)``.
        normalize: ``"filter"``, ``"layer"`` or ``"fixed"`` (see the module docstring).
        max_filters: show the first this many filters (by index, so every tile keeps its place
            from one epoch to the next); None shows all.
        cmap: a matplotlib colour map name; None for greyscale.
        min_tile_size: maps smaller than this are upscaled (integer nearest-neighbour factor).
        max_image_size: the largest height and width of a grid, in pixels.
        scale: for ``"fixed"``, the frozen scale returned by an earlier call.
        marked: filter indices to frame in :data:`MARK_RGB` (dead filters); the image becomes
            RGB when there are any.

    Returns:
        The grids, and the scale to pass back next time for ``"fixed"`` normalization.

    Example:
        ```python
        grids, _ = render_grids(maps["conv2d"], normalize="layer", cmap="magma")
        grids.images.shape  # (probe samples, height, width, 3)
        ```
    """
    check_normalize(normalize)
    total = int(np.shape(activation)[-1])
    maps = feature_maps(activation, max_filters)
    current, all_finite = value_range(maps, normalize)
    used = freeze_scale(scale, current) if normalize == "fixed" else current
    values, mask = normalize_maps(maps, used, all_finite)
    images = colorize(values, cmap, mask)
    count, h, w = maps.shape[1:]
    layout = grid_layout(count, h, w, np.ndim(activation) == 3, min_tile_size, max_image_size)
    tiles = resize_nearest(images, layout.height, layout.width)
    marked = [i for i in (marked or ()) if i < count]
    if marked:
        tiles = mark_tiles(tiles, marked)
    grids = tile(tiles, layout.cols)
    nonfinite = 0 if mask is None else int(np.count_nonzero(mask))
    return Grids(grids, count, total, nonfinite, layout), used


class GridRenderer:
    """:func:`render_grids` with fixed options, remembering each layer's frozen scale.

    Args: as :func:`render_grids`.

    Example:
        ```python
        renderer = GridRenderer(normalize="fixed")
        for epoch_maps in history:
            grids = renderer.render("conv2d", epoch_maps["conv2d"])
        ```
    """

    def __init__(
        self,
        normalize: str = "filter",
        max_filters: int | None = 64,
        cmap: str | None = None,
        min_tile_size: int = 16,
        max_image_size: int = 1024,
    ) -> None:
        check_normalize(normalize)
        check_cmap(cmap)
        self.normalize = normalize
        self.max_filters = max_filters
        self.cmap = cmap
        self.min_tile_size = min_tile_size
        self.max_image_size = max_image_size
        self._scales: dict[str, Scale] = {}

    def render(
        self,
        key: str,
        activation: np.ndarray,
        marked: Sequence[int] | None = None,
        max_image_size: int | None = None,
    ) -> Grids:
        """The grids for layer ``key``; with ``"fixed"``, its scale is frozen at the first call.
        ``marked`` filters are framed (see :func:`render_grids`); ``max_image_size`` lowers the
        renderer's own for this call."""
        grids, scale = render_grids(
            activation,
            self.normalize,
            self.max_filters,
            self.cmap,
            self.min_tile_size,
            min(self.max_image_size, max_image_size or self.max_image_size),
            self._scales.get(key),
            marked,
        )
        if self.normalize == "fixed":
            self._scales[key] = scale
        return grids
