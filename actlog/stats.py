"""Per-filter activation statistics: dead and dormant filters, on-rate, mean, max. Pure NumPy.

* **Dead**: a filter whose output sits at its rectifier's floor (0) everywhere, for every probe
  sample: after a ReLU it never turns on and gets no gradient. Only outputs with a floor have a
  dead state (see :mod:`actlog.measure` for where that is); elsewhere ``floor=None`` and no
  filter is dead.
* **Dormant** (Sokar et al. 2023, "ReDo"): a filter whose mean absolute activation, divided by
  the mean of that over the layer's filters, is at or below a threshold (0.025 by default).
* **On-rate**: the share of the layer's outputs that are > 0.

A small probe overstates deadness: a filter may turn on for inputs the probe lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's activations on a probe.

    Attributes:
        dead: indices of filters whose output is <= the floor everywhere (NaN counts as not
            on); always empty without a floor.
        dormant: indices of filters whose normalized mean |activation| <= the threshold.
        dead_fraction: ``len(dead) / filters``, or None without a floor (no dead state).
        on_rate: share of finite outputs above the floor (above 0 without one).
        mean: mean of the finite outputs.
        max: max of the finite outputs (NaN when there is none).
        nan_count: number of NaN or infinite outputs.
        filters: the number of filters (channels).
        filter_mean_abs: mean |activation| per filter (finite values only).
        floor: the rectifier's floor the output was measured at, or None.
    """

    dead: list[int]
    dormant: list[int]
    dead_fraction: float | None
    on_rate: float
    mean: float
    max: float
    nan_count: int
    filters: int
    filter_mean_abs: np.ndarray = field(repr=False)
    floor: float | None = 0.0

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
            "floor": self.floor,
        }


def layer_stats(
    activation: np.ndarray, dormant_threshold: float = 0.025, floor: float | None = 0.0
) -> LayerStats:
    """Statistics of a channels-last activation ``(batch, spatial..., filters)``.

    Args:
        activation: the measured output.
        dormant_threshold: tau of the dormant test.
        floor: the floor of the rectifier the output comes from (0.0 after a ReLU); None for
            an output without one (no filter is then dead).

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
    level = 0.0 if floor is None else floor
    on = (clean > level) & finite if nan_count else clean > level
    dead = np.flatnonzero(~on.any(axis=0)) if floor is not None else np.array([], int)
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
        dead_fraction=None if floor is None else (len(dead) / filters if filters else 0.0),
        on_rate=float(np.count_nonzero(on)) / n_finite,
        mean=float(clean.sum(dtype=np.float64)) / n_finite,
        max=float(finite_values.max()) if finite_values.size else float("nan"),
        nan_count=nan_count,
        filters=filters,
        filter_mean_abs=filter_mean_abs,
        floor=floor,
    )
