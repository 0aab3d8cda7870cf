"""Filter weights: ``weights/<layer path>``, one tile per filter (see :mod:`actlog.kernels`)."""

from __future__ import annotations

from actlog.kernels import kernel_images, kernel_variable
from actlog.layers import LayerRef
from actlog.options import LoggerOptions
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.producers.grids import BYTES_PER_PIXEL
from actlog.records import ImageSet, Record

_DESCRIPTION = (
    "Filter weights of `{path}`: one tile per filter, 0 = mid-grey, the largest |weight| = "
    "black or white; colour for 3 input channels, else the mean over input channels."
)


class WeightsProducer(Producer):
    """One image of each chosen layer's kernel per event (layers without one are skipped)."""

    name = "weights"

    def __init__(self, layers: list[LayerRef], options: LoggerOptions) -> None:
        self.layers = [ref for ref in layers if kernel_variable(ref.layer) is not None]
        self.options, self.every = options, options.every_n_epochs
        self.side = options.max_image_size

    @classmethod
    def create(cls, setup: Setup) -> WeightsProducer | None:
        return cls(setup.layers, setup.options) if setup.options.weights else None

    def image_count(self) -> int:
        return len(self.layers)

    def set_image_budget(self, nbytes: float) -> None:
        self.side = min(self.options.max_image_size, int((nbytes / BYTES_PER_PIXEL[3]) ** 0.5))

    def needs(self) -> Needs:
        return Needs(kernels=tuple(self.layers))


    def produce(self, event: Event) -> list[Record]:
        o = self.options
        return [
            ImageSet(
                self.tag("weights", ref.path),
                kernel_images(event.kernels[ref.path], o.max_filters, o.weights_cmap,
                              o.min_tile_size, self.side),
                None,
                _DESCRIPTION.format(path=ref.path),
            )
            for ref in self.layers
        ]
