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

from actlog.plots.activations import FILTER_SCALE_LABEL as FILTER_SCALE_LABEL
from actlog.plots.activations import plot_activations
from actlog.plots.maximized import plot_maximized
from actlog.plots.overlays import OVERLAY_CMAP as OVERLAY_CMAP
from actlog.plots.overlays import OVERLAY_STRENGTH as OVERLAY_STRENGTH
from actlog.plots.overlays import plot_overlays
from actlog.plots.weights import plot_weights

__all__ = ["plot_activations", "plot_maximized", "plot_overlays", "plot_weights"]
