"""actlog: watch what the convolution filters of a Keras model do while it trains.

Example:
    ```python
    import actlog

    model.fit(x, y, epochs=10, callbacks=[actlog.ActivationLogger(probe=x_val[:8])])
    maps = actlog.extract(model, x_val[:4])  # {"conv2d": array (4, 26, 26, 32), ...}
    ```
"""

from actlog.callback import INITIAL_STEP, ActivationLogger
from actlog.cka import linear_cka
from actlog.extract import FeatureExtractor, extract
from actlog.geometry import layer_geometry
from actlog.images import GridRenderer, Grids, render_grids
from actlog.kernels import kernel_images, layer_kernel
from actlog.layers import CONV_LAYER_TYPES, select_layers
from actlog.maximize import FilterMaximizer, maximize
from actlog.measure import activation_stats
from actlog.overlays import overlay_images
from actlog.plots import plot_activations, plot_maximized, plot_overlays, plot_weights
from actlog.sinks import MlflowSink, Sink, TensorBoardSink, WandbSink
from actlog.stats import layer_stats

__version__ = "0.1.0"

__all__ = [
    "CONV_LAYER_TYPES",
    "INITIAL_STEP",
    "ActivationLogger",
    "FeatureExtractor",
    "FilterMaximizer",
    "GridRenderer",
    "Grids",
    "MlflowSink",
    "Sink",
    "TensorBoardSink",
    "WandbSink",
    "activation_stats",
    "extract",
    "kernel_images",
    "layer_geometry",
    "layer_kernel",
    "layer_stats",
    "linear_cka",
    "maximize",
    "overlay_images",
    "plot_activations",
    "plot_maximized",
    "plot_overlays",
    "plot_weights",
    "render_grids",
    "select_layers",
]
