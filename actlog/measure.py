"""Where a layer's health is measured, and :func:`activation_stats` for notebooks.

With ``measure_at="activation"`` a conv layer with a linear activation that feeds a
BatchNormalization and/or an activation layer is measured after that activation, where its
filters can die (:meth:`actlog.graph.ModelGraph.activation_point`); ``"layer"`` measures each
layer's own output.
"""

from __future__ import annotations

from typing import Any

import keras

from actlog.extract import FeatureExtractor
from actlog.graph import model_graph
from actlog.layers import LayerRef, LayerSpec, select_layers
from actlog.options import MeasureAt, check_measure_at
from actlog.stats import layer_stats


def measure_points(
    model: keras.Model, refs: list[LayerRef], measure_at: MeasureAt = "activation"
) -> list[LayerRef]:
    """For each chosen layer, the layer whose output its statistics are measured on:
    ``"activation"``: after the activation where the layer's own is linear (see
    :meth:`actlog.graph.ModelGraph.activation_point`); ``"layer"``: the layer itself."""
    if measure_at == "layer":
        return list(refs)
    graph = model_graph(model)
    return [graph.activation_point(ref) for ref in refs]


def activation_stats(
    model: keras.Model,
    x: Any,
    layers: LayerSpec = "conv",
    dormant_threshold: float = 0.025,
    measure_at: MeasureAt = "activation",
) -> dict[str, dict[str, Any]]:
    """Per-filter health of the chosen layers on input ``x``.

    Args:
        model: a built Keras model of any kind actlog supports.
        x: an input batch (the more samples, the less deadness is overstated).
        layers: which layers; default every convolution layer.
        dormant_threshold: tau of the dormant test (0.025 by default; 0 and 0.1 are also used).
        measure_at: ``"activation"`` measures a conv layer with a linear activation after the
            BatchNormalization/activation layer that follows it, where filters can die;
            ``"layer"`` measures each layer's own output.

    Returns:
        Layer path -> ``{"dead", "dormant", "dead_fraction", "on_rate", "mean", "max",
        "nan_count", "measured_at"}``; ``measured_at`` is the path of the layer measured.

    Example:
        ```python
        stats = actlog.activation_stats(model, x_val[:256])
        stats["conv2d"]["dead"]  # [3, 17]: filters that never turn on
        ```
    """
    check_measure_at(measure_at)
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built yet: call it on data or fit it.")
    refs = select_layers(model, layers)
    points = measure_points(model, refs, measure_at)
    unique = list({point.path: point for point in points}.values())
    maps = FeatureExtractor(model, unique, compile=False)(x)
    return {
        ref.path: {
            **layer_stats(maps[point.path], dormant_threshold).as_dict(),
            "measured_at": point.path,
        }
        for ref, point in zip(refs, points, strict=True)
    }
