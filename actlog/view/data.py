"""One run's view documents (:mod:`actlog.view.metadata`), indexed for what the frontend asks:
the run at a glance (every layer's health over the steps, the logs, the tile layouts), one
layer's per-filter numbers over the steps, and where each logged image is.

Where the documents and images come from is not this module's business: the TensorBoard plugin
feeds it from the data provider, the report from event files. Documents are parsed once, as
they arrive, into compact per-layer arrays (a 300-event ResNet50 run holds about 7 MB here).
Pure: no I/O.

Example:
    ```python
    index = RunIndex()
    for step, payload in documents:  # bytes of each event's document
        index.add(step, payload)
    index.set_images({"activations/conv2d": {-1: ref0, 0: ref1}})
    index.overview()["layers"][0]["series"]["dead"]  # dead filters at every step
    ```
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actlog.view.metadata import decode, rounded

logger = logging.getLogger(__name__)

#: What the overview shows of each layer at each step (one number each).
SERIES = ("dead", "dormant", "on_rate", "max", "convergence", "convergence_to_first")


@dataclass
class LayerAt:
    """One layer at one step: its per-filter numbers as arrays, the rest as logged."""

    info: dict[str, Any]
    on_rate: np.ndarray | None = None  # float32 (filters,), share in [0, 1], NaN: none
    max: np.ndarray | None = None  # float32 (filters,), NaN: no finite value
    dead: list[int] = field(default_factory=list)
    dormant: list[int] = field(default_factory=list)


@dataclass
class StepAt:
    """One logging event: its logs, options and layers (path -> :class:`LayerAt`)."""

    step: int
    logs: dict[str, Any]
    head: dict[str, Any]
    layers: dict[str, LayerAt]


class RunIndex:
    """A run's documents by step, and its images by tag and step (opaque references: blob
    keys in the plugin, bytes in the report)."""

    def __init__(self) -> None:
        self._steps: dict[int, StepAt] = {}
        self._seen: dict[int, Any] = {}  # step -> the version key of the document kept
        self.images: dict[str, dict[int, Any]] = {}

    @property
    def steps(self) -> list[int]:
        """The steps that have a document, ascending."""
        return sorted(self._steps)

    def has(self, step: int, version: Any = None) -> bool:
        """Whether the document of ``step`` (at ``version``, e.g. its wall time) is in."""
        return step in self._steps and self._seen.get(step) == version

    def add(self, step: int, payload: bytes | str, version: Any = None) -> bool:
        """Adds the document of ``step`` (replacing an older one of that step); returns False
        and logs why for a document that cannot be read (a newer format, broken JSON)."""
        try:
            document = decode(payload)
        except ValueError as error:
            logger.warning("actlog view: skipping the document of step %d: %s", step, error)
            return False
        layers = {}
        for layer in document.get("layers", []):
            filters = layer.pop("filters", None)
            at = LayerAt(layer)
            if filters is not None:
                at.on_rate = _array(filters.get("on_rate"), 1000.0)
                at.max = _array(filters.get("max"))
                at.dead, at.dormant = filters.get("dead", []), filters.get("dormant", [])
            layers[layer["path"]] = at
        head = {key: document[key] for key in ("options", "probe") if key in document}
        self._steps[step] = StepAt(step, document.get("logs") or {}, head, layers)
        self._seen[step] = version
        return True

    def set_images(self, images: Mapping[str, Mapping[int, Any]]) -> None:
        """Tag -> step -> image reference, for every image tag of the run."""
        self.images = {tag: dict(steps) for tag, steps in images.items()}

    def image(self, tag: str, step: int) -> Any:
        """The reference of the image of ``tag`` at ``step``, or None."""
        return self.images.get(tag, {}).get(step)

    def layer_at(self, path: str, step: int) -> LayerAt | None:
        """Layer ``path`` at ``step``, or None where that step has no document of it."""
        at = self._steps.get(step)
        return None if at is None else at.layers.get(path)

    def overview(self) -> dict[str, Any]:
        """The run at a glance, as the frontend reads it: the steps, each logged metric over
        them, the latest options and probe, and per layer (model order) what does not change,
        one number per step for each of :data:`SERIES`, and the steps at which each of its
        images and tile layouts is logged (the layouts only where they change)."""
        steps = self.steps
        if not steps:
            return {"steps": [], "logs": {}, "layers": []}
        events = [self._steps[step] for step in steps]
        names = sorted({name for event in events for name in event.logs})
        logs = {name: [event.logs.get(name) for event in events] for name in names}
        last = events[-1]
        paths = _layer_order(events)
        return {
            "steps": steps,
            "logs": logs,
            **last.head,
            "layers": [self._layer_overview(path, events) for path in paths],
        }

    def _layer_overview(self, path: str, events: list[StepAt]) -> dict[str, Any]:
        ats = [event.layers.get(path) for event in events]
        latest = next(at for at in reversed(ats) if at is not None)
        info = {key: value for key, value in latest.info.items()
                if key not in ("grid", "layouts", "tags", "convergence")}  # fmt: skip
        series: dict[str, list[Any]] = {name: [] for name in SERIES}
        grids: list[list[Any]] = []
        layouts: dict[str, list[list[Any]]] = {}
        settled = None
        for event, at in zip(events, ats, strict=True):
            numbers = _numbers(at)
            for name in SERIES:
                series[name].append(numbers.get(name))
            if at is None:
                continue
            grid = at.info.get("grid")
            if grid is not None and (not grids or grids[-1][1] != grid):
                grids.append([event.step, grid])
            for kind, layout in at.info.get("layouts", {}).items():
                changes = layouts.setdefault(kind, [])
                if not changes or changes[-1][1] != layout:
                    changes.append([event.step, layout])
            settled = (at.info.get("convergence") or {}).get("settled_since", settled)
        key = latest.info.get("key", path)
        images = {tag.partition("/")[0]: sorted(steps) for tag, steps in self.images.items()
                  if tag.partition("/")[2] == key}  # fmt: skip
        tags = {tag.partition("/")[0]: tag for tag in self.images if tag.partition("/")[2] == key}
        filters = next((len(at.on_rate) for at in reversed(ats)
                        if at is not None and at.on_rate is not None), None)  # fmt: skip
        return {**info, "filters": filters, "series": series, "settled_since": settled,
                "grids": grids, "layouts": layouts, "images": images, "tags": tags}  # fmt: skip

    def filters(self, path: str) -> dict[str, Any]:
        """Layer ``path``'s per-filter numbers at every step it has them: on-rates (in
        thousandths, null: none) and maxima, steps x filters, and the dead and dormant filters
        of each step.

        Raises:
            KeyError: if no document holds the layer.
        """
        rows = self._rows(path)
        return {
            "steps": [step for step, _ in rows],
            "on_rate": [_thousandths(at.on_rate) for _, at in rows],
            "max": [_significant(at.max) for _, at in rows],
            "dead": [at.dead for _, at in rows],
            "dormant": [at.dormant for _, at in rows],
        }

    def filter(self, path: str, index: int) -> dict[str, Any]:
        """Filter ``index`` of layer ``path`` over the steps: its on-rate (a share, null: none)
        and maximum at every step the layer has numbers, and whether it was dead or dormant.

        Raises:
            KeyError: if no document holds the layer.
            IndexError: for a filter the layer does not have.
        """
        rows = self._rows(path)
        count = max((len(at.on_rate) for _, at in rows if at.on_rate is not None), default=0)
        if not 0 <= index < count:
            raise IndexError(f"filter {index} of {count}")

        def one(values: np.ndarray | None, scale: float = 1.0) -> float | None:
            if values is None or len(values) <= index or np.isnan(values[index]):
                return None
            return float(values[index]) * scale

        return {
            "steps": [step for step, _ in rows],
            "on_rate": [_round(one(at.on_rate, 1000.0)) for _, at in rows],
            "max": [None if (peak := one(at.max)) is None else rounded([peak])[0]
                    for _, at in rows],
            "dead": [index in at.dead for _, at in rows],
            "dormant": [index in at.dormant for _, at in rows],
        }

    def _rows(self, path: str) -> list[tuple[int, LayerAt]]:
        rows = [(step, at) for step in self.steps
                if (at := self._steps[step].layers.get(path)) is not None
                and at.on_rate is not None]  # fmt: skip
        if not rows and not any(path in event.layers for event in self._steps.values()):
            raise KeyError(path)
        return rows


def _layer_order(events: list[StepAt]) -> list[str]:
    """Every layer of the run, in model order (by position, then as last logged)."""
    seen: dict[str, tuple[float, int]] = {}
    for event in events:
        for order, (path, at) in enumerate(event.layers.items()):
            position = at.info.get("position")
            seen[path] = (float("inf") if position is None else position, order)
    return sorted(seen, key=lambda path: seen[path])


def _numbers(at: LayerAt | None) -> dict[str, Any]:
    """The overview's numbers of one layer at one step."""
    if at is None:
        return {}
    numbers: dict[str, Any] = {}
    if at.on_rate is not None:
        numbers["dead"] = len(at.dead) if at.info.get("dead_applies") else None
        numbers["dormant"] = len(at.dormant)
        numbers["on_rate"] = _mean(at.on_rate)
        numbers["max"] = _peak(at.max)
    convergence = at.info.get("convergence") or {}
    numbers["convergence"] = convergence.get("previous")
    numbers["convergence_to_first"] = convergence.get("first")
    return numbers


def _array(values: Any, scale: float = 1.0) -> np.ndarray:
    try:
        array = np.array(values or [], np.float32)
    except TypeError:  # a null (NaN) among them
        array = np.array([np.nan if v is None else v for v in values], np.float32)
    return array / np.float32(scale) if scale != 1.0 else array


def _round(value: float | None) -> float | None:
    """An on-rate in thousandths back to a share (null stays null)."""
    return None if value is None else round(value) / 1000


def _thousandths(array: np.ndarray | None) -> list[int | None]:
    """Shares as whole thousandths, NaN as None."""
    if array is None:
        return []
    whole = np.where(np.isnan(array), -1, np.round(array.astype(np.float64) * 1000))
    return [None if v < 0 else v for v in whole.astype(np.int64).tolist()]


def _significant(array: np.ndarray | None, digits: int = 4) -> list[float | None]:
    """Numbers to ``digits`` significant digits (the documents' maxima, held as float32), NaN
    and infinities as None; vectorized. A whole number over a power of ten is the double
    nearest that decimal, so JSON writes it short."""
    if array is None:
        return []
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    magnitude = np.floor(np.log10(np.abs(np.where(finite & (values != 0), values, 1.0))))
    shift = (digits - 1 - magnitude).astype(np.int64)
    whole = np.round(values * np.power(10.0, np.clip(shift, 0, None))
                     / np.power(10.0, np.clip(-shift, 0, None)))  # fmt: skip
    out = np.where(shift >= 0, whole / np.power(10.0, np.clip(shift, 0, None)),
                   whole * np.power(10.0, np.clip(-shift, 0, None)))  # fmt: skip
    return [v if ok else None for v, ok in zip(out.tolist(), finite.tolist(), strict=True)]


def _mean(array: np.ndarray) -> float | None:
    finite = array[np.isfinite(array)]
    return round(float(finite.mean()), 4) if finite.size else None


def _peak(array: np.ndarray | None) -> float | None:
    if array is None:
        return None
    finite = array[np.isfinite(array)]
    return rounded([finite.max()])[0] if finite.size else None
