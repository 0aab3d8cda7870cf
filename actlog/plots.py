"""Matplotlib figures for notebooks: feature maps, filter weights, overlays, maximized inputs.

Every function builds :class:`matplotlib.figure.Figure` objects directly (never through pyplot),
so nothing here opens a window, switches the backend or registers figures with pyplot: the
figures are returned, and a notebook shows a returned figure when it is a cell's result
(``fig``), or save it with ``fig.savefig("conv2d.png")``. Only ``show=True`` imports pyplot, hands
the figures to it and calls ``pyplot.show()``.

The pictures follow actlog's TensorBoard images: filters are the first ``max_filters`` by
index, tiled row-major in a near-square grid; NaN and infinite values are magenta; 1-D maps are
strips and 3-D maps their maximum over depth (see :mod:`actlog.images`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from actlog.extract import extract
from actlog.geometry import layer_geometry
from actlog.images import NONFINITE_RGB, check_cmap, check_normalize, feature_maps, value_range
from actlog.kernels import DEPTHWISE_TYPES, layer_kernel
from actlog.layers import LayerRef, LayerSpec, select_layers
from actlog.overlays import stretch_geometry, upsample_map

__all__ = ["plot_activations", "plot_maximized", "plot_overlays", "plot_weights"]

#: Label of the colour bar under ``normalize="filter"``.
FILTER_SCALE_LABEL = "each filter scaled to its own min..max"
#: Opacity of the hottest overlay heat (as in actlog's overlay images).
OVERLAY_STRENGTH = 0.7
OVERLAY_CMAP = "inferno"


def plot_activations(
    model: keras.Model,
    x: Any,
    layers: LayerSpec = "conv",
    sample: int = 0,
    normalize: str = "filter",
    max_filters: int | None = 64,
    cmap: str = "viridis",
    show: bool = False,
) -> list[Figure]:
    """One figure per chosen layer: the feature maps of one input sample, one subplot per filter.

    Each subplot is titled with its filter index (the first ``max_filters`` filters, row-major in
    a near-square grid) and holds the map's real values, so a notebook's cursor reads them. One
    colour bar per figure matches the normalization:

    * ``"filter"``: each map is coloured by its own min..max (every pattern visible, however
      weak); the bar runs 0..1 and says so. A constant map (a dead filter) is the map's
      darkest colour.
    * ``"layer"`` (and ``"fixed"``, which in a single plot has no earlier scale to freeze): one
      scale for all the shown maps, the layer's min..max on this sample, so weak and dead filters
      look dark; the bar shows those values.

    1-D maps (Conv1D) are strips; 3-D maps (Conv3D) are their maximum over depth. NaN and
    infinite values are magenta.

    Args:
        model: a built Keras model (any kind :func:`actlog.extract` takes).
        x: an input batch in the form the model takes (array, or list/dict for several inputs).
        layers: which layers (see :func:`actlog.select_layers`); default every conv layer.
        sample: which sample of ``x`` to show (negative counts from the end).
        normalize: ``"filter"``, ``"layer"`` or ``"fixed"``.
        max_filters: show the first this many filters; None shows all.
        cmap: a matplotlib colour map name.
        show: also hand the figures to pyplot and call ``pyplot.show()``.

    Returns:
        One figure per layer, in model order; each figure's label (``fig.get_label()``) is the
        layer path.

    Raises:
        ValueError: an unknown layer, a sample index out of range, a bad option, or a layer
            whose output is not a feature map.

    Example:
        ```python
        figures = actlog.plot_activations(model, x_val[:8], layers="conv2d", sample=3)
        figures[0].savefig("conv2d_sample3.png")
        ```
    """
    check_normalize(normalize)
    _check_max_filters(max_filters)
    colormap = _colormap(cmap)
    index, one = _one_sample(x, sample)
    figures = []
    for path, activation in extract(model, one, layers).items():
        total = int(activation.shape[-1])
        maps = feature_maps(activation, max_filters)  # (1, filters, h, w)
        count, h, w = maps.shape[1:]
        strips = activation.ndim == 3
        fig, axes = _grid_figure(count, h, w, strips)
        if normalize == "filter":
            (lo, hi), _ = value_range(maps, "filter")
            limits = [_limits(lo[0, i, 0, 0], hi[0, i, 0, 0]) for i in range(count)]
            bar_norm, bar_label = Normalize(0.0, 1.0), FILTER_SCALE_LABEL
        else:
            (lo, hi), _ = value_range(maps, "layer")
            layer_limits = _limits(lo.item(), hi.item(), widen=True)
            limits = [layer_limits] * count
            bar_norm = Normalize(*layer_limits)
            bar_label = f"activation: the layer's min..max on sample {index}"
        for i, ax in enumerate(axes):
            vmin, vmax = limits[i]
            ax.imshow(
                maps[0, i],
                cmap=colormap,
                vmin=vmin,
                vmax=vmax,
                interpolation="nearest",
                aspect="auto" if strips else "equal",
            )
            _title_tile(ax, str(i))
        fig.colorbar(
            ScalarMappable(bar_norm, colormap), ax=axes, label=bar_label, shrink=_bar_shrink(axes)
        )
        notes = [f"sample {index}", *_shown_note(count, total)]
        if activation.ndim == 5:
            notes.append("max over depth")
        fig.suptitle(f"{path}  {tuple(activation.shape[1:])}\n{', '.join(notes)}")
        fig.set_label(path)
        figures.append(fig)
    return _maybe_show(figures, show)


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
    _check_max_filters(max_filters)
    colormap = _colormap(cmap)
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
    return _maybe_show(figures, show)


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
    index, one = _one_sample(x, sample)
    image = np.asarray(keras.ops.convert_to_numpy(_first_input(one)))
    if image.ndim != 4:
        raise ValueError(
            "plot_overlays needs an image input (batch, height, width, channels) to draw on; the "
            f"model's first input has shape {(None, *image.shape[1:])}."
        )
    refs = {ref.path: ref for ref in select_layers(model, layers)}
    size = (int(image.shape[1]), int(image.shape[2]))
    base = _display_image(image[0])
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
        chosen = np.argsort(-maps.mean(axis=(0, 1)), kind="stable")[:k]
        fig = Figure(figsize=(2.4 * (k + 1) + 0.4, 3.1), layout="constrained")
        axes = [fig.add_subplot(1, k + 1, i + 1) for i in range(k + 1)]
        _show_base(axes[0], base)
        _title_tile(axes[0], f"input (sample {index})")
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
            _title_tile(ax, f"filter {int(filter_index)}")
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
    return _maybe_show(figures, show)


def plot_maximized(
    images: np.ndarray,
    filters: Sequence[int] | None = None,
    title: str | None = None,
    show: bool = False,
) -> Figure:
    """A grid of images, one per filter: the inputs that maximize each filter's activation.

    Takes the output of an activation-maximization routine; this function only draws it.

    Args:
        images: ``(n, height, width, channels)`` with 1 (grey) or 3 (RGB) channels, or
            ``(n, height, width)`` for grey: floats in [0, 1] (values outside are clipped, NaN
            drawn as 0) or uint8.
        filters: the filter index of each image, for the subplot titles; default ``0..n-1``.
        title: the figure title.
        show: also hand the figure to pyplot and call ``pyplot.show()``.

    Returns:
        The figure: ``n`` subplots titled ``"filter <index>"``.

    Raises:
        ValueError: for images of another shape, or ``filters`` of another length.

    Example:
        ```python
        fig = actlog.plot_maximized(images, filters=[0, 5, 9], title="conv2d_1")
        fig.savefig("conv2d_1_maximized.png")
        ```
    """
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or array.shape[0] == 0:
        raise ValueError(
            "images must be a non-empty (n, height, width, channels) array with 1 or 3 channels "
            f"(or (n, height, width) for grey); got shape {np.shape(images)}."
        )
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"images must be float in [0, 1] or uint8; got dtype {array.dtype}.")
    count = array.shape[0]
    labels = list(range(count)) if filters is None else [operator.index(f) for f in filters]
    if len(labels) != count:
        raise ValueError(f"filters has {len(labels)} entries for {count} images.")
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0)
    top = 255 if array.dtype == np.uint8 else 1.0
    fig, axes = _grid_figure(count, array.shape[1], array.shape[2], False, tile_inches=1.8)
    for ax, picture, label in zip(axes, array, labels, strict=True):
        if picture.shape[-1] == 3:
            ax.imshow(picture, interpolation="nearest")
        else:
            ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=top, interpolation="nearest")
        _title_tile(ax, f"filter {label}")
    if title is not None:
        fig.suptitle(title)
        fig.set_label(title)
    return _maybe_show([fig], show)[0]


# --- helpers -----------------------------------------------------------------------------------


def _weights_figure(
    ref: LayerRef, kernel: np.ndarray, max_filters: int | None, colormap: Colormap
) -> Figure:
    total = int(kernel.shape[-1])
    k = np.nan_to_num(kernel[..., :max_filters].astype(np.float32))
    strips = k.ndim == 3
    if strips:
        k = k[None]
    elif k.ndim == 5:
        k = k.mean(axis=0)
    h, w, inputs, count = k.shape
    rgb = inputs == 3
    tiles = k.transpose(3, 0, 1, 2) if rgb else k.mean(axis=2).transpose(2, 0, 1)
    largest = float(np.abs(tiles).max()) if tiles.size else 0.0
    m = largest if largest > 0 else 1.0
    fig, axes = _grid_figure(count, h, w, strips)
    for i, ax in enumerate(axes):
        aspect = "auto" if strips else "equal"
        if rgb:
            picture = np.clip(0.5 + 0.5 * tiles[i] / m, 0.0, 1.0)
            ax.imshow(picture, interpolation="nearest", aspect=aspect)
        else:
            ax.imshow(
                tiles[i], cmap=colormap, vmin=-m, vmax=m, interpolation="nearest", aspect=aspect
            )
        _title_tile(ax, str(i))
    if rgb:
        bar_map, label, how = colormaps["gray"], "weight per colour channel", "RGB"
    else:
        bar_map, label = colormap, "weight"
        how = f"mean over {inputs} input channels" if inputs > 1 else ""
        if inputs > 1:
            label = "weight (mean over input channels)"
    fig.colorbar(
        ScalarMappable(Normalize(-m, m), bar_map), ax=axes, label=label, shrink=_bar_shrink(axes)
    )
    notes = [how] if how else []
    if isinstance(ref.layer, DEPTHWISE_TYPES):
        notes.append("depthwise: one filter per (channel, multiplier)")
    if kernel.ndim == 5:
        notes.append("mean over depth")
    notes += _shown_note(count, total)
    heading = f"{ref.path}  kernel {tuple(kernel.shape)}"
    fig.suptitle(f"{heading}\n{', '.join(notes)}" if notes else heading)
    fig.set_label(ref.path)
    return fig


def _grid_figure(
    count: int, h: int, w: int, strips: bool, tile_inches: float | None = None
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``count`` axes (axes off) in a near-square grid."""
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    tile_w = tile_inches or min(1.6, max(0.8, 10.0 / cols))
    tile_h = tile_w * (0.3 if strips else min(2.0, max(0.5, h / w)))
    # At least 3.6 inches high, so that a colour bar's label fits beside one row of strips.
    figsize = (cols * tile_w + 1.3, max(3.6, rows * (tile_h + 0.25) + 0.8))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(count)]
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def _title_tile(ax: Axes, text: str) -> None:
    ax.set_title(text, fontsize=8, pad=2)


def _bar_shrink(axes: list[Axes]) -> float:
    return 1.0 if len(axes) <= 4 else 0.8


def _shown_note(count: int, total: int) -> list[str]:
    return [f"filters 0-{count - 1} of {total}"] if count < total else []


def _limits(lo: float, hi: float, widen: bool = False) -> tuple[float, float]:
    """Colour limits from a value range: (0, 1) when it holds no finite value; with ``widen``,
    a constant range becomes one unit wide (a colour bar needs distinct limits)."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if widen and hi <= lo:
        return lo, lo + 1.0
    return lo, hi


def _colormap(name: str) -> Colormap:
    """The named colour map, with NaN and infinite values drawn in :data:`NONFINITE_RGB`."""
    if not isinstance(name, str):
        raise ValueError(f"cmap must be a matplotlib colour map name; got {name!r}.")
    check_cmap(name)
    bad = tuple(c / 255 for c in NONFINITE_RGB)
    return colormaps[name].with_extremes(bad=bad)


def _check_max_filters(max_filters: int | None) -> None:
    if max_filters is None:
        return
    if isinstance(max_filters, bool) or not isinstance(max_filters, int) or max_filters < 1:
        raise ValueError(f"max_filters must be an integer >= 1 or None; got {max_filters!r}.")


def _check_built(model: keras.Model) -> None:
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built yet: call it on data or fit it first, or give "
            "it a keras.Input."
        )


def _batch_size(x: Any) -> int:
    leaves = keras.tree.flatten(x)
    shape = getattr(leaves[0], "shape", None) if leaves else None
    if not shape:
        raise ValueError(
            "x must be an input batch (an array, or a list or dict of arrays) with the batch "
            f"axis first; got {type(x).__name__}."
        )
    return int(shape[0])


def _one_sample(x: Any, sample: int) -> tuple[int, Any]:
    """The sample index (made non-negative) and ``x`` cut down to that one sample."""
    try:
        index = operator.index(sample)
    except TypeError:
        raise ValueError(f"sample must be an integer index; got {sample!r}.") from None
    if isinstance(sample, bool):
        raise ValueError(f"sample must be an integer index; got {sample!r}.")
    count = _batch_size(x)
    if not -count <= index < count:
        raise ValueError(
            f"sample {index} is out of range: x holds {count} sample"
            f"{'s' if count != 1 else ''} (valid indices 0..{count - 1}, or negative from the end)."
        )
    index %= count
    return index, keras.tree.map_structure(lambda a: a[index : index + 1], x)


def _first_input(x: Any) -> Any:
    if isinstance(x, dict):
        return next(iter(x.values()))
    return x[0] if isinstance(x, list | tuple) else x


def _display_image(image: np.ndarray) -> np.ndarray:
    """An input image ``(H, W, C)`` scaled to [0, 1] by its own min..max: RGB for 3 channels,
    else the first channel as ``(H, W)``."""
    picture = np.nan_to_num(np.asarray(image, np.float32))
    picture = picture if picture.shape[-1] == 3 else picture[..., 0]
    lo, hi = float(picture.min()), float(picture.max())
    return (picture - lo) / (hi - lo) if hi > lo else np.zeros_like(picture)


def _show_base(ax: Axes, base: np.ndarray) -> None:
    if base.ndim == 3:
        ax.imshow(base, interpolation="nearest")
    else:
        ax.imshow(base, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def _maybe_show(figures: list[Figure], show: bool) -> list[Figure]:
    """With ``show``, hands the figures to pyplot and shows them (the only use of pyplot)."""
    if show:
        import matplotlib.pyplot as plt

        for fig in figures:
            _adopt(plt, fig)
        plt.show()
    return figures


def _adopt(plt: Any, fig: Figure) -> None:
    """Registers a standalone figure with pyplot."""
    try:
        plt.figure(fig)  # matplotlib >= 3.11 adopts a standalone Figure
        return
    except (TypeError, ValueError):
        pass
    # Older matplotlib: give the figure the canvas of a fresh pyplot figure.
    manager = plt.figure().canvas.manager
    manager.canvas.figure = fig
    fig.set_canvas(manager.canvas)
