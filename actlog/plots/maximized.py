"""Figures of activation-maximizing inputs: :func:`plot_maximized`."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from actlog.plots.common import grid_figure, maybe_show, title_tile


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
    fig, axes = grid_figure(count, array.shape[1], array.shape[2], False, tile_inches=1.8)
    for ax, picture, label in zip(axes, array, labels, strict=True):
        if picture.shape[-1] == 3:
            ax.imshow(picture, interpolation="nearest")
        else:
            ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=top, interpolation="nearest")
        title_tile(ax, f"filter {label}")
    if title is not None:
        fig.suptitle(title)
        fig.set_label(title)
    return maybe_show([fig], show)[0]
