"""actlog: watch what the convolution filters of a Keras model do while it trains.

Example:
    ```python
    import actlog

    model.fit(x, y, epochs=10, callbacks=[actlog.ActivationLogger(probe=x_val[:8])])
    maps = actlog.extract(model, x_val[:4])  # {"conv2d": array (4, 26, 26, 32), ...}
    ```

The public names are imported on first use (PEP 562), so ``import actlog`` alone, the
TensorBoard plugin (:mod:`actlog.view`) and ``actlog --help`` import neither Keras nor a
backend.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "ActivationLogger": "actlog.callback",
    "INITIAL_STEP": "actlog.callback",
    "linear_cka": "actlog.cka",
    "FeatureExtractor": "actlog.extract",
    "extract": "actlog.extract",
    "layer_geometry": "actlog.geometry",
    "GridRenderer": "actlog.images",
    "Grids": "actlog.images",
    "render_grids": "actlog.images",
    "kernel_images": "actlog.kernels",
    "layer_kernel": "actlog.kernels",
    "CONV_LAYER_TYPES": "actlog.layers",
    "select_layers": "actlog.layers",
    "FilterMaximizer": "actlog.maximize",
    "maximize": "actlog.maximize",
    "activation_stats": "actlog.measure",
    "overlay_images": "actlog.overlays",
    "plot_activations": "actlog.plots",
    "plot_maximized": "actlog.plots",
    "plot_overlays": "actlog.plots",
    "plot_weights": "actlog.plots",
    "MlflowSink": "actlog.sinks",
    "Sink": "actlog.sinks",
    "TensorBoardSink": "actlog.sinks",
    "WandbSink": "actlog.sinks",
    "layer_stats": "actlog.stats",
}

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


def _import(module: str) -> types.ModuleType:
    """``module``, or an ImportError naming the extra when Keras's backend is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        from actlog.extras import missing_backend

        hint = missing_backend(error)
        if hint is None:
            raise
        raise hint from error


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # A submodule (actlog.cka, actlog.reader, ...) is an attribute once imported.
        try:
            return _import(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


class _Package(types.ModuleType):
    """The package, whose public functions ``extract`` and ``maximize`` share their names with
    the modules that define them: importing such a module must not replace the function (the
    module stays in ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name in _EXPORTS and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # for type checkers and IDEs: the names as if imported eagerly
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
