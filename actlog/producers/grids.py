"""Feature-map grids: each chosen layer's maps of the probe, dead filters framed."""

from __future__ import annotations

from collections.abc import Callable

from actlog.graph import ModelGraph
from actlog.images import GridRenderer
from actlog.layers import LayerRef
from actlog.layout import tile_size
from actlog.options import LoggerOptions
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import ImageSet, Record, Scalar
from actlog.sheet import contact_sheet, image_side, sheet_origins

#: PNG bytes per pixel assumed when sizing images to the budget: actlog's encoder (zlib level
#: 1, no row filter) on feature maps, measured on keras.applications backbones (bench/).
BYTES_PER_PIXEL = {1: 0.9, 3: 1.6}
#: The most probe samples the grids show (statistics use the whole probe).
MAX_SHOWN_SAMPLES = 16


class GridsProducer(Producer):
    """``activations/<layer path>``: the layer's maps normalized and tiled (see
    :mod:`actlog.images`). By default one image per layer, the probe samples side by side under
    their captions (one TensorBoard card per layer); ``sample_images=True`` writes one image per
    sample instead. Filters the statistics found dead in the same event (``event.facts["dead"]``,
    measured at ``event.facts["measured_at"]``) are framed in red; NaN and infinite values are
    drawn magenta, counted under ``nonfinite/<layer path>`` and warned about once per layer.
    Images are sized to their share of ``max_event_mb``. Each layer's tile layout goes to
    ``event.facts["grids"]`` (for the view's document)."""

    name = "grids"

    def __init__(self, layers: list[LayerRef], options: LoggerOptions, captions: list[str],
                 warn: Callable[[str, str], None], graph: ModelGraph) -> None:  # fmt: skip
        self.layers, self.options, self.warn, self.graph = layers, options, warn, graph
        self.captions = captions[:MAX_SHOWN_SAMPLES]
        self.every = options.every_n_epochs
        self.renderer = GridRenderer(options.normalize, options.max_filters, options.cmap,
                                     options.min_tile_size, options.max_image_size)  # fmt: skip
        self.image_bytes = float("inf")

    @classmethod
    def create(cls, setup: Setup) -> GridsProducer:
        if setup.probe.size > MAX_SHOWN_SAMPLES:
            setup.warn(
                "shown-samples",
                f"actlog: the probe holds {setup.probe.size} samples; the grids show the first "
                f"{MAX_SHOWN_SAMPLES} (the statistics use all). Pass a smaller probe to choose "
                "which.",
            )
        return cls(setup.layers, setup.options, setup.probe.captions(), setup.warn, setup.graph)

    def needs(self) -> Needs:
        return Needs(maps=tuple(self.layers), strides=tuple(
            (ref, self._stride(ref)) for ref in self.layers))  # fmt: skip

    def _stride(self, ref: LayerRef) -> int:
        """How much a 2-D map of ``ref`` is shrunk on screen, in whole pixels (1 when it is
        not, or when its size is unknown): only every so-many pixels need leave the device."""
        graph = self.graph
        shape = tuple(graph.output(ref.layer).shape) if graph.reaches(ref.layer) else ()
        if len(shape) < 4 or None in shape[-3:]:  # 2-D maps, or volumes projected to them
            return 1
        o = self.options
        height, width, channels = shape[-3:]
        count = min(channels, o.max_filters or channels)
        pixels = self.image_bytes / BYTES_PER_PIXEL[1 if o.cmap is None else 3]
        samples = len(self.captions)
        side = image_side(samples, o.max_image_size, pixels, not o.sample_images)
        _, tile_h, tile_w = tile_size(count, height, width, False, o.min_tile_size,
                                      min(side, o.max_image_size))  # fmt: skip
        return max(1, min(height // tile_h, width // tile_w))

    def image_count(self) -> int:
        per_layer = len(self.captions) if self.options.sample_images else 1
        return len(self.layers) * per_layer

    def set_image_budget(self, nbytes: float) -> None:
        self.image_bytes = nbytes

    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        dead, measured = event.facts.get("dead", {}), event.facts.get("measured_at", {})
        layouts = event.facts.setdefault("grids", {})
        for ref in self.layers:
            maps = event.maps[ref.path][:MAX_SHOWN_SAMPLES]
            colour = self.options.cmap is not None or bool(dead.get(ref.path))
            pixels = self.image_bytes / BYTES_PER_PIXEL[3 if colour else 1]
            side = image_side(len(maps), self.options.max_image_size, pixels,
                              not self.options.sample_images)
            grids = self.renderer.render(ref.path, maps, dead.get(ref.path), side)
            layout = "" if self.options.sample_images else (
                f", one grid per probe sample ({len(maps)}, captioned)"
            )
            description = (
                f"Feature maps of layer `{ref.path}` ({type(ref.layer).__name__}): filters "
                f"0-{grids.filters_shown - 1} of {grids.filters_total}, row-major, "
                f"'{self.renderer.normalize}' normalization{layout}. Step -1 is before training."
            )
            if ref.path in measured:
                description += (
                    f" Dead filters (measured at `{measured[ref.path]}`) are framed in red."
                )
            tag = self.tag("activations", ref.path)
            height, width = grids.images.shape[1:3]
            origins = ([(0, 0)] * len(maps) if self.options.sample_images
                       else sheet_origins(len(maps), height, width))  # fmt: skip
            assert grids.layout is not None
            layouts[ref.path] = {**grids.layout.as_dict(), "total": grids.filters_total,
                                 "origins": origins, "per_sample": self.options.sample_images}
            if self.options.sample_images:
                records.append(ImageSet(tag, grids.images, self.captions, description))
            else:
                sheet = contact_sheet(grids.images, self.captions[: len(maps)])
                records.append(ImageSet(tag, sheet, None, description))
            if grids.nonfinite:
                self.warn(
                    f"nonfinite:{ref.path}",
                    f"actlog: layer {ref.path!r} produced {grids.nonfinite} NaN or infinite "
                    f"values at step {event.step}; they are drawn in magenta and counted under "
                    f"{self.tag('nonfinite', ref.path)}.",
                )
                records.append(Scalar(self.tag("nonfinite", ref.path), grids.nonfinite))
        return records
