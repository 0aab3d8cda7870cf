"""Feature-map figures: :func:`plot_activations`."""

from __future__ import annotations

import math
from typing import Any

import keras
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from actlog.extract import extract
from actlog.images import check_normalize, feature_maps, value_range
from actlog.layers import LayerSpec
from actlog.options import check_positive_int
from actlog.plots.common import (
    bar_shrink,
    grid_figure,
    maybe_show,
    named_colormap,
    one_sample,
    shown_note,
    title_tile,
)

#: Label of the colour bar under ``normalize="filter"``.
FILTER_SCALE_LABEL = "each filter scaled to its own min..max"


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
    check_positive_int("max_filters", max_filters, allow_none=True)
    colormap = named_colormap(cmap)
    index, one = one_sample(x, sample)
    figures = []
    for path, activation in extract(model, one, layers).items():
        total = int(activation.shape[-1])
        maps = feature_maps(activation, max_filters)  # (1, filters, h, w)
        count, h, w = maps.shape[1:]
        strips = activation.ndim == 3
        fig, axes = grid_figure(count, h, w, strips)
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
            title_tile(ax, str(i))
        fig.colorbar(
            ScalarMappable(bar_norm, colormap), ax=axes, label=bar_label, shrink=bar_shrink(axes)
        )
        notes = [f"sample {index}", *shown_note(count, total)]
        if activation.ndim == 5:
            notes.append("max over depth")
        fig.suptitle(f"{path}  {tuple(activation.shape[1:])}\n{', '.join(notes)}")
        fig.set_label(path)
        figures.append(fig)
    return maybe_show(figures, show)


def _limits(lo: float, hi: float, widen: bool = False) -> tuple[float, float]:
    """Colour limits from a value range: (0, 1) when it holds no finite value; with ``widen``,
    a constant range becomes one unit wide (a colour bar needs distinct limits)."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    if widen and hi <= lo:
        return lo, lo + 1.0
    return lo, hi
