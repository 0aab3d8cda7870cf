"""Animations: per layer, a GIF of its image (the first of the ``activations/`` record: the
probe samples side by side, or the first sample with ``sample_images``), step after step, at
train end to ``<log_dir>/animations/`` from frames kept as the run goes (compressed in memory;
nothing is read back from the sinks)."""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import numpy as np

from actlog.animate import make_gif
from actlog.producers.base import Event, Producer, Setup
from actlog.records import Animation, ImageSet, Record

logger = logging.getLogger(__name__)

PREFIX = "activations/"


class AnimationProducer(Producer):
    """Keeps the first image of every ``activations/`` record of each event (so it must come
    after the grids), by layer key; at the end, one GIF per layer, written to
    ``<layer path with / as __>.gif`` and logged as ``animations/<layer key>`` (the key of its
    ``activations/`` tag, :mod:`actlog.tags`)."""

    name = "animation"

    def __init__(self, out_dir: Path, every: int) -> None:
        self.out_dir, self.every = out_dir, every
        self.frames: dict[str, list[tuple[int, tuple[int, ...], bytes]]] = {}

    @classmethod
    def create(cls, setup: Setup) -> AnimationProducer | None:
        if not setup.options.animate:
            return None
        options = setup.options
        return cls(Path(options.log_dir) / "animations", options.every_n_epochs)

    def produce(self, event: Event) -> list[Record]:
        for record in event.records:
            if isinstance(record, ImageSet) and record.tag.startswith(PREFIX):
                image = np.ascontiguousarray(record.images[0])
                frame = (event.step, image.shape, zlib.compress(image.tobytes(), 1))
                self.frames.setdefault(record.tag[len(PREFIX):], []).append(frame)
        return []

    def finish(self) -> list[Record]:
        records: list[Record] = []
        paths = {key: path for path, key in self.keys.items()}
        for key, frames in self.frames.items():
            path = paths.get(key, key)
            decoded = [
                (step, np.frombuffer(zlib.decompress(data), np.uint8).reshape(shape))
                for step, shape, data in frames
            ]
            gif = make_gif(decoded, self.out_dir / (path.replace("/", "__") + ".gif"))
            logger.info("actlog: wrote %s", gif)
            records.append(Animation(self.tag("animations", path), gif))
        self.frames.clear()
        return records
