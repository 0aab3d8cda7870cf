"""Helpers shared by the figures of :mod:`actlog.plots`: the tile grid, titles, colour maps,
choosing one sample, and handing figures to pyplot."""

from __future__ import annotations

import operator
from typing import Any

import keras
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from actlog.images import NONFINITE_RGB, check_cmap
from actlog.layout import grid_shape


def grid_figure(
    count: int, h: int, w: int, strips: bool, tile_inches: float | None = None
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure with ``count`` axes (axes off) in a near-square grid."""
    rows, cols = grid_shape(count)
    tile_w = tile_inches or min(1.6, max(0.8, 10.0 / cols))
    tile_h = tile_w * (0.3 if strips else min(2.0, max(0.5, h / w)))
    # At least 3.6 inches high, so that a colour bar's label fits beside one row of strips.
    figsize = (cols * tile_w + 1.3, max(3.6, rows * (tile_h + 0.25) + 0.8))
    fig = Figure(figsize=figsize, layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(count)]
    for ax in axes:
        ax.set_axis_off()
    return fig, axes


def title_tile(ax: Axes, text: str) -> None:
    ax.set_title(text, fontsize=8, pad=2)


def bar_shrink(axes: list[Axes]) -> float:
    return 1.0 if len(axes) <= 4 else 0.8


def shown_note(count: int, total: int) -> list[str]:
    return [f"filters 0-{count - 1} of {total}"] if count < total else []


def named_colormap(name: str) -> Colormap:
    """The named colour map, with NaN and infinite values drawn in :data:`NONFINITE_RGB`."""
    if not isinstance(name, str):
        raise ValueError(f"cmap must be a matplotlib colour map name; got {name!r}.")
    check_cmap(name)
    bad = tuple(c / 255 for c in NONFINITE_RGB)
    return colormaps[name].with_extremes(bad=bad)


def _batch_size(x: Any) -> int:
    leaves = keras.tree.flatten(x)
    shape = getattr(leaves[0], "shape", None) if leaves else None
    if not shape:
        raise ValueError(
            "x must be an input batch (an array, or a list or dict of arrays) with the batch "
            f"axis first; got {type(x).__name__}."
        )
    return int(shape[0])


def one_sample(x: Any, sample: int) -> tuple[int, Any]:
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


def maybe_show(figures: list[Figure], show: bool) -> list[Figure]:
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
