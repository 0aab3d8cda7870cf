"""Filter-health timelines: ``filter_health/<layer path>``, one image per layer that grows by one
column per logged event (see :mod:`actlog.timeline`)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from actlog.layers import LayerRef
from actlog.measure import MeasurePoint, measure_points
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import ImageSet, Record
from actlog.stats import filter_on_rates
from actlog.timeline_axes import framed_timeline


class TimelineProducer(Producer):
    """Per chosen layer, every filter's on-rate at every logged step so far as one image
    (:func:`actlog.timeline.render_timeline`), dead cells red, inside axes (filter numbers,
    steps) under a colour legend (:mod:`actlog.timeline_axes`). It reads the per-filter sums the
    statistics read, at the same measure points, so it adds nothing to the capture. On with
    ``stats`` and ``timeline``."""

    name = "timeline"
    #: A timeline gets a quarter of a grid's share of ``max_event_mb`` (it needs a few kB early
    #: on): with 16 layers and the default 5 MB, the 1-pixel cells of the last 63 steps of a
    #: 512-filter layer, all steps of a 64-filter layer up to about 500.
    image_weight = 0.25

    def __init__(self, layers: list[LayerRef], measured: list[MeasurePoint], every: int,
                 max_size: int) -> None:  # fmt: skip
        self.layers, self.measured = layers, measured
        self.every, self.max_size = every, max_size
        self.image_bytes = math.inf
        #: Per layer: the steps, on-rates and dead masks that can still be shown, oldest first
        #: (at most one per pixel column; once only the most recent steps fit the budget, the
        #: older ones are dropped).
        self.history: dict[str, deque[tuple[int, np.ndarray, np.ndarray]]] = {
            ref.path: deque(maxlen=max_size) for ref in layers
        }

    @classmethod
    def create(cls, setup: Setup) -> TimelineProducer | None:
        options = setup.options
        if not (options.stats and options.timeline):
            return None
        measured = measure_points(setup.model, setup.layers, options.measure_at)
        return cls(setup.layers, measured, options.every_n_epochs, options.max_image_size)

    def needs(self) -> Needs:
        return Needs(sums=tuple(point.at for point in self.measured),
                     channels_first=tuple(p.at for p in self.measured if p.channels_first))

    def image_count(self) -> int:
        return len(self.layers)

    def set_image_budget(self, nbytes: float) -> None:
        self.image_bytes = nbytes

    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        for ref, point in zip(self.layers, self.measured, strict=True):
            rates, dead = filter_on_rates(event.sums[point.at.path], point.floor)
            if ref.path in event.facts.get("dead", {}):  # the statistics' verdict (see stats)
                dead = np.isin(np.arange(len(dead)), event.facts["dead"][ref.path])
            history = self.history[ref.path]
            history.append((event.step, rates, dead))
            framed, layout = framed_timeline(
                np.stack([rates for _, rates, _ in history]),
                np.stack([dead for _, _, dead in history]), [step for step, _, _ in history],
                self.max_size, self.image_bytes,
            )  # fmt: skip
            while len(history) > layout.steps:  # never shown again: the budget is fixed
                history.popleft()
            description = _describe(ref, point, len(rates), layout.bands)
            tag = self.tag("filter_health", ref.path)
            records.append(ImageSet(tag, framed.image[None], None, description))
        return records


def _describe(ref: LayerRef, point: MeasurePoint, filters: int, bands: int) -> str:
    """How to read the timeline of ``ref``, measured at ``point``."""
    where = "" if point.at.path == ref.path else f" (measured at `{point.at.path}`)"
    rows = f"one row per filter, numbered on the left, filter 0 at the top ({filters} filters"
    rows += f" in {bands} bands side by side, continuing left to right)" if bands > 1 else ")"
    share = (
        "above the floor (0), in viridis: dark purple = never on, yellow = always on. Red: "
        "the filter is dead at that step (at the floor for every probe sample)."
        if point.floor is not None
        else "above 0 (no rectifier here, so no dead state), in viridis: dark purple = never "
        "above 0, yellow = always."
    )
    return (
        f"Filter health of `{ref.path}`{where} over training: {rows}, one column per logged "
        "step, labelled below, oldest on the left (step -1 is before training; with more steps "
        "than fit, the columns narrow to 1 pixel, then only the most recent steps are shown). "
        f"Colour: the filter's on-rate, the share of its sampled outputs {share} Magenta: no "
        "finite value."
    )
