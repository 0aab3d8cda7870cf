"""Per-layer statistics: dead-filter fraction, on-rate, mean, a histogram and a table of dead
filters with since when each has been dead (see :mod:`actlog.stats` for the definitions)."""

from __future__ import annotations

import numpy as np

from actlog.layers import LayerRef
from actlog.measure import measure_points
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import Histogram, Record, Scalar, Table
from actlog.stats import LayerStats, layer_stats

#: Histograms are drawn from at most this many values per layer (an even stride through them).
HISTOGRAM_SAMPLE = 1 << 14


class StatsProducer(Producer):
    """Scalars ``dead_filters/``, ``on_rate/``, ``mean_activation/``, the histogram
    ``activation_hist/`` and the table ``dead_filter_list/`` of each chosen layer, measured
    where its filters can die. Leaves each layer's dead filters in ``event.facts["dead"]`` and
    where they were measured in ``event.facts["measured_at"]``, for the grids' red frames."""

    name = "stats"

    def __init__(self, layers: list[LayerRef], measured: list[LayerRef], every: int,
                 dormant_threshold: float) -> None:  # fmt: skip
        self.layers, self.measured = layers, measured
        self.every, self.dormant_threshold = every, dormant_threshold
        #: The last statistics of each layer, by path.
        self.latest: dict[str, LayerStats] = {}
        #: Per layer: dead filter index -> the first step of its current dead streak.
        self.dead_since: dict[str, dict[int, int]] = {}

    @classmethod
    def create(cls, setup: Setup) -> StatsProducer | None:
        options = setup.options
        if not options.stats:
            return None
        measured = measure_points(setup.model, setup.layers, options.measure_at)
        return cls(setup.layers, measured, options.every_n_epochs, options.dormant_threshold)

    def needs(self) -> Needs:
        return Needs(maps=tuple(self.measured))


    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        dead_by_layer = event.facts.setdefault("dead", {})
        measured_at = event.facts.setdefault("measured_at", {})
        for ref, point in zip(self.layers, self.measured, strict=True):
            measured = event.maps[point.path]
            stats = layer_stats(measured, self.dormant_threshold)
            self.latest[ref.path] = stats
            dead_by_layer[ref.path], measured_at[ref.path] = stats.dead, point.path
            since = self.dead_since.setdefault(ref.path, {})
            for index in list(since):
                if index not in stats.dead:
                    del since[index]
            for index in stats.dead:
                since.setdefault(index, event.step)
            rows = [[index, since[index]] for index in stats.dead]
            records += [
                Scalar(f"dead_filters/{ref.path}", stats.dead_fraction),
                Scalar(f"on_rate/{ref.path}", stats.on_rate),
                Scalar(f"mean_activation/{ref.path}", stats.mean),
                Histogram(f"activation_hist/{ref.path}", histogram_sample(measured)),
                Table(f"dead_filter_list/{ref.path}", ["filter", "dead since step"], rows),
            ]
        return records

    def dying_layers(self, fraction: float) -> list[str]:
        """``"path (dead/filters = pct)"`` for each layer whose share of dead filters in the
        last event is at least ``fraction``."""
        return [
            f"{path} ({len(stats.dead)}/{stats.filters} = {stats.dead_fraction:.0%})"
            for path, stats in self.latest.items()
            if stats.filters and stats.dead_fraction >= fraction
        ]


def histogram_sample(activation: np.ndarray) -> np.ndarray:
    """Up to :data:`HISTOGRAM_SAMPLE` finite values, evenly strided through the activation: a
    histogram needs no more, and a large layer holds millions."""
    flat = np.asarray(activation).reshape(-1)
    sample = flat[:: max(1, flat.size // HISTOGRAM_SAMPLE)].astype(np.float32)
    return sample[np.isfinite(sample)]
