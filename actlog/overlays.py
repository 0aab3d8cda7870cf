"""Overlays: which region of the input turned a filter on. Pure NumPy, no I/O.

A feature map's cell ``j`` looks at the input around ``offset + stride * j`` (a
:class:`Geometry`, per spatial axis; :mod:`actlog.geometry` finds it for a model's layer).
:func:`overlay_images` resamples the maps to the input's pixels with that alignment (bilinear)
and blends them as heatmaps over the input image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actlog.images import colormap_lut, display_image, resize_nearest, tile
from actlog.layout import TileLayout, grid_layout


@dataclass(frozen=True)
class Geometry:
    """Map cell ``j`` is centred on input pixel ``offset + stride * j``, per spatial axis."""

    stride: tuple[float, float]
    offset: tuple[float, float]


def stretch_geometry(input_size: tuple[int, int], map_size: tuple[int, int]) -> Geometry:
    """The fallback when the layers in between are unknown: the map spans the input evenly."""
    stride = tuple(i / m for i, m in zip(input_size, map_size, strict=True))
    return Geometry(stride, tuple((s - 1) / 2 for s in stride))  # type: ignore[arg-type]



def _bilinear_matrix(out_size: int, in_size: int, stride: float, offset: float) -> np.ndarray:
    """Weights ``(out_size, in_size)`` sampling a map of ``in_size`` cells at input pixels."""
    position = np.clip((np.arange(out_size) - offset) / stride, 0, in_size - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, in_size - 1)
    frac = position - low
    weights = np.zeros((out_size, in_size), np.float32)
    weights[np.arange(out_size), low] += 1 - frac
    weights[np.arange(out_size), high] += frac
    return weights


def upsample_map(feature_map: np.ndarray, input_size: tuple[int, int], geometry: Geometry):
    """A 2-D map resampled (bilinear) to the input's pixels, aligned by ``geometry``."""
    rows = _bilinear_matrix(input_size[0], feature_map.shape[0], geometry.stride[0],
                            geometry.offset[0])  # fmt: skip
    cols = _bilinear_matrix(input_size[1], feature_map.shape[1], geometry.stride[1],
                            geometry.offset[1])  # fmt: skip
    return rows @ feature_map.astype(np.float32) @ cols.T


def overlay_images(
    inputs: np.ndarray,
    activation: np.ndarray,
    top_k: int,
    geometry: Geometry,
    cmap: str = "inferno",
    strength: float = 0.7,
    min_tile_size: int = 16,
    max_image_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """For each probe sample, its ``top_k`` most active filters (highest mean activation) as
    heatmaps over the input, tiled in a row.

    Args:
        inputs: the probe images ``(batch, H, W, channels)``, any range (shown by each image's
            own min and max; 3 channels in colour, others in grey from the first channel).
        activation: the layer's maps ``(batch, h, w, filters)``.
        top_k: filters per sample.
        geometry: map-to-input alignment (:func:`layer_geometry`).
        cmap: the heatmap's colour map.
        strength: how opaque the hottest heat is (0..1); cold regions show the input.

    Returns:
        uint8 images ``(batch, height, width, 3)`` and the chosen filter indices
        ``(batch, top_k)``, hottest first.
    """
    batch, height, width = inputs.shape[:3]
    maps = np.nan_to_num(np.asarray(activation, np.float32))
    k = min(top_k, maps.shape[-1])
    chosen = top_filters(maps, k)
    lut = colormap_lut(cmap).astype(np.float32)
    tiles = np.empty((batch, k, height, width, 3), np.uint8)
    for b in range(batch):
        base = display_image(inputs[b], rgb=True) * 255.0
        for slot, index in enumerate(chosen[b]):
            heat = upsample_map(maps[b, :, :, index], (height, width), geometry)
            lo, hi = heat.min(), heat.max()
            heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
            alpha = (strength * heat)[..., None]
            colour = lut[(heat * 255 + 0.5).astype(np.uint8)]
            tiles[b, slot] = (base * (1 - alpha) + colour * alpha + 0.5).astype(np.uint8)
    layout = overlay_layout(k, height, width, min_tile_size, max_image_size)
    return tile(resize_nearest(tiles, layout.height, layout.width), layout.cols), chosen


def overlay_layout(
    k: int, height: int, width: int, min_tile_size: int = 16, max_image_size: int = 1024
) -> TileLayout:
    """Where :func:`overlay_images` puts each of a sample's ``k`` heatmaps over an input of
    ``height`` x ``width`` pixels: in one row where it fits."""
    # Inputs are often small (28x28): overlays are drawn at least 96 pixels high.
    layout = grid_layout(k, height, width, False, max(min_tile_size, 96), max_image_size)
    if k * (layout.width + 1) - 1 <= max_image_size:
        return TileLayout(k, k, layout.height, layout.width)
    return layout


def top_filters(maps: np.ndarray, k: int) -> np.ndarray:
    """The indices of the ``k`` most active filters of maps ``(..., h, w, filters)``: highest
    mean activation first, ties by index; shape ``(..., min(k, filters))``."""
    return np.argsort(-maps.mean(axis=(-3, -2)), axis=-1, kind="stable")[..., :k]
