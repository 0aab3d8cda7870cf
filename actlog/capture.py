"""The capture: one compiled call per logging event that gathers what every producer needs.

The training thread stops here: the probe runs once through a feature model of the union of
the layers the producers read (compiled once, :class:`actlog.extract.FeatureExtractor`), and
the kernels they read are copied to the host. Everything after runs on the background thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from actlog.extract import FeatureExtractor
from actlog.kernels import layer_kernel
from actlog.layers import LayerRef
from actlog.producers.base import Needs


class Capture:
    """Captures the maps and kernels that ``needs`` ask for, in one forward pass.

    Args:
        model: the model to read (never modified).
        needs: what each producer needs.

    Example:
        ```python
        capture = Capture(model, [producer.needs() for producer in producers])
        maps, kernels = capture(probe.x)
        ```
    """

    def __init__(self, model: keras.Model, needs: Sequence[Needs]) -> None:
        self.map_refs = _unique([ref for need in needs for ref in need.maps])
        self.kernel_refs = _unique([ref for need in needs for ref in need.kernels])
        #: The compiled feature model (None when no producer reads maps).
        self.extractor = FeatureExtractor(model, self.map_refs) if self.map_refs else None

    def __call__(
        self, x: Any, maps: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The maps of the probe ``x`` (``maps``: already captured ones, reused) and the
        kernels, by layer path, on the host."""
        if maps is None:
            maps = self.extractor(x) if self.extractor is not None else {}
        kernels = {ref.path: layer_kernel(ref.layer) for ref in self.kernel_refs}
        return maps, kernels


def _unique(refs: list[LayerRef]) -> list[LayerRef]:
    return list({ref.path: ref for ref in refs}.values())
