"""Feature-map grids: one image per probe sample for each chosen layer, dead filters framed."""

from __future__ import annotations

from collections.abc import Callable

from actlog.images import GridRenderer
from actlog.layers import LayerRef
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import ImageSet, Record, Scalar


class GridsProducer(Producer):
    """``activations/<layer path>``: the layer's maps normalized and tiled (see
    :mod:`actlog.images`), one image per probe sample; filters the statistics found dead in the
    same event (``event.facts["dead"]``, measured at ``event.facts["measured_at"]``) framed in
    red; NaN and infinite values drawn magenta, counted under
    ``nonfinite/<layer path>`` and warned about once per layer."""

    name = "grids"

    def __init__(self, layers: list[LayerRef], renderer: GridRenderer, captions: list[str],
                 every: int, warn: Callable[[str, str], None]) -> None:  # fmt: skip
        self.layers, self.renderer, self.captions = layers, renderer, captions
        self.every, self.warn = every, warn

    @classmethod
    def create(cls, setup: Setup) -> GridsProducer:
        o = setup.options
        renderer = GridRenderer(o.normalize, o.max_filters, o.cmap, o.min_tile_size,
                                o.max_image_size)  # fmt: skip
        return cls(setup.layers, renderer, setup.probe.captions(), o.every_n_epochs, setup.warn)

    def needs(self) -> Needs:
        return Needs(maps=tuple(self.layers))


    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        dead, measured = event.facts.get("dead", {}), event.facts.get("measured_at", {})
        for ref in self.layers:
            grids = self.renderer.render(ref.path, event.maps[ref.path], dead.get(ref.path))
            description = (
                f"Feature maps of layer `{ref.path}` ({type(ref.layer).__name__}), one image "
                f"per probe sample: filters 0-{grids.filters_shown - 1} of "
                f"{grids.filters_total}, row-major, '{self.renderer.normalize}' normalization. "
                "Step -1 is before training."
            )
            if ref.path in measured:
                description += (
                    f" Dead filters (measured at `{measured[ref.path]}`) are framed in red."
                )
            tag = f"activations/{ref.path}"
            records.append(ImageSet(tag, grids.images, self.captions, description))
            if grids.nonfinite:
                self.warn(
                    f"nonfinite:{ref.path}",
                    f"actlog: layer {ref.path!r} produced {grids.nonfinite} NaN or infinite "
                    f"values at step {event.step}; they are drawn in magenta and counted under "
                    f"nonfinite/{ref.path}.",
                )
                records.append(Scalar(f"nonfinite/{ref.path}", grids.nonfinite))
        return records
