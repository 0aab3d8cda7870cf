"""Maximized inputs: ``maximized/<layer path>``, what each shown filter looks for
(:mod:`actlog.maximize`), every ``maximize_every_n_epochs`` epochs; the tile layout goes to
``event.facts["layouts"]["maximized"]``."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from actlog.images import image_grid
from actlog.layers import LayerRef
from actlog.layout import TileLayout
from actlog.maximize import FilterMaximizer, Maximized
from actlog.options import LoggerOptions
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.producers.grids import BYTES_PER_PIXEL
from actlog.records import ImageSet, Record


class MaximizedProducer(Producer):
    """Runs one compiled gradient ascent per layer with 2-D maps on the training thread (it
    needs the model), for the layer's first ``max_filters`` filters; grids them off it, the
    filters that never turned on framed in red (they are drawn flat grey). A filter off at the
    grey start is ascended on its pre-activation until it turns on (:mod:`actlog.maximize`)."""

    name = "maximized"

    def __init__(self, model: keras.Model, layers: list[LayerRef], options: LoggerOptions,
                 ) -> None:  # fmt: skip
        self.model, self.layers, self.options = model, layers, options
        self.every = options.maximize_every_n_epochs
        self.maximizers: dict[str, FilterMaximizer] = {}
        self.side = options.max_image_size

    @classmethod
    def create(cls, setup: Setup) -> MaximizedProducer | None:
        if not setup.options.maximize_every_n_epochs:
            return None
        return cls(setup.model, setup.layers, setup.options)

    def image_count(self) -> int:
        return len(self.layers)

    def set_image_budget(self, nbytes: float) -> None:
        self.side = min(self.options.max_image_size, int((nbytes / BYTES_PER_PIXEL[3]) ** 0.5))

    def needs(self) -> Needs:
        return Needs(maps=tuple(self.layers))  # their shapes, at the first capture

    def prepare(self, maps: Mapping[str, np.ndarray]) -> None:
        limit = self.options.max_filters
        for ref in self.layers:
            if maps[ref.path].ndim == 4:
                count = maps[ref.path].shape[-1]
                self.maximizers[ref.path] = FilterMaximizer(
                    self.model, ref, range(min(count, limit or count)),
                    steps=self.options.maximize_steps,
                )  # fmt: skip

    def collect(self, step: int) -> dict[str, Maximized]:
        return {path: maximizer(seed=0) for path, maximizer in self.maximizers.items()}

    def produce(self, event: Event) -> list[Record]:
        o = self.options
        records: list[Record] = []
        layouts = event.facts.setdefault("layouts", {}).setdefault("maximized", {})
        for path, result in event.collected[self.name].items():
            images = (np.clip(result.images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
            if images.shape[-1] not in (1, 3):
                images = images[..., :1]
            marked = [result.filters.index(f) for f in result.inactive]
            grid = image_grid(images, marked, o.min_tile_size, self.side)
            layout = TileLayout.of_grid(len(images), *grid.shape[1:3])
            layouts[path] = {**layout.as_dict(), "filters": list(result.filters),
                             "inactive": list(result.inactive)}  # fmt: skip
            description = (
                f"What filters {result.filters[0]}-{result.filters[-1]} of `{path}` look for: "
                "for each, the input that maximizes its mean activation (gradient ascent from "
                "grey, same seed every time; a filter off at grey climbs its pre-activation "
                "until it turns on). Framed in red: filters that never turned on."
            )
            records.append(ImageSet(self.tag("maximized", path), grid, None, description))
        return records
