"""Overlays: each probe sample's most active filters of each layer as heatmaps over the input,
aligned by receptive field (:mod:`actlog.geometry`, :mod:`actlog.overlays`); the tile layout and
the filters shown go to ``event.facts["layouts"]["overlays"]``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import keras
import numpy as np

from actlog.geometry import layer_geometry
from actlog.layers import LayerRef
from actlog.options import LoggerOptions
from actlog.overlays import Geometry, overlay_images, overlay_layout, stretch_geometry
from actlog.probe import first_input
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.producers.grids import BYTES_PER_PIXEL, MAX_SHOWN_SAMPLES
from actlog.records import ImageSet, Record
from actlog.sheet import contact_sheet, image_side, sheet_origins

logger = logging.getLogger(__name__)


class OverlaysProducer(Producer):
    """``overlays/<layer path>`` for each chosen layer with 2-D maps."""

    name = "overlays"

    def __init__(self, model: keras.Model, layers: list[LayerRef], images: np.ndarray,
                 captions: list[str], options: LoggerOptions) -> None:  # fmt: skip
        self.model, self.layers = model, layers
        self.options, self.every = options, options.every_n_epochs
        self.images, self.captions = images[:MAX_SHOWN_SAMPLES], captions[:MAX_SHOWN_SAMPLES]
        self.geometry: dict[str, Geometry] = {}
        self.image_bytes = float("inf")

    @classmethod
    def create(cls, setup: Setup) -> OverlaysProducer | None:
        if not setup.options.overlays:
            return None
        images = first_input(setup.probe.x)
        if images.ndim != 4:
            raise ValueError(
                "overlays need an image input (batch, height, width, channels) to draw on; "
                f"the probe's first input has shape {images.shape}. Pass overlays=0."
            )
        return cls(setup.model, setup.layers, images, setup.probe.captions(), setup.options)

    def needs(self) -> Needs:
        return Needs(maps=tuple(self.layers), full_maps=True)

    def image_count(self) -> int:
        return len(self.layers) * (len(self.captions) if self.options.sample_images else 1)

    def set_image_budget(self, nbytes: float) -> None:
        self.image_bytes = nbytes

    def prepare(self, maps: Mapping[str, np.ndarray]) -> None:
        size = self.images.shape[1:3]
        for ref in self.layers:
            if maps[ref.path].ndim != 4:
                continue  # 1-D or 3-D maps: no 2-D overlay
            geometry = layer_geometry(self.model, ref, size)
            if geometry is None:
                logger.info("actlog: overlays of %s stretch the map over the input.", ref.path)
                geometry = stretch_geometry(size, maps[ref.path].shape[1:3])
            self.geometry[ref.path] = geometry
        self.model = None  # nothing more to read from it

    def produce(self, event: Event) -> list[Record]:
        o = self.options
        records: list[Record] = []
        samples = len(self.images)
        pixels = self.image_bytes / BYTES_PER_PIXEL[3]
        side = image_side(samples, o.max_image_size, pixels, not o.sample_images)
        layouts = event.facts.setdefault("layouts", {}).setdefault("overlays", {})
        for path, geometry in self.geometry.items():
            maps = event.maps[path][:samples]
            size = min(side, o.max_image_size)
            images, chosen = overlay_images(self.images, maps, o.overlays, geometry,
                                            min_tile_size=o.min_tile_size, max_image_size=size)
            layout = overlay_layout(chosen.shape[1], *self.images.shape[1:3], o.min_tile_size,
                                    size)  # fmt: skip
            origins = ([(0, 0)] * samples if o.sample_images
                       else sheet_origins(samples, *images.shape[1:3]))  # fmt: skip
            layouts[path] = {**layout.as_dict(), "filters": chosen.tolist(), "origins": origins,
                             "per_sample": o.sample_images}  # fmt: skip
            captions = [
                f"{caption}: filters {', '.join(map(str, row))}"
                for caption, row in zip(self.captions, chosen.tolist(), strict=True)
            ]
            if not o.sample_images:
                images, captions = contact_sheet(images, captions), None
            description = (
                f"The {chosen.shape[1]} most active filters of `{path}` per probe sample "
                "(highest mean activation, hottest first), each as a heatmap over the input, "
                "aligned by receptive field."
            )
            records.append(ImageSet(self.tag("overlays", path), images, captions, description))
        return records
