"""Choosing layers: layer paths, the ``"conv"`` default, names, glob patterns and classes.

Every layer of a model, nested models included, has a *path*: its name for a top-level layer,
``"<nested model name>/<layer name>"`` for a layer inside a nested model (one more prefix per
level of nesting). Paths are what actlog uses as keys and in tags.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import keras

#: The layer classes ``layers="conv"`` selects (and their subclasses).
CONV_LAYER_TYPES: tuple[type[keras.layers.Layer], ...] = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.ConvLSTM1D,
    keras.layers.ConvLSTM2D,
    keras.layers.ConvLSTM3D,
)


def is_conv(layer: keras.layers.Layer) -> bool:
    """Whether ``layers="conv"`` selects ``layer``: one of :data:`CONV_LAYER_TYPES`, or one
    wrapped in ``TimeDistributed``."""
    return isinstance(unwrap(layer), CONV_LAYER_TYPES)


def unwrap(layer: keras.layers.Layer) -> keras.layers.Layer:
    """The layer a ``TimeDistributed`` wraps (the layer itself otherwise)."""
    return layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer

LayerSelector = str | type
LayerSpec = LayerSelector | Sequence[LayerSelector]

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, eq=False)
class LayerRef:
    """One chosen layer.

    Attributes:
        path: ``"name"`` or ``"outer/inner/name"`` for layers inside nested models.
        layer: the layer object itself (shared with the user's model, never modified).
        parents: the nested models that contain the layer, outermost first (the top-level model
            is not included).
    """

    path: str
    layer: keras.layers.Layer
    parents: tuple[keras.Model, ...] = ()


def walk_layers(model: keras.Model) -> Iterator[LayerRef]:
    """Yields every layer of ``model`` in model order, descending into nested models.

    A nested model is yielded itself, then its layers.
    """
    yield from _walk(model, prefix="", parents=())


def _walk(model: keras.Model, prefix: str, parents: tuple[keras.Model, ...]) -> Iterator[LayerRef]:
    for layer in model.layers:
        path = prefix + layer.name
        yield LayerRef(path, layer, parents)
        if isinstance(layer, keras.Model):
            yield from _walk(layer, path + "/", (*parents, layer))


def check_layer_spec(layers: LayerSpec) -> None:
    """Checks the type of a ``layers`` argument (no model needed), so constructors fail early.

    Raises:
        TypeError: if ``layers`` is not ``"conv"``, a name, a path, a glob, a layer class, or a
            list of those.
    """
    items = [layers] if isinstance(layers, str | type) else layers
    if isinstance(items, str | bytes) or not isinstance(items, Sequence) or not items:
        raise TypeError(
            "layers must be 'conv', a layer name, path or glob pattern, a layer class, or a "
            f"non-empty list of those; got {layers!r}."
        )
    for item in items:
        is_layer_class = isinstance(item, type) and issubclass(item, keras.layers.Layer)
        if not (isinstance(item, str) or is_layer_class):
            raise TypeError(
                "Each entry of layers must be a name, path or glob pattern (str) or a "
                f"keras.layers.Layer subclass; got {item!r}."
            )


def select_layers(model: keras.Model, layers: LayerSpec = "conv") -> list[LayerRef]:
    """Resolves a ``layers`` argument to the chosen layers of ``model``, in model order.

    Args:
        model: a built or unbuilt Keras model of any kind.
        layers: ``"conv"`` (every convolution layer, nested models included); a layer name,
            path (``"backbone/block_1_expand"``) or glob pattern over paths
            (``"backbone/block_*_expand"``; a pattern without ``/`` also matches bare names);
            a layer class (every instance, subclasses included); or a list mixing those.

    Returns:
        The chosen layers, each once, in the order the model lists them.

    Raises:
        ValueError: for a name or pattern that matches no layer (close matches are suggested),
            or when ``"conv"`` finds no convolution layer.
    """
    check_layer_spec(layers)
    selectors = [layers] if isinstance(layers, str | type) else list(layers)
    every = list(walk_layers(model))
    chosen: set[int] = set()
    for selector in selectors:
        matches = _match(every, selector)
        if not matches:
            raise ValueError(_no_match_message(model, every, selector))
        chosen.update(id(ref) for ref in matches)
    return [ref for ref in every if id(ref) in chosen]


def _match(every: list[LayerRef], selector: LayerSelector) -> list[LayerRef]:
    if isinstance(selector, type):
        return [ref for ref in every if isinstance(ref.layer, selector)]
    if selector == "conv":
        return [ref for ref in every if is_conv(ref.layer)]
    exact = [ref for ref in every if ref.path == selector]
    if exact:
        return exact
    by_name = [ref for ref in every if ref.layer.name == selector]
    if by_name:
        return by_name
    if _GLOB_CHARS.intersection(selector):
        return [
            ref
            for ref in every
            if fnmatch.fnmatchcase(ref.path, selector)
            or ("/" not in selector and fnmatch.fnmatchcase(ref.layer.name, selector))
        ]
    return []


def _no_match_message(model: keras.Model, every: list[LayerRef], selector: LayerSelector) -> str:
    if selector == "conv":
        return (
            f"Model {model.name!r} has no convolution layer (Conv1D/2D/3D, SeparableConv, "
            "DepthwiseConv, ConvTranspose or ConvLSTM, alone or in TimeDistributed), in nested "
            "models included. Name the layers to "
            "show with layers=[...]: any layer whose output is a feature map "
            "(batch, spatial..., channels) works."
        )
    if isinstance(selector, type):
        return f"Model {model.name!r} has no layer of class {selector.__name__}."
    candidates = sorted({ref.path for ref in every} | {ref.layer.name for ref in every})
    close = difflib.get_close_matches(selector, candidates, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = [ref.path for ref in every][:30]
    more = " ..." if len(every) > len(shown) else ""
    return (
        f"No layer of model {model.name!r} matches {selector!r}.{hint} "
        f"Layer paths are: {', '.join(shown)}{more}"
    )


def is_channels_first(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` says its output has the channels on axis 1 (``data_format``)."""
    return getattr(layer, "data_format", "channels_last") == "channels_first"
