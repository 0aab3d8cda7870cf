"""The interface of a producer: one kind of output (grids, statistics, weights, ...).

A producer says what it needs captured on the training thread (:meth:`Producer.needs`: layer
outputs and kernels, gathered for all producers into one compiled call), may do work of its own
there (:meth:`Producer.collect`), and turns what was captured into records on the background
thread (:meth:`Producer.produce`), keeping its own state from one event to the next. It knows
nothing of the sinks.

A new kind of output is one new module in this package with a :class:`Producer` subclass whose
:meth:`Producer.create` builds it from the run's :class:`Setup`, plus its name in
:data:`actlog.producers.PRODUCERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import keras
import numpy as np

from actlog.graph import ModelGraph
from actlog.layers import LayerRef
from actlog.options import LoggerOptions
from actlog.probe import Probe
from actlog.records import Record
from actlog.tags import layer_tag


@dataclass(frozen=True)
class Setup:
    """What producers are built from at train begin (on the training thread).

    Attributes:
        options: the run's options.
        model: the user's model (read, never modified).
        graph: its graph.
        layers: the chosen layers, in model order.
        probe: the probe, fitted to the model's inputs.
        warn: ``warn(key, message)`` tells the user something once per key.
        keys: layer path -> its key in every per-layer tag (:func:`actlog.tags.layer_keys`,
            computed once for the run); a path missing here is its own key.
        run_dir: the TensorBoard run a sink writes (what the report reads back), or None.
        keep_report: whether the report stays in ``run_dir`` (False for the scratch run of a
            :class:`~actlog.sinks.report_store.ReportStore`, removed at the end).
    """

    options: LoggerOptions
    model: keras.Model
    graph: ModelGraph
    layers: list[LayerRef]
    probe: Probe
    warn: Callable[[str, str], None]
    keys: Mapping[str, str] = field(default_factory=dict)
    run_dir: str | None = None
    keep_report: bool = True


@dataclass(frozen=True)
class Needs:
    """What a producer needs from the shared capture.

    Attributes:
        maps: layers whose outputs (channels last, on the host) it reads, by path: the shown
            probe samples and filters only, unless ``full_maps``.
        full_maps: it reads every sample, filter and pixel of ``maps``.
        strides: ``(layer, s)`` pairs: only every s-th row and column of that layer's 2-D maps
            leave the device (what is shown of a map larger than its tile).
        sums: layers whose per-filter sums (:func:`actlog.stats.filter_sums`) it reads,
            reduced inside the compiled capture.
        kernels: layers whose kernels it reads.
        features: layers whose :func:`actlog.cka.conv_features` it reads: a fixed sample of
            rows (probe sample x position) and the first channels of the output, float32,
            taken inside the compiled capture.
        channels_first: layers among ``maps`` and ``sums`` whose outputs have the channels on
            axis 1 although the layer does not say so (see
            :attr:`actlog.measure.MeasurePoint.channels_first`).
        batch_norm_checks: layers among ``sums`` behind a BatchNormalization whose filters at
            the floor (0) are checked with batch statistics, as training normalizes (see
            :class:`actlog.capture.Capture`).
    """

    maps: tuple[LayerRef, ...] = ()
    full_maps: bool = False
    strides: tuple[tuple[LayerRef, int], ...] = ()
    sums: tuple[LayerRef, ...] = ()
    kernels: tuple[LayerRef, ...] = ()
    channels_first: tuple[LayerRef, ...] = ()
    features: tuple[LayerRef, ...] = ()
    batch_norm_checks: tuple[LayerRef, ...] = ()


@dataclass(frozen=True)
class Event:
    """What one logging event captured, as producers see it on the background thread.

    Attributes:
        step: the event's step (an epoch, or -1 before training).
        maps: layer path -> its output on the probe (see :attr:`Needs.maps`).
        sums: measured layer path -> its per-filter sums (see :attr:`Needs.sums`).
        kernels: layer path -> its kernel ``(spatial..., inputs, filters)``.
        collected: producer name -> what its :meth:`Producer.collect` returned.
        records: the records the producers before this one made for this event.
        facts: what producers before this one found, for those after (the statistics leave
            each layer's dead filters under ``"dead"``).
        features: layer path -> its ``(rows, channels)`` features (see :attr:`Needs.features`).
        logs: Keras's logs of the epoch (loss and metrics); empty at step -1.
        batch_stat_max: layer path -> each filter's maximum with BatchNormalization on batch
            statistics (see :attr:`Needs.batch_norm_checks`), at the events where some filter
            of a checked layer was at the floor in inference.
    """

    step: int
    maps: Mapping[str, np.ndarray] = field(default_factory=dict)
    sums: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    kernels: Mapping[str, np.ndarray] = field(default_factory=dict)
    collected: Mapping[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    logs: Mapping[str, Any] = field(default_factory=dict)
    batch_stat_max: Mapping[str, np.ndarray] = field(default_factory=dict)


class Producer:
    """One kind of output. Subclasses override :meth:`produce`, and the hooks they need."""

    #: The key of :attr:`Event.collected`, and the name in messages.
    name: str = "producer"
    #: Log at step -1 and every this many epochs (None: never).
    every: int | None = 1
    #: Layer path -> its key in tags: the run's :attr:`Setup.keys`, set on every producer by
    #: :func:`actlog.producers.create_producers`.
    keys: Mapping[str, str] = MappingProxyType({})
    #: How many shares of the event's image budget each of its images gets, where a share is
    #: what an image of weight 1 (a grid) gets: less for images that need less (the
    #: filter-health timelines), so they do not shrink the others for bytes they never use.
    image_weight: float = 1.0

    @classmethod
    def create(cls, setup: Setup) -> Producer | None:
        """The producer for this run, or None when the options leave it off. Raises on options
        that do not fit the model (before the first training step)."""
        raise NotImplementedError

    def tag(self, kind: str, path: str) -> str:
        """The tag of layer ``path``'s output of ``kind``: ``"<kind>/<layer key>"``, the same
        key for every kind (see :mod:`actlog.tags`)."""
        return layer_tag(kind, self.keys.get(path, path))

    def needs(self) -> Needs:
        """What this producer reads from the shared capture."""
        return Needs()

    def prepare(self, maps: Mapping[str, np.ndarray]) -> None:
        """Called once with the first capture (on the training thread), for set-up that needs
        the maps' shapes. Raises for set-up errors."""

    def due(self, step: int) -> bool:
        """Whether this producer logs at ``step``: -1 (before training), and the end of every
        :attr:`every` epochs."""
        return self.every is not None and (step < 0 or (step + 1) % self.every == 0)

    def collect(self, step: int) -> Any:
        """Work of its own on the training thread (it needs the model), before handing over."""
        return None

    def produce(self, event: Event) -> list[Record]:
        """The records of one event (on the background thread)."""
        raise NotImplementedError

    def finish(self) -> list[Record]:
        """Records to write once at the end of the run (on the background thread)."""
        return []

    def image_count(self) -> int:
        """How many images one event of this producer writes (its share of the event's size
        budget)."""
        return 0

    def set_image_budget(self, nbytes: float) -> None:
        """The most bytes each of its images may take in the event (after PNG encoding); an
        image producer sizes its images to fit."""
