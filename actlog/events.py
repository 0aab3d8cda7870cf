"""What one logging event writes: records built from the arrays captured at that event.

:class:`EventBuilder` runs on the background writer. It knows neither Keras nor the sinks: it
turns captured activations (and kernels) into :class:`Record` s (grids, statistics, dead-filter
tables, weight images, overlays), and keeps what must persist across events (frozen scales,
since when each filter has been dead). :func:`write_record` hands a record to a sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from actlog.images import GridRenderer, image_grid
from actlog.kernels import kernel_images
from actlog.maximize import Maximized
from actlog.overlays import Geometry, overlay_images
from actlog.sinks.base import Sink
from actlog.stats import LayerStats, layer_stats


@dataclass(frozen=True)
class Record:
    """One thing to write: images, a scalar, a histogram or a table, under a tag."""

    kind: Literal["images", "scalar", "histogram", "table"]
    tag: str
    value: Any
    captions: list[str] | None = None
    description: str | None = None


def write_record(sink: Sink, record: Record, step: int) -> None:
    """Writes ``record`` at ``step`` with the sink method of its kind."""
    if record.kind == "images":
        sink.write_images(record.tag, record.value, step, record.captions, record.description)
    elif record.kind == "scalar":
        sink.write_scalar(record.tag, record.value, step)
    elif record.kind == "histogram":
        sink.write_histogram(record.tag, record.value, step)
    else:
        columns, rows = record.value
        sink.write_table(record.tag, columns, rows, step)


@dataclass(frozen=True)
class LayerPlan:
    """What to build for one chosen layer.

    Attributes:
        path: the chosen layer's path (the tags' suffix).
        kind: its class name, for descriptions.
        measured: the path whose output the statistics use (the layer, or its activation).
        geometry: alignment with the input for overlays (None: no overlays for this layer).
    """

    path: str
    kind: str
    measured: str
    geometry: Geometry | None = None


class EventBuilder:
    """Builds the records of each logging event.

    Args:
        plans: one per chosen layer, in model order.
        renderer: the grid renderer (it keeps ``"fixed"`` scales).
        captions: one per probe sample.
        stats: write statistics and mark dead filters.
        dormant_threshold: tau of the dormant test.
        weights: write filter-weight images (``kernels`` are passed to :meth:`build`).
        weights_cmap: colour map of the weight images (None: grey/RGB).
        overlays: top filters per probe sample to overlay on the input (0: none).
        overlay_inputs: the probe images ``(batch, H, W, channels)`` for overlays.
        warn: called with (key, message) for things the user should hear about once.
    """

    def __init__(
        self,
        plans: Sequence[LayerPlan],
        renderer: GridRenderer,
        captions: list[str],
        stats: bool = True,
        dormant_threshold: float = 0.025,
        weights: bool = False,
        weights_cmap: str | None = None,
        overlays: int = 0,
        overlay_inputs: np.ndarray | None = None,
        warn: Callable[[str, str], None] | None = None,
    ) -> None:
        self.plans = list(plans)
        self.renderer = renderer
        self.captions = captions
        self.stats = stats
        self.dormant_threshold = dormant_threshold
        self.weights = weights
        self.weights_cmap = weights_cmap
        self.overlays = overlays
        self.overlay_inputs = overlay_inputs
        self._warn = warn or (lambda key, message: None)
        #: The last statistics of each layer.
        self.latest_stats: dict[str, LayerStats] = {}
        #: Per layer: dead filter index -> the first step of its current dead streak.
        self.dead_since: dict[str, dict[int, int]] = {}

    def build(
        self,
        step: int,
        activations: dict[str, np.ndarray],
        kernels: dict[str, np.ndarray] | None = None,
    ) -> list[Record]:
        """The records of the event at ``step``."""
        records: list[Record] = []
        for plan in self.plans:
            dead: list[int] = []
            if self.stats:
                stats = layer_stats(activations[plan.measured], self.dormant_threshold)
                dead = stats.dead
                records += self._stats_records(plan, stats, activations[plan.measured], step)
            records += self._grid_records(plan, activations[plan.path], dead, step)
            if self.weights and kernels and plan.path in kernels:
                image = kernel_images(
                    kernels[plan.path],
                    self.renderer.max_filters,
                    self.weights_cmap,
                    self.renderer.min_tile_size,
                    self.renderer.max_image_size,
                )
                records.append(Record("images", f"weights/{plan.path}", image, None, (
                    f"Filter weights of `{plan.path}`: one tile per filter, 0 = mid-grey, "
                    "the largest |weight| = black or white; colour for 3 input channels, "
                    "else the mean over input channels."
                )))  # fmt: skip
            if self.overlays and plan.geometry is not None and self.overlay_inputs is not None:
                records.append(self._overlay_record(plan, activations[plan.path]))
        return records

    def maximized_records(self, results: dict[str, Maximized]) -> list[Record]:
        """One grid per layer of its filters' maximizing images, filters that stayed off
        framed in red (they are drawn flat grey)."""
        records = []
        for path, result in results.items():
            images = (np.clip(result.images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
            if images.shape[-1] not in (1, 3):
                images = images[..., :1]
            marked = [result.filters.index(f) for f in result.inactive]
            grid = image_grid(
                images, marked, self.renderer.min_tile_size, self.renderer.max_image_size
            )
            description = (
                f"What filters {result.filters[0]}-{result.filters[-1]} of `{path}` look for: "
                "for each, the input that maximizes its mean activation (gradient ascent from "
                "grey, same seed every time). Framed in red: filters that stayed off."
            )
            records.append(Record("images", f"maximized/{path}", grid, None, description))
        return records

    def _grid_records(
        self, plan: LayerPlan, activation: np.ndarray, dead: list[int], step: int
    ) -> list[Record]:
        grids = self.renderer.render(plan.path, activation, dead)
        description = (
            f"Feature maps of layer `{plan.path}` ({plan.kind}), one image per probe sample: "
            f"filters 0-{grids.filters_shown - 1} of {grids.filters_total}, row-major, "
            f"'{self.renderer.normalize}' normalization. Step -1 is before training."
        )
        if self.stats:
            description += f" Dead filters (measured at `{plan.measured}`) are framed in red."
        records = [
            Record("images", f"activations/{plan.path}", grids.images, self.captions, description)
        ]
        if grids.nonfinite:
            self._warn(
                f"nonfinite:{plan.path}",
                f"actlog: layer {plan.path!r} produced {grids.nonfinite} NaN or infinite values "
                f"at step {step}; they are drawn in magenta and counted under "
                f"nonfinite/{plan.path}.",
            )
            records.append(Record("scalar", f"nonfinite/{plan.path}", grids.nonfinite))
        return records

    def _stats_records(
        self, plan: LayerPlan, stats: LayerStats, measured: np.ndarray, step: int
    ) -> list[Record]:
        self.latest_stats[plan.path] = stats
        since = self.dead_since.setdefault(plan.path, {})
        for index in list(since):
            if index not in stats.dead:
                del since[index]
        for index in stats.dead:
            since.setdefault(index, step)
        values = _histogram_sample(measured)
        rows = [[index, since[index]] for index in stats.dead]
        return [
            Record("scalar", f"dead_filters/{plan.path}", stats.dead_fraction),
            Record("scalar", f"on_rate/{plan.path}", stats.on_rate),
            Record("scalar", f"mean_activation/{plan.path}", stats.mean),
            Record("histogram", f"activation_hist/{plan.path}", values),
            Record("table", f"dead_filter_list/{plan.path}", (["filter", "dead since step"], rows)),
        ]

    def _overlay_record(self, plan: LayerPlan, activation: np.ndarray) -> Record:
        assert self.overlay_inputs is not None and plan.geometry is not None
        images, chosen = overlay_images(
            self.overlay_inputs,
            activation,
            self.overlays,
            plan.geometry,
            min_tile_size=self.renderer.min_tile_size,
            max_image_size=self.renderer.max_image_size,
        )
        captions = [
            f"{caption}: filters {', '.join(map(str, row))}"
            for caption, row in zip(self.captions, chosen.tolist(), strict=True)
        ]
        description = (
            f"The {chosen.shape[1]} most active filters of `{plan.path}` per probe sample "
            "(highest mean activation, hottest first), each as a heatmap over the input, "
            "aligned by receptive field."
        )
        return Record("images", f"overlays/{plan.path}", images, captions, description)


#: Histograms are drawn from at most this many values per layer (an even stride through them).
HISTOGRAM_SAMPLE = 1 << 14


def _histogram_sample(activation: np.ndarray) -> np.ndarray:
    """Up to :data:`HISTOGRAM_SAMPLE` finite values, evenly strided through the activation: a
    histogram needs no more, and a large layer holds millions."""
    flat = np.asarray(activation).reshape(-1)
    sample = flat[:: max(1, flat.size // HISTOGRAM_SAMPLE)].astype(np.float32)
    return sample[np.isfinite(sample)]
