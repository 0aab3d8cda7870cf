"""The kinds of output of a logging run, one module each (see :mod:`actlog.producers.base`).

:data:`PRODUCERS` lists them in the order they run within an event: the statistics first (the
grids frame the dead filters they find), the view's document after every producer whose facts it
gathers, the animation after the grids (it keeps their frames), the report last (at train end,
it reads back what the sinks wrote).
"""

from __future__ import annotations

from actlog.producers.animation import AnimationProducer
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.producers.convergence import ConvergenceProducer
from actlog.producers.grids import GridsProducer
from actlog.producers.maximized import MaximizedProducer
from actlog.producers.overlays import OverlaysProducer
from actlog.producers.report import ReportProducer
from actlog.producers.stats import StatsProducer
from actlog.producers.timeline import TimelineProducer
from actlog.producers.view import ViewProducer
from actlog.producers.weights import WeightsProducer

PRODUCERS: tuple[type[Producer], ...] = (
    StatsProducer,
    TimelineProducer,
    GridsProducer,
    WeightsProducer,
    OverlaysProducer,
    MaximizedProducer,
    ConvergenceProducer,
    ViewProducer,
    AnimationProducer,
    ReportProducer,
)


#: The share of ``max_event_mb`` that images may take; statistics, histograms and tables take
#: the rest (a few kB per layer).
IMAGE_SHARE = 0.9


def create_producers(setup: Setup) -> list[Producer]:
    """The producers the options turn on, in :data:`PRODUCERS` order, each given the run's layer
    keys (:attr:`Setup.keys`: every kind tags a layer alike) and each image its share of the
    event's size budget (``max_event_mb``): equal shares, times :attr:`Producer.image_weight`."""
    made = (kind.create(setup) for kind in PRODUCERS)
    producers = [producer for producer in made if producer is not None]
    shares = sum(producer.image_count() * producer.image_weight for producer in producers)
    share = IMAGE_SHARE * setup.options.max_event_mb * 1e6 / (shares or 1.0)
    for producer in producers:
        producer.keys = setup.keys
        producer.set_image_budget(share * producer.image_weight)
    return producers


__all__ = ["PRODUCERS", "Event", "Needs", "Producer", "Setup", "create_producers"]
