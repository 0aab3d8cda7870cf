"""Per-filter activation statistics: dead and dormant filters, on-rate, mean, max. Pure NumPy.

* **Dead**: a filter whose output is <= 0 everywhere, for every probe sample (after a ReLU it
  never turns on; measure after the activation, see :mod:`actlog.layers`).
* **Dormant** (Sokar et al. 2023, "ReDo"): a filter whose mean absolute activation, divided by
  the mean of that over the layer's filters, is at or below a threshold (0.025 by default).
* **On-rate**: the share of the layer's outputs that are > 0.

A small probe overstates deadness: a filter may turn on for inputs the probe lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np

from actlog.extract import FeatureExtractor
from actlog.layers import LayerRef, LayerSpec, activation_point, select_layers

MeasureAt = Literal["activation", "layer"]


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's activations on a probe.

    Attributes:
        dead: indices of filters whose output is <= 0 everywhere (NaN counts as not on).
        dormant: indices of filters whose normalized mean |activation| <= the threshold.
        dead_fraction: ``len(dead) / filters``.
        on_rate: share of finite outputs that are > 0.
        mean: mean of the finite outputs.
        max: max of the finite outputs (NaN when there is none).
        nan_count: number of NaN or infinite outputs.
        filters: the number of filters (channels).
        filter_mean_abs: mean |activation| per filter (finite values only).
    """

    dead: list[int]
    dormant: list[int]
    dead_fraction: float
    on_rate: float
    mean: float
    max: float
    nan_count: int
    filters: int
    filter_mean_abs: np.ndarray = field(repr=False)

    def as_dict(self) -> dict:
        """The statistics as plain Python values (without the per-filter array)."""
        return {
            "dead": self.dead,
            "dormant": self.dormant,
            "dead_fraction": self.dead_fraction,
            "on_rate": self.on_rate,
            "mean": self.mean,
            "max": self.max,
            "nan_count": self.nan_count,
        }


def layer_stats(activation: np.ndarray, dormant_threshold: float = 0.025) -> LayerStats:
    """Statistics of a channels-last activation ``(batch, spatial..., filters)``.

    Example:
        ```python
        stats = layer_stats(actlog.extract(model, x)["conv2d"])
        stats.dead, stats.dead_fraction
        ```
    """
    a = np.asarray(activation)
    filters = a.shape[-1]
    flat = a.reshape(-1, filters)
    finite = np.isfinite(flat)
    nan_count = int(flat.size - np.count_nonzero(finite))
    clean = np.where(finite, flat, 0.0) if nan_count else flat
    on = (clean > 0) & finite if nan_count else clean > 0
    dead = np.flatnonzero(~on.any(axis=0))
    counts = np.maximum(finite.sum(axis=0), 1)
    filter_mean_abs = np.abs(clean).sum(axis=0, dtype=np.float64) / counts
    layer_mean_abs = filter_mean_abs.mean() if filters else 0.0
    if layer_mean_abs > 0:
        dormant = np.flatnonzero(filter_mean_abs / layer_mean_abs <= dormant_threshold)
    else:
        dormant = np.arange(filters)
    n_finite = max(int(np.count_nonzero(finite)), 1)
    finite_values = flat[finite] if nan_count else flat
    return LayerStats(
        dead=[int(i) for i in dead],
        dormant=[int(i) for i in dormant],
        dead_fraction=len(dead) / filters if filters else 0.0,
        on_rate=float(np.count_nonzero(on)) / n_finite,
        mean=float(clean.sum(dtype=np.float64)) / n_finite,
        max=float(finite_values.max()) if finite_values.size else float("nan"),
        nan_count=nan_count,
        filters=filters,
        filter_mean_abs=filter_mean_abs,
    )


def measure_points(
    model: keras.Model, refs: list[LayerRef], measure_at: MeasureAt = "activation"
) -> list[LayerRef]:
    """For each chosen layer, the layer whose output its statistics are measured on:
    ``"activation"``: after the activation where the layer's own is linear (see
    :func:`actlog.layers.activation_point`); ``"layer"``: the layer itself."""
    if measure_at not in ("activation", "layer"):
        raise ValueError(f"measure_at must be 'activation' or 'layer'; got {measure_at!r}.")
    if measure_at == "layer":
        return list(refs)
    return [activation_point(model, ref) for ref in refs]


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
