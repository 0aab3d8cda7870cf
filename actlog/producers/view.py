"""The view's document: at every event, what actlog's own view (:mod:`actlog.view`) reads,
under :data:`actlog.view.metadata.EVENT_TAG`. It is assembled from what the producers before it
left in ``event.facts`` (per-filter statistics, tile layouts, convergence) and the Keras logs of
the epoch, so it costs no capture and no rendering."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from actlog.layers import LayerRef, walk_layers
from actlog.options import LoggerOptions
from actlog.producers.base import Event, Producer, Setup
from actlog.producers.convergence import SETTLED_THRESHOLD
from actlog.producers.grids import MAX_SHOWN_SAMPLES
from actlog.records import Document, ImageSet, Record
from actlog.tags import split_tag
from actlog.view.metadata import CONTENT_VERSION, EVENT_TAG, permille, rounded

#: The options a reader needs to tell what it sees (how the grids were scaled, ...).
_OPTIONS = ("normalize", "cmap", "every_n_epochs", "max_filters", "sample_images",
            "dormant_threshold", "measure_at")  # fmt: skip


class ViewProducer(Producer):
    """One :class:`~actlog.records.Document` per event (the contract:
    :mod:`actlog.view.metadata`). Always on: it adds a few kB per layer to an event.

    Example:
        ```python
        producer = ViewProducer.create(setup)
        [document] = producer.produce(event)  # after the other producers of the event
        document.content["layers"][0]["filters"]["dead"]  # [3, 17]
        ```
    """

    name = "view"

    def __init__(self, layers: list[dict[str, Any]], options: LoggerOptions,
                 captions: list[str], probe_size: int) -> None:  # fmt: skip
        self.layers, self.every = layers, options.every_n_epochs
        self.head = {
            "options": {name: getattr(options, name) for name in _OPTIONS}
            | {"settled_threshold": SETTLED_THRESHOLD},
            "probe": {"size": probe_size, "captions": captions},
        }

    @classmethod
    def create(cls, setup: Setup) -> ViewProducer:
        positions = {ref.path: index for index, ref in enumerate(walk_layers(setup.model))}
        layers = [_static(ref, setup, positions.get(ref.path)) for ref in setup.layers]
        captions = setup.probe.captions()[:MAX_SHOWN_SAMPLES]
        return cls(layers, setup.options, captions, setup.probe.size)

    def produce(self, event: Event) -> list[Record]:
        facts = event.facts
        tags: dict[str, dict[str, str]] = {}
        for record in event.records:  # what was logged for each layer at this event
            if isinstance(record, ImageSet):
                kind, key = split_tag(record.tag)
                tags.setdefault(key, {})[kind] = record.tag
        layers = []
        for static in self.layers:
            path = static["path"]
            layer = {**static, "tags": tags.get(static["key"], {})}
            if path in facts.get("grids", {}):
                layer["grid"] = facts["grids"][path]
            if path in facts.get("filters", {}):
                layer.update(_filters(facts["filters"][path]))
            if path in facts.get("convergence", {}):
                state = facts["convergence"][path]
                layer["convergence"] = {"previous": state.last, "first": state.to_first,
                                        "settled_since": state.settled_since}  # fmt: skip
            layouts = {kind: per[path] for kind, per in facts.get("layouts", {}).items()
                       if path in per}  # fmt: skip
            if layouts:
                layer["layouts"] = layouts
            layers.append(layer)
        document = {"version": CONTENT_VERSION, "step": event.step, "logs": _logs(event.logs),
                    **self.head, "layers": layers}  # fmt: skip
        return [Document(EVENT_TAG, document)]


def _static(ref: LayerRef, setup: Setup, position: int | None) -> dict[str, Any]:
    """What does not change from one event to the next."""
    graph = setup.graph
    shape = None
    if graph.reaches(ref.layer):
        shape = [None if d is None else int(d) for d in graph.output(ref.layer).shape]
    return {"path": ref.path, "key": setup.keys.get(ref.path, ref.path),
            "class": type(ref.layer).__name__, "position": position, "shape": shape}


def _filters(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Per-filter numbers of one layer, compact: on-rates in thousandths, maxima to 4
    significant digits (NaN: null; a maximum of -inf means no finite value)."""
    filters = {"on_rate": permille(facts["on_rate"]), "max": rounded(facts["max"]),
               "dead": list(facts["dead"]), "dormant": list(facts["dormant"])}
    if facts.get("dead_inference") is not None:  # behind a BatchNormalization (see stats)
        filters["dead_inference"] = list(facts["dead_inference"])
    return {"measured_at": facts["measured_at"], "dead_applies": facts["floor"] is not None,
            "filters": filters}


def _logs(logs: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Keras's logs of the epoch as plain numbers (what is not a number is left out)."""
    plain: dict[str, float | None] = {}
    for name, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        plain[str(name)] = number if math.isfinite(number) else None
    return plain
