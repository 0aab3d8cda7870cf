"""Per-layer statistics: dead-filter fraction, on-rate, mean, a histogram and a table of dead
filters with since when each has been dead (see :mod:`actlog.stats` for the definitions)."""

from __future__ import annotations

import dataclasses

import numpy as np

from actlog.layers import LayerRef
from actlog.measure import MeasurePoint, measure_points
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import Histogram, Record, Scalar, Table
from actlog.stats import LayerStats, filter_on_rates, histogram_values, stats_from_sums


class StatsProducer(Producer):
    """Scalars ``on_rate/``, ``mean_activation/``, ``dormant_filters/`` and the histogram
    ``activation_hist/`` of each chosen layer, measured where its filters can die; where they
    can (behind a rectifier), also ``dead_filters/`` and the table ``dead_filter_list/``, and
    each layer's dead filters in ``event.facts["dead"]`` and where they were measured in
    ``event.facts["measured_at"]``, for the grids' red frames. Every layer's per-filter numbers
    go to ``event.facts["filters"]`` (for the view's document)."""

    name = "stats"

    def __init__(self, layers: list[LayerRef], measured: list[MeasurePoint], every: int,
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
        return Needs(sums=tuple(point.at for point in self.measured),
                     channels_first=tuple(p.at for p in self.measured if p.channels_first),
                     batch_norm_checks=tuple(p.at for p in self.measured
                                             if p.behind_batch_norm and p.floor is not None))


    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        dead_by_layer = event.facts.setdefault("dead", {})
        measured_at = event.facts.setdefault("measured_at", {})
        per_filter = event.facts.setdefault("filters", {})
        for ref, point in zip(self.layers, self.measured, strict=True):
            sums = event.sums[point.at.path]
            stats = stats_from_sums(sums, self.dormant_threshold, point.floor)
            self.latest[ref.path] = stats
            per_filter[ref.path] = {"on_rate": filter_on_rates(sums, point.floor)[0],
                                    "max": sums["max"], "dead": stats.dead,
                                    "dormant": stats.dormant, "measured_at": point.at.path,
                                    "floor": point.floor}  # fmt: skip
            records += [
                Scalar(self.tag("on_rate", ref.path), stats.on_rate),
                Scalar(self.tag("mean_activation", ref.path), stats.mean),
                Scalar(self.tag("dormant_filters", ref.path),
                       len(stats.dormant) / max(stats.filters, 1)),
                Histogram(self.tag("activation_hist", ref.path), histogram_values(sums["sample"])),
            ]
            if stats.dead_fraction is None:
                continue  # no rectifier: no dead state, no frames, no table
            if point.behind_batch_norm:
                stats = self._dead_in_training(stats, event.batch_stat_max.get(point.at.path))
                self.latest[ref.path] = stats
                per_filter[ref.path].update(dead=stats.dead, dead_inference=stats.dead_inference)
                records.append(Scalar(self.tag("dead_filters_inference", ref.path),
                                      len(stats.dead_inference) / max(stats.filters, 1)))
            dead_by_layer[ref.path], measured_at[ref.path] = stats.dead, point.at.path
            since = self.dead_since.setdefault(ref.path, {})
            for index in list(since):
                if index not in stats.dead:
                    del since[index]
            for index in stats.dead:
                since.setdefault(index, event.step)
            rows = [[index, since[index]] for index in stats.dead]
            records += [
                Scalar(self.tag("dead_filters", ref.path), stats.dead_fraction),
                Table(self.tag("dead_filter_list", ref.path), ["filter", "dead since step"], rows),
            ]
        return records

    @staticmethod
    def _dead_in_training(stats: LayerStats, batch_max: np.ndarray | None) -> LayerStats:
        """Behind a BatchNormalization: dead only where also at the floor with batch
        statistics, as the network that trains normalizes; what inference alone found is kept
        in :attr:`LayerStats.dead_inference`."""
        floor = stats.floor or 0.0
        dead = [] if batch_max is None else [i for i in stats.dead if not batch_max[i] > floor]
        return dataclasses.replace(stats, dead=dead, dead_inference=stats.dead,
                                   dead_fraction=len(dead) / max(stats.filters, 1))  # fmt: skip

    def dead_summary(self, fraction: float, worst: int = 3) -> str | None:
        """A few lines on the layers whose share of dead filters in the last event is at least
        ``fraction`` (how many, the worst few, where the tables are), or None if there is
        none."""
        rectified = {p: s for p, s in self.latest.items() if s.dead_fraction is not None}
        dying = sorted(
            ((stats.dead_fraction, path, stats) for path, stats in rectified.items()
             if stats.filters and stats.dead_fraction >= fraction),
            key=lambda item: -item[0],
        )  # fmt: skip
        if not dying:
            return None
        gap = sum(len(s.dead_inference or []) - len(s.dead) for s in rectified.values())
        named = ", ".join(
            f"{path} ({len(stats.dead)}/{stats.filters} = {share:.0%})"
            for share, path, stats in dying[:worst]
        )
        return (
            f"actlog: at the end of training {len(dying)} of {len(rectified)} rectified layers "
            f"have at least {fraction:.0%} dead filters (at the activation's floor for every "
            f"probe sample); the most: {named}. Each layer's table of dead filters is logged "
            "under dead_filter_list/<layer>. A lower learning rate, LeakyReLU or a different "
            "initialization may help; a bigger probe makes sure."
            + (f" {gap} more filters are at the floor only with BatchNormalization's moving "
               "statistics, which lag behind training: they are live in the network that trains "
               "and not counted (dead_filters_inference/<layer>)." if gap > 0 else "")
        )

