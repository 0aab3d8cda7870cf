"""Where a layer's health is measured, whether it can be dead there, and
:func:`activation_stats` for notebooks.

A filter can only be *dead* behind a rectifier: an activation with a floor that it sits at for
every input below a threshold, so no gradient flows (:data:`RECTIFIERS`: ReLU, ReLU6,
hard-swish; a ``ReLU`` layer without a negative slope; a conv layer's own such activation). With
``measure_at="activation"`` a conv layer with a linear activation that feeds a BatchNormalization
and/or an activation layer is measured after that activation
(:meth:`actlog.graph.ModelGraph.activation_point`); ``"layer"`` measures each layer's own output.
Where the measured output has no floor (a linear conv feeding an Add, a swish, a LeakyReLU, a
tanh), the layer gets statistics and the dormant score, but no dead count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from actlog.extract import FeatureExtractor
from actlog.graph import model_graph
from actlog.layers import LayerRef, LayerSpec, is_channels_first, select_layers, unwrap
from actlog.options import MeasureAt, check_measure_at
from actlog.stats import layer_stats

#: Activations with a floor (0) that a filter sits at for every input below a threshold: behind
#: one of these, a filter that never leaves the floor gets no gradient (it is dead).
RECTIFIERS = frozenset(
    {keras.activations.relu, keras.activations.relu6, keras.activations.hard_silu}
)


def rectifier_floor(layer: Any) -> float | None:
    """The floor of ``layer``'s rectifying activation (0.0), or None if it has none: a ``ReLU``
    layer without negative slope, or a layer (``Activation``, a conv) whose ``activation`` is
    one of :data:`RECTIFIERS`."""
    layer = unwrap(layer)
    if isinstance(layer, keras.layers.ReLU):
        return 0.0 if not layer.negative_slope else None
    return 0.0 if getattr(layer, "activation", None) in RECTIFIERS else None


def is_nonnegative(layer: Any) -> bool:
    """Whether ``layer``'s output is never negative: a ``ReLU`` without negative slope, or a
    ``relu`` / ``relu6`` activation (hard-swish dips below 0)."""
    layer = unwrap(layer)
    if isinstance(layer, keras.layers.ReLU):
        return not layer.negative_slope
    return getattr(layer, "activation", None) in (keras.activations.relu, keras.activations.relu6)


@dataclass(frozen=True)
class MeasurePoint:
    """Where one chosen layer's health is measured.

    Attributes:
        at: the layer whose output is measured (the chosen layer, or its activation).
        floor: the rectifier's floor there (0.0), or None: no dead state at that point.
    """

    at: LayerRef
    floor: float | None
    #: The output at ``at`` has its channels on axis 1 although that layer does not say so (an
    #: activation or BatchNormalization after a ``channels_first`` conv).
    channels_first: bool = False
    #: A BatchNormalization comes before ``at``: inference (moving statistics) and training
    #: (batch statistics) can disagree on which filters are dead there.
    behind_batch_norm: bool = False


def measure_points(
    model: keras.Model, refs: list[LayerRef], measure_at: MeasureAt = "activation"
) -> list[MeasurePoint]:
    """For each chosen layer, where its statistics are measured and whether filters can be
    dead there: ``"activation"``: after the activation where the layer's own is linear (see
    :meth:`actlog.graph.ModelGraph.activation_point`); ``"layer"``: the layer itself."""
    graph = model_graph(model)
    points = list(refs) if measure_at == "layer" else [graph.activation_point(r) for r in refs]
    return [
        MeasurePoint(point, rectifier_floor(point.layer),
                     is_channels_first(ref.layer) and not is_channels_first(point.layer),
                     graph.behind_batch_norm(point.layer))
        for ref, point in zip(refs, points, strict=True)
    ]  # fmt: skip


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
    unique = list({point.at.path: point.at for point in points}.values())
    maps = FeatureExtractor(model, unique, compile=False)(x)
    return {
        ref.path: {
            **layer_stats(_channels_last(maps[point.at.path], point), dormant_threshold,
                          point.floor).as_dict(),
            "measured_at": point.at.path,
        }
        for ref, point in zip(refs, points, strict=True)
    }


def _channels_last(activation: np.ndarray, point: MeasurePoint) -> np.ndarray:
    return np.moveaxis(activation, 1, -1) if point.channels_first else activation
