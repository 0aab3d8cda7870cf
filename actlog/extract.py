"""The feature extractor: the chosen layers' outputs for an input, in one forward pass.

Two ways in, both public Keras API and neither touching the user's weights:

* Graph models (Functional, Sequential, and any model nesting those, such as a
  ``keras.applications`` backbone inside a Sequential): a multi-output feature model is built
  from the model graph (:mod:`actlog.graph`), traced once per model, sharing every layer and
  weight with the original. Calling again adds nothing to the model.
* Anything else (subclassed ``keras.Model``): the chosen layers' ``call`` is wrapped for the
  duration of one trace to record their outputs. Under TensorFlow the wrappers exist only while
  the compiled function is traced; afterwards the model is exactly as it was.

Either way the call is compiled once (see :mod:`actlog.backend`) and follows the weights as
training updates them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from actlog.backend import compile_function, to_host
from actlog.graph import ModelGraph, NotTraceable, model_graph
from actlog.layers import LayerRef, LayerSpec, is_channels_first, select_layers

logger = logging.getLogger(__name__)


class FeatureExtractor:
    """The chosen layers' feature maps for an input batch, built and compiled once.

    Args:
        model: the (built) model to read from. It is never modified.
        refs: the chosen layers, as :func:`actlog.layers.select_layers` returns them.
        compile: compile the call once (for repeated calls on same-shaped inputs); False runs
            it eagerly, which is quicker for a single call.

    Example:
        ```python
        extractor = FeatureExtractor(model, select_layers(model, "conv"))
        maps = extractor(x_val[:8])  # {"conv2d": array (8, 26, 26, 32), ...}
        ```
    """

    def __init__(self, model: keras.Model, refs: Sequence[LayerRef], compile: bool = True) -> None:
        if not refs:
            raise ValueError("FeatureExtractor needs at least one layer.")
        self.model = model
        self.refs = list(refs)
        self.paths = [ref.path for ref in self.refs]
        self.trace_count = 0
        self.method = "graph"
        graph = model_graph(model)
        try:
            raw_fn = _graph_feature_fn(graph, self.refs)
        except NotTraceable as reason:
            logger.debug("Recording layer calls for %s: %s", model.name, reason)
            self.method = "recorder"
            raw_fn = _recording_feature_fn(model, self.refs)

        #: The uncompiled call: input -> the chosen layers' outputs as backend tensors
        #: (differentiable; for use inside another compiled function).
        self.call_tensors = raw_fn

        def counted(x: Any) -> list[Any]:
            self.trace_count += 1  # Python side effect: runs once per trace when compiled.
            return raw_fn(x)

        self._fn = compile_function(counted, state=model.variables) if compile else counted

    def __call__(self, x: Any) -> dict[str, np.ndarray]:
        """Runs ``x`` through the model once.

        Returns:
            Layer path -> host float array, channels last, in model order.
        """
        outputs = self._fn(x)
        result = {}
        for ref, output in zip(self.refs, outputs, strict=True):
            array = to_host(output)
            if array.ndim < 3:
                raise FeatureMapError(not_a_feature_map(ref, array.shape))
            if is_channels_first(ref.layer):
                array = np.moveaxis(array, 1, -1)
            result[ref.path] = array
        return result


def extract(model: keras.Model, x: Any, layers: LayerSpec = "conv") -> dict[str, np.ndarray]:
    """The feature maps of the chosen layers of ``model`` for input ``x``, in one forward pass.

    Args:
        model: a built Keras model: Sequential, Functional (multi-input too), a model with nested
            models (a ``keras.applications`` backbone inside your model), or a subclassed model.
        x: an input batch in the form the model takes (array, list or dict of arrays).
        layers: which layers; see :func:`actlog.layers.select_layers`. Default: every
            convolution layer.

    Returns:
        Layer path (``"conv2d"``, ``"backbone/block_1_expand"``) -> float NumPy array
        ``(batch, spatial..., channels)`` (channels_first layers are converted), in model order.

    Example:
        ```python
        maps = actlog.extract(model, x_val[:4])
        maps["conv2d"].shape  # (4, 26, 26, 32)
        ```
    """
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built yet: call it on data or fit it first, or give "
            "it a keras.Input."
        )
    maps = FeatureExtractor(model, select_layers(model, layers), compile=False)(x)
    return {path: np.array(array) for path, array in maps.items()}  # writable copies


class FeatureMapError(ValueError):
    """A chosen layer's output is not a feature map, or a chosen layer never runs."""


def _graph_feature_fn(graph: ModelGraph, refs: list[LayerRef]) -> Callable[[Any], list[Any]]:
    feature_model = graph.feature_model(refs)
    for ref, output in zip(refs, feature_model.outputs, strict=True):
        if len(output.shape) < 3:
            raise FeatureMapError(not_a_feature_map(ref, output.shape))

    def run(x: Any) -> list[Any]:
        outputs = feature_model(x, training=False)
        return list(outputs) if isinstance(outputs, list | tuple) else [outputs]

    return run


def _recording_feature_fn(model: keras.Model, refs: list[LayerRef]) -> Callable[[Any], list[Any]]:
    def run(x: Any) -> list[Any]:
        records: dict[str, Any] = {}
        for ref in refs:
            original = ref.layer.call

            def recording_call(*args: Any, _call=original, _path=ref.path, **kwargs: Any) -> Any:
                output = _call(*args, **kwargs)
                records.setdefault(_path, output)
                return output

            object.__setattr__(ref.layer, "call", recording_call)
        try:
            model(x, training=False)
        finally:
            for ref in refs:
                if "call" in vars(ref.layer):
                    object.__delattr__(ref.layer, "call")
        missing = [ref.path for ref in refs if ref.path not in records]
        if missing:
            raise LayersNotCalled(
                f"These layers were not called when the model ran on the input: {missing}. "
                "Choose layers that the model's call() uses."
            )
        return [records[ref.path] for ref in refs]

    return run


class LayersNotCalled(FeatureMapError):
    """Chosen layers of a subclassed model that its ``call`` did not run (a Distiller's call
    runs the student, not the teacher)."""


def not_a_feature_map(ref: LayerRef, shape: Any) -> str:
    return (
        f"Layer {ref.path!r} ({type(ref.layer).__name__}) outputs shape {tuple(shape)}, not a "
        "feature map. actlog shows outputs of shape (batch, spatial..., channels): choose a "
        "convolution layer, or a BatchNormalization, activation or pooling layer after one."
    )
