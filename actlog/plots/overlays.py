"""Overlay figures: :func:`plot_overlays`."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from actlog.extract import extract
from actlog.geometry import layer_geometry
from actlog.images import display_image
from actlog.layers import LayerSpec, select_layers
from actlog.overlays import stretch_geometry, top_filters, upsample_map
from actlog.plots.common import maybe_show, one_sample, title_tile
from actlog.probe import first_input

#: Opacity of the hottest overlay heat (as in actlog's overlay images).
OVERLAY_STRENGTH = 0.7
OVERLAY_CMAP = "inferno"


def plot_overlays(
    model: keras.Model,
    x: Any,
    layers: LayerSpec = "conv",
    top_k: int = 3,
    sample: int = 0,
    show: bool = False,
) -> list[Figure]:
    """Per chosen layer with 2-D maps: the input image, then its ``top_k`` most active filters
    (highest mean activation on this sample, hottest first) as heatmaps over it.

    Each map is resampled (bilinear) to the input's pixels, aligned by receptive field
    (:func:`actlog.layer_geometry`: the kernel sizes, strides, dilation and padding of the layers
    on the way from the input); when a layer in between cannot be modelled (upsampling, a
    subclassed model) the map is stretched over the input instead, and the figure title says so.
    Each heatmap is scaled to its own min..max; its opacity grows with the heat, so cold regions
    show the input. Layers with 1-D or 3-D maps are left out.

    Args:
        model: a built Keras model whose (first) input is an image batch
            ``(batch, height, width, channels)``.
        x: an input batch in the form the model takes.
        layers: which layers (see :func:`actlog.select_layers`); default every conv layer.
        top_k: how many filters to overlay per layer.
        sample: which sample of ``x`` to show (negative counts from the end).
        show: also hand the figures to pyplot and call ``pyplot.show()``.

    Returns:
        One figure per layer with 2-D maps, in model order, labelled with the layer path; its
        subplots are the input, then the filters, titled ``"filter <index>"``.

    Raises:
        ValueError: an unknown layer, a sample index out of range, ``top_k`` below 1, an input
            that is not an image batch, or no chosen layer with 2-D maps.

    Example:
        ```python
        figures = actlog.plot_overlays(model, x_val[:8], layers="conv2d_1", top_k=4, sample=2)
        ```
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1; got {top_k!r}.")
    index, one = one_sample(x, sample)
    image = np.asarray(keras.ops.convert_to_numpy(first_input(one)))
    if image.ndim != 4:
        raise ValueError(
            "plot_overlays needs an image input (batch, height, width, channels) to draw on; the "
            f"model's first input has shape {(None, *image.shape[1:])}."
        )
    refs = {ref.path: ref for ref in select_layers(model, layers)}
    size = (int(image.shape[1]), int(image.shape[2]))
    base = display_image(image[0])
    figures = []
    for path, activation in extract(model, one, list(refs)).items():
        if activation.ndim != 4:
            continue
        maps = np.nan_to_num(activation[0].astype(np.float32))  # (h, w, filters)
        geometry = layer_geometry(model, refs[path], size)
        stretched = geometry is None
        if geometry is None:
            geometry = stretch_geometry(size, maps.shape[:2])
        k = min(top_k, maps.shape[-1])
        chosen = top_filters(maps, k)
        fig = Figure(figsize=(2.4 * (k + 1) + 0.4, 3.1), layout="constrained")
        axes = [fig.add_subplot(1, k + 1, i + 1) for i in range(k + 1)]
        _show_base(axes[0], base)
        title_tile(axes[0], f"input (sample {index})")
        for ax, filter_index in zip(axes[1:], chosen, strict=True):
            heat = upsample_map(maps[:, :, filter_index], size, geometry)
            lo, hi = float(heat.min()), float(heat.max())
            heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
            _show_base(ax, base)
            ax.imshow(
                heat,
                cmap=OVERLAY_CMAP,
                vmin=0.0,
                vmax=1.0,
                alpha=OVERLAY_STRENGTH * heat,
                interpolation="nearest",
            )
            title_tile(ax, f"filter {int(filter_index)}")
        how = "map stretched over the input" if stretched else "aligned by receptive field"
        fig.suptitle(
            f"{path}  {tuple(activation.shape[1:])}\n"
            f"the {k} most active filters (mean activation), {how}"
        )
        fig.set_label(path)
        figures.append(fig)
    if not figures:
        raise ValueError(
            "None of the chosen layers has 2-D feature maps (batch, height, width, channels) "
            f"to overlay on the input: {', '.join(refs)}."
        )
    return maybe_show(figures, show)


def _show_base(ax: Axes, base: np.ndarray) -> None:
    if base.ndim == 3:
        ax.imshow(base, interpolation="nearest")
    else:
        ax.imshow(base, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
