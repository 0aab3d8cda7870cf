"""The default choice of layers: what a person can read of a deep model.

``layers="conv"`` on a model with at most ``max_layers`` convolution layers logs them all. On a
deeper one (ResNet50 has 53, DenseNet121 120) it logs one per resolution stage: the last conv
layer at each output size, the deepest features of that stage, in model order (and, if that is
still more than ``max_layers``, an even spread of those). Convolutions whose maps are a single
pixel (squeeze-and-excitation gates) are left out of the choice: a 1x1 map is no picture.
``max_layers=None`` logs every conv layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from actlog.graph import ModelGraph
from actlog.layers import LayerRef


@dataclass(frozen=True)
class Choice:
    """The chosen layers, and how they were chosen.

    Attributes:
        layers: the layers to log, in model order.
        total: how many layers the selector matched.
        how: one phrase for the train-begin line (``"every conv layer"``, ``"one per
            resolution stage"``).
    """

    layers: list[LayerRef]
    total: int
    how: str

    @property
    def reduced(self) -> bool:
        """Whether fewer layers are logged than the selector matched."""
        return len(self.layers) < self.total


def choose_layers(graph: ModelGraph, refs: Sequence[LayerRef], max_layers: int | None) -> Choice:
    """Reduces the conv layers ``refs`` (in model order) to a readable choice (see the module
    docstring); the layers' output sizes come from the model graph."""
    refs = list(refs)
    if max_layers is None:
        return Choice(refs, len(refs), "every conv layer")
    sizes = [_spatial_size(graph, ref) for ref in refs]
    pictures = [ref for ref, size in zip(refs, sizes, strict=True) if size != "pixel"]
    if len(pictures) <= max_layers:
        how = "every conv layer" if len(pictures) == len(refs) else "every conv layer with maps"
        return Choice(pictures or refs, len(refs), how)
    if None not in sizes:
        last_of_stage: dict[tuple, LayerRef] = {}
        for ref, size in zip(refs, sizes, strict=True):
            if size != "pixel":
                last_of_stage.pop(size, None)  # keep insertion order at the stage's last layer
                last_of_stage[size] = ref
        stages = sorted(last_of_stage.values(), key=refs.index)
        how = "one per resolution stage"
    else:  # sizes unknown until the model runs: an even spread
        stages, how = pictures, "an even spread"
    if len(stages) > max_layers:
        picks = np.linspace(0, len(stages) - 1, max_layers).round().astype(int)
        stages = [stages[i] for i in sorted(set(picks.tolist()))]
    return Choice(stages, len(refs), how)


def _spatial_size(graph: ModelGraph, ref: LayerRef) -> tuple | str | None:
    """The output's spatial size, ``"pixel"`` for 1x1 maps, None when unknown."""
    if not graph.reaches(ref.layer):
        return None
    shapes = [getattr(t, "shape", None) for t in _flat(graph.output(ref.layer))]
    shape = shapes[0] if shapes else None
    if shape is None or len(shape) < 3:
        return None
    spatial = tuple(shape[1:-1])
    if None in spatial:
        return None
    return "pixel" if all(d == 1 for d in spatial) else spatial


def _flat(value: object) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]
