"""Filter weights: ``weights/<layer path>``, one tile per filter (see :mod:`actlog.kernels`); the
tile layout goes to ``event.facts["layouts"]["weights"]``."""

from __future__ import annotations

from actlog.kernels import kernel_images, kernel_variable
from actlog.layers import LayerRef
from actlog.layout import TileLayout
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
        records: list[Record] = []
        layouts = event.facts.setdefault("layouts", {}).setdefault("weights", {})
        for ref in self.layers:
            kernel = event.kernels[ref.path]
            image = kernel_images(kernel, o.max_filters, o.weights_cmap, o.min_tile_size,
                                  self.side)  # fmt: skip
            count = min(kernel.shape[-1], o.max_filters or kernel.shape[-1])
            layouts[ref.path] = TileLayout.of_grid(count, *image.shape[1:3]).as_dict()
            records.append(ImageSet(self.tag("weights", ref.path), image, None,
                                    _DESCRIPTION.format(path=ref.path)))  # fmt: skip
        return records
