"""The kinds of output of a logging run, one module each (see :mod:`actlog.producers.base`).

:data:`PRODUCERS` lists them in the order they run within an event: the statistics first (the
grids frame the dead filters they find), the animation last (it keeps the grids' frames).
"""

from __future__ import annotations

from actlog.producers.animation import AnimationProducer
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.producers.grids import GridsProducer
from actlog.producers.maximized import MaximizedProducer
from actlog.producers.overlays import OverlaysProducer
from actlog.producers.stats import StatsProducer
from actlog.producers.weights import WeightsProducer

PRODUCERS: tuple[type[Producer], ...] = (
    StatsProducer,
    GridsProducer,
    WeightsProducer,
    OverlaysProducer,
    MaximizedProducer,
    AnimationProducer,
)


def create_producers(setup: Setup) -> list[Producer]:
    """The producers the options turn on, in :data:`PRODUCERS` order."""
    made = (kind.create(setup) for kind in PRODUCERS)
    return [producer for producer in made if producer is not None]


__all__ = ["PRODUCERS", "Event", "Needs", "Producer", "Setup", "create_producers"]
