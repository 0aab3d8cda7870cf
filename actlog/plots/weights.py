"""Filter-weight figures: :func:`plot_weights`."""

from __future__ import annotations

import keras
import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from actlog.kernels import DEPTHWISE_TYPES, kernel_tiles, layer_kernel
from actlog.layers import LayerRef, LayerSpec, select_layers
from actlog.options import check_positive_int
from actlog.plots.common import (
    bar_shrink,
    grid_figure,
    maybe_show,
    named_colormap,
    shown_note,
    title_tile,
)


def plot_weights(
    model: keras.Model,
    layers: LayerSpec = "conv",
    max_filters: int | None = 64,
    cmap: str = "RdBu_r",
    show: bool = False,
) -> list[Figure]:
    """One figure per chosen layer with a kernel: its filters' weights, one subplot per filter.

    The colour scale is symmetric around 0: the bar runs from ``-m`` to ``+m``, ``m`` the largest
    |weight| shown, so a diverging colour map (the default ``"RdBu_r"``) shows the sign. A
    kernel with 3 input channels (the first layer of an RGB model) is shown in colour: each
    channel's weight is its red, green or blue intensity (0 = mid-grey), and the bar is grey.
    Other kernels show the mean over their input channels. Depthwise kernels (DepthwiseConv,
    SeparableConv) show one subplot per (input channel, multiplier) pair; 1-D kernels are strips;
    3-D kernels are averaged over depth. Chosen layers without a kernel (pooling, activations)
    are left out.

    Args:
        model: a built Keras model.
        layers: which layers (see :func:`actlog.select_layers`); default every conv layer.
        max_filters: show the first this many filters; None shows all.
        cmap: a matplotlib colour map name for single-channel tiles.
        show: also hand the figures to pyplot and call ``pyplot.show()``.

    Returns:
        One figure per layer with a kernel, in model order, labelled with the layer path.

    Raises:
        ValueError: an unknown layer, an unbuilt model, or no chosen layer with a kernel.

    Example:
        ```python
        (fig,) = actlog.plot_weights(model, layers="conv2d")
        fig.savefig("conv2d_weights.png")
        ```
    """
    check_positive_int("max_filters", max_filters, allow_none=True)
    colormap = named_colormap(cmap)
    _check_built(model)
    refs = select_layers(model, layers)
    figures = []
    for ref in refs:
        kernel = layer_kernel(ref.layer)
        if kernel is None:
            continue
        figures.append(_weights_figure(ref, kernel, max_filters, colormap))
    if not figures:
        raise ValueError(
            "None of the chosen layers has a kernel to plot: "
            f"{', '.join(ref.path for ref in refs)}. Choose convolution layers."
        )
    return maybe_show(figures, show)


def _weights_figure(
    ref: LayerRef, kernel: np.ndarray, max_filters: int | None, colormap: Colormap
) -> Figure:
    total = int(kernel.shape[-1])
    tiles = kernel_tiles(np.nan_to_num(kernel), max_filters)
    strips = kernel.ndim == 3
    count, h, w = tiles.shape[:3]
    inputs = kernel.shape[-2]
    rgb = tiles.ndim == 4
    largest = float(np.abs(tiles).max()) if tiles.size else 0.0
    m = largest if largest > 0 else 1.0
    fig, axes = grid_figure(count, h, w, strips)
    for i, ax in enumerate(axes):
        aspect = "auto" if strips else "equal"
        if rgb:
            picture = np.clip(0.5 + 0.5 * tiles[i] / m, 0.0, 1.0)
            ax.imshow(picture, interpolation="nearest", aspect=aspect)
        else:
            ax.imshow(
                tiles[i], cmap=colormap, vmin=-m, vmax=m, interpolation="nearest", aspect=aspect
            )
        title_tile(ax, str(i))
    if rgb:
        bar_map, label, how = colormaps["gray"], "weight per colour channel", "RGB"
    else:
        bar_map, label = colormap, "weight"
        how = f"mean over {inputs} input channels" if inputs > 1 else ""
        if inputs > 1:
            label = "weight (mean over input channels)"
    fig.colorbar(
        ScalarMappable(Normalize(-m, m), bar_map), ax=axes, label=label, shrink=bar_shrink(axes)
    )
    notes = [how] if how else []
    if isinstance(ref.layer, DEPTHWISE_TYPES):
        notes.append("depthwise: one filter per (channel, multiplier)")
    if kernel.ndim == 5:
        notes.append("mean over depth")
    notes += shown_note(count, total)
    heading = f"{ref.path}  kernel {tuple(kernel.shape)}"
    fig.suptitle(f"{heading}\n{', '.join(notes)}" if notes else heading)
    fig.set_label(ref.path)
    return fig


def _check_built(model: keras.Model) -> None:
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built yet: call it on data or fit it first, or give "
            "it a keras.Input."
        )
