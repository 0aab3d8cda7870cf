"""actlog: watch what the convolution filters of a Keras model do while it trains.

Example:
    ```python
    import actlog

    model.fit(x, y, epochs=10, callbacks=[actlog.ActivationLogger(probe=x_val[:8])])
    maps = actlog.extract(model, x_val[:4])  # {"conv2d": array (4, 26, 26, 32), ...}
    ```
"""

from typing import TYPE_CHECKING

# The public names are imported on first use (PEP 562), so ``import actlog`` is quick and the
# ``actlog`` command can quiet TensorFlow before anything imports it.
_EXPORTS = {
    "ActivationLogger": "actlog.callback",
    "CONV_LAYER_TYPES": "actlog.layers",
    "FeatureExtractor": "actlog.extract",
    "FilterMaximizer": "actlog.maximize",
    "GridRenderer": "actlog.images",
    "Grids": "actlog.images",
    "INITIAL_STEP": "actlog.callback",
    "Sink": "actlog.sinks",
    "TensorBoardSink": "actlog.sinks",
    "WandbSink": "actlog.sinks",
    "activation_stats": "actlog.stats",
    "extract": "actlog.extract",
    "kernel_images": "actlog.kernels",
    "layer_geometry": "actlog.overlays",
    "layer_kernel": "actlog.kernels",
    "layer_stats": "actlog.stats",
    "maximize": "actlog.maximize",
    "overlay_images": "actlog.overlays",
    "plot_activations": "actlog.plots",
    "plot_maximized": "actlog.plots",
    "plot_overlays": "actlog.plots",
    "plot_weights": "actlog.plots",
    "render_grids": "actlog.images",
    "select_layers": "actlog.layers",
}

if TYPE_CHECKING:
    from actlog.callback import INITIAL_STEP, ActivationLogger
    from actlog.extract import FeatureExtractor, extract
    from actlog.images import GridRenderer, Grids, render_grids
    from actlog.kernels import kernel_images, layer_kernel
    from actlog.layers import CONV_LAYER_TYPES, select_layers
    from actlog.maximize import FilterMaximizer, maximize
    from actlog.overlays import layer_geometry, overlay_images
    from actlog.plots import plot_activations, plot_maximized, plot_overlays, plot_weights
    from actlog.sinks import Sink, TensorBoardSink, WandbSink
    from actlog.stats import activation_stats, layer_stats


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'actlog' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "CONV_LAYER_TYPES",
    "INITIAL_STEP",
    "ActivationLogger",
    "FeatureExtractor",
    "FilterMaximizer",
    "GridRenderer",
    "Grids",
    "Sink",
    "TensorBoardSink",
    "WandbSink",
    "activation_stats",
    "extract",
    "kernel_images",
    "layer_geometry",
    "layer_kernel",
    "layer_stats",
    "maximize",
    "overlay_images",
    "plot_activations",
    "plot_maximized",
    "plot_overlays",
    "plot_weights",
    "render_grids",
    "select_layers",
]
