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

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's activations on a probe.

    Attributes:
        dead: indices of filters whose output is <= the floor everywhere (NaN counts as not
            on); always empty without a floor.
        dormant: indices of filters whose normalized mean |activation| <= the threshold.
        dead_fraction: ``len(dead) / filters``, or None without a floor (no dead state).
        on_rate: share of finite outputs above the floor (above 0 without one), from a spread
            sample of at most about 16,000 values.
        mean: mean of the finite outputs.
        max: max of the finite outputs (NaN when there is none).
        nan_count: number of NaN or infinite outputs.
        filters: the number of filters (channels).
        filter_mean_abs: mean |activation| per filter (finite values only).
        floor: the rectifier's floor the output was measured at, or None.
        dead_inference: behind a BatchNormalization, the filters at the floor in inference
            (moving statistics), of which ``dead`` keeps those also at the floor with batch
            statistics (see :mod:`actlog.capture`); else the same as ``dead``.
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
    dead_inference: list[int] | None = None

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


#: Histograms are drawn from at most about this many values per layer.
HISTOGRAM_SAMPLE = 1 << 14


def filter_sums(
    activation: Any, xp: Any = np, nonnegative: bool = False, samples: int | None = None,
    start: Any = 0,
) -> dict[str, Any]:  # fmt: skip
    """Per-filter sums of a channels-last activation ``(batch, spatial..., filters)``: all that
    :func:`stats_from_sums` needs, a few numbers per filter, plus a sample of values.

    Written once for NumPy (``xp=numpy``, the default) and for ``keras.ops`` (``xp=keras.ops``,
    inside the compiled capture, so only these numbers leave the device). The common case, every
    value finite, takes one pass per sum; only when a sum is not finite are the sums taken again
    over the finite values. Whether a filter is dead comes from its exact maximum; the on-rate
    is estimated from the sample (about 16,000 values, so within a percent). ``nonnegative``
    (a ReLU's output) spares the pass for the sum of absolute values: it is the sum.
    ``samples`` and ``start``: the whole probe's sample count and the part's first sample when
    ``activation`` is a part of it (the parts' sums add up, and their samples stacked are the
    whole's, :func:`join_sums`).

    Returns:
        ``finite`` and ``nonfinite`` (counts), ``sum`` and ``abs`` (of the finite values) and
        ``max`` (-inf when none is finite), each ``(filters,)``; and ``sample``: every filter's
        values at the same :func:`sample_rows`, at most :data:`HISTOGRAM_SAMPLE` in all.
    """
    filters = int(activation.shape[-1])
    flat = xp.reshape(activation, (-1, filters))
    positions = float(np.prod([d or 1 for d in activation.shape[:-1]]))
    rows = sample_rows(activation.shape[:-1], max(1, HISTOGRAM_SAMPLE // filters), samples, start,
                       xp)  # fmt: skip

    total, peak = _reducers(activation, xp)

    def all_finite() -> dict[str, Any]:
        sum_ = total(activation)
        return {"finite": xp.ones_like(sum_) * positions, "nonfinite": xp.zeros_like(sum_),
                "sum": sum_, "abs": sum_ if nonnegative else total(xp.abs(activation)),
                "max": peak(activation)}

    def masked() -> dict[str, Any]:
        finite = xp.isfinite(flat)
        clean = xp.where(finite, flat, 0.0)
        count = xp.sum(xp.where(finite, 1.0, 0.0), axis=0)
        return {"finite": count, "nonfinite": positions - count, "sum": xp.sum(clean, axis=0),
                "abs": xp.sum(xp.abs(clean), axis=0),
                "max": xp.max(xp.where(finite, flat, float("-inf")), axis=0)}

    fast = all_finite()
    check = xp.all(xp.isfinite(fast["sum"])) & xp.all(xp.isfinite(fast["max"]))
    sums = (fast if check else masked()) if xp is np else xp.cond(check, lambda: fast, masked)
    sample = flat[rows] if xp is np else xp.take(flat, rows, axis=0)
    return {**sums, "sample": sample}


def join_sums(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The :func:`filter_sums` of a whole probe from those of its parts, in sample order:
    counts and sums added, maxima taken, samples stacked."""
    if len(parts) == 1:
        return dict(parts[0])
    joined = {key: np.sum([part[key] for part in parts], axis=0)
              for key in ("finite", "nonfinite", "sum", "abs")}  # fmt: skip
    joined["max"] = np.max([part["max"] for part in parts], axis=0)
    joined["sample"] = np.concatenate([part["sample"] for part in parts])
    return joined


def sample_rows(
    dims: Sequence[int | None], count: int, samples: int | None = None, start: Any = 0,
    xp: Any = np,
) -> Any:  # fmt: skip
    """About ``count`` rows of a ``(batch, spatial...)`` array flattened to rows: in each
    sample, ``count // samples`` of its positions (at least one), drawn once per sample and map
    size, in order. ``samples`` and ``start`` are the whole probe's count and this part's first
    sample when ``dims`` are a part of it (``start`` may be a tensor inside a compiled call,
    ``xp=keras.ops``): the parts' rows, stacked, are then the whole's.

    Example:
        ```python
        sample_rows((8, 56, 56), 256)  # 32 positions in each of the 8 samples
        ```
    """
    batch = int(dims[0] or 1)
    spatial = int(np.prod([d or 1 for d in dims[1:]]))
    samples = samples or batch
    table = _sample_table(samples, spatial, max(1, count // samples))
    if batch == samples:
        return table.ravel()
    part = xp.take(table, start + np.arange(batch, dtype=np.int32), axis=0)
    return xp.reshape(part - start * spatial, (-1,))


@functools.lru_cache(maxsize=64)
def _sample_table(samples: int, spatial: int, count: int) -> np.ndarray:
    """``(samples, count)``: each sample's rows, ``count`` of its ``spatial`` positions drawn at
    random with a seed fixed by the map size and the sample, so the same at every event and
    spread over every row and column (an even stride would alias with the map's width: one
    stride of 3.5 rows samples 2 columns)."""
    if count >= spatial:
        places = np.broadcast_to(np.arange(spatial), (samples, spatial))
    else:
        draw = [np.random.default_rng((spatial, i)).choice(spatial, count, replace=False)
                for i in range(samples)]  # fmt: skip
        places = np.sort(np.stack(draw), axis=1)
    table = (places + np.arange(samples)[:, None] * spatial).astype(np.int32)
    table.flags.writeable = False
    return table


def _reducers(activation: Any, xp: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Per-filter sum and maximum of arrays shaped like ``activation``, the fastest way found
    on TensorFlow's CPU kernels (bench/README.md): for 2-D maps inside the capture, pooling over
    the whole map (one oneDNN pass); else a reduction along each line of pixels, then across
    lines (two short reductions beat one over every position)."""
    shape = activation.shape
    if xp is not np and len(shape) == 4 and None not in shape[1:3]:
        window = (int(shape[1]), int(shape[2]))
        area = float(window[0] * window[1])
        return (lambda v: xp.sum(xp.average_pool(v, window, window), axis=(0, 1, 2)) * area,
                lambda v: xp.max(xp.max_pool(v, window, window), axis=(0, 1, 2)))  # fmt: skip
    line = int(shape[-2] or 1) if len(shape) > 2 else 1
    filters = int(shape[-1])

    def rows(v: Any) -> Any:
        return xp.reshape(v, (-1, line, filters))

    return (lambda v: xp.sum(xp.sum(rows(v), axis=1), axis=0),
            lambda v: xp.max(xp.max(rows(v), axis=1), axis=0))  # fmt: skip


def stats_from_sums(
    sums: dict[str, np.ndarray], dormant_threshold: float = 0.025, floor: float | None = 0.0
) -> LayerStats:
    """The :class:`LayerStats` of :func:`filter_sums` (host arrays)."""
    finite = np.asarray(sums["finite"], np.float64)
    maxima = np.asarray(sums["max"], np.float64)
    filters = len(finite)
    level = 0.0 if floor is None else floor
    dead = np.flatnonzero(~(maxima > level)) if floor is not None else np.array([], int)
    sample = np.asarray(sums["sample"], np.float64)
    sampled = np.isfinite(sample)
    filter_mean_abs = np.asarray(sums["abs"], np.float64) / np.maximum(finite, 1)
    layer_mean_abs = filter_mean_abs.mean() if filters else 0.0
    if layer_mean_abs > 0:
        dormant = np.flatnonzero(filter_mean_abs / layer_mean_abs <= dormant_threshold)
    else:
        dormant = np.arange(filters)
    n_finite = max(float(finite.sum()), 1.0)
    maximum = float(np.max(maxima)) if filters else float("-inf")
    return LayerStats(
        dead=[int(i) for i in dead],
        dormant=[int(i) for i in dormant],
        dead_fraction=None if floor is None else (len(dead) / filters if filters else 0.0),
        on_rate=float(np.count_nonzero(sample > level)) / max(int(np.count_nonzero(sampled)), 1),
        mean=float(np.sum(sums["sum"], dtype=np.float64)) / n_finite,
        max=maximum if np.isfinite(maximum) else float("nan"),
        nan_count=int(np.sum(sums["nonfinite"])),
        filters=filters,
        filter_mean_abs=filter_mean_abs,
        floor=floor,
    )


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
    sums = filter_sums(a.astype(np.float64, copy=False))
    return stats_from_sums(sums, dormant_threshold, floor)


def filter_on_rates(
    sums: dict[str, np.ndarray], floor: float | None = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Each filter's on-rate and whether it is dead, from :func:`filter_sums` (host arrays).

    Args:
        sums: one layer's sums: ``sample`` (the same positions every event, rows x filters)
            gives the on-rates, ``max`` the dead filters.
        floor: the floor of the rectifier the output comes from (0.0), or None for an output
            without one: the on-rate is then the share above 0, and no filter is dead.

    Returns:
        ``(rates, dead)``: float64 ``(filters,)``, the share of each filter's finite sampled
        values above the floor (NaN where none is finite; their mean over the filters is
        :attr:`LayerStats.on_rate` when every value is finite), and bool ``(filters,)``, its
        maximum at or below the floor (:attr:`LayerStats.dead`; all False without a floor).

    Example:
        ```python
        rates, dead = filter_on_rates(filter_sums(activation))
        ```
    """
    sample = np.asarray(sums["sample"], np.float64)
    level = 0.0 if floor is None else floor
    finite = np.isfinite(sample)
    counted = np.count_nonzero(finite, axis=0)
    on = np.count_nonzero(finite & (sample > level), axis=0)
    rates = np.where(counted > 0, on / np.maximum(counted, 1), np.nan)
    maxima = np.asarray(sums["max"], np.float64)
    dead = ~(maxima > level) if floor is not None else np.zeros(maxima.shape, bool)
    return rates, dead


def histogram_values(sample: np.ndarray) -> np.ndarray:
    """The finite values of a :func:`filter_sums` sample, flat, for a histogram."""
    values = np.asarray(sample, np.float32).reshape(-1)
    return values[np.isfinite(values)]
