"""Receptive-field geometry: where on the input each cell of a layer's 2-D maps looks.

A feature map's cell ``j`` looks at the input around ``offset + stride * j`` (per spatial
axis). :func:`layer_geometry` composes that stride and offset from the operations between the
input and the chosen layer, as the model graph (:mod:`actlog.graph`) records them: kernel sizes,
strides, dilation and ``"valid"``/``"same"`` padding of conv and pooling layers, zero padding
and cropping; shape-preserving layers and operations leave it unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from actlog.graph import ModelGraph, model_graph
from actlog.layers import LayerRef
from actlog.overlays import Geometry


def layer_geometry(
    model: keras.Model, ref: LayerRef, input_size: tuple[int, int]
) -> Geometry | None:
    """The alignment of ``ref``'s 2-D maps with the model's (first) input, or None when an
    operation in between changes geometry in a way not modelled (upsampling, transposed
    convolution, resizing) or the model has no graph (subclassed models).

    Example:
        ```python
        geometry = layer_geometry(model, select_layers(model, "conv2d_1")[0], (28, 28))
        geometry.stride  # (2.0, 2.0) after a stride-2 pooling
        ```
    """
    graph = model_graph(model)
    chain = graph.chain(ref.layer)
    if chain is None:
        return None
    stride, offset, size = [1.0, 1.0], [0.0, 0.0], list(input_size)
    for op in chain:
        step = _step(graph, op, size)
        if step is None:
            return None
        for axis in (0, 1):
            op_stride, shift, size[axis] = step[axis]
            offset[axis] += stride[axis] * shift
            stride[axis] *= op_stride
    return Geometry((stride[0], stride[1]), (offset[0], offset[1]))


_IDENTITY_TYPES = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.ReLU,
    keras.layers.Activation,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Add,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Concatenate,
    keras.layers.InputLayer,
)


def _step(graph: ModelGraph, op: Any, size: list[int]) -> list[tuple] | None:
    """Per axis: (stride, shift of the centre, output size), or None if not modelled. A layer
    with no spatial parameters (augmentation, scaling) or a plain operation (``x + 3.0``) is
    the identity when it keeps the spatial shape."""
    if isinstance(op, keras.layers.Layer):
        step = _layer_step(op, size)
        if step is not None or any(hasattr(op, name) for name in _SPATIAL_PARAMETERS):
            return step
    inputs = graph.input_tensors(op)
    before = tuple(inputs[0].shape[1:3]) if inputs else None
    after = tuple(keras.tree.flatten(graph.output(op))[0].shape[1:3])
    if before != after or None in after:
        return None
    return [(1, 0.0, size[0]), (1, 0.0, size[1])]


_SPATIAL_PARAMETERS = ("kernel_size", "pool_size", "strides", "padding", "cropping", "size")


def _layer_step(layer: keras.layers.Layer, size: list[int]) -> list[tuple] | None:
    """The step of a layer whose geometry is known, else None."""
    if isinstance(layer, _IDENTITY_TYPES):
        return [(1, 0.0, size[0]), (1, 0.0, size[1])]
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, bottom), (left, right) = layer.padding
        return [(1, -float(top), size[0] + top + bottom), (1, -float(left), size[1] + left + right)]
    if isinstance(layer, keras.layers.Cropping2D):
        (top, bottom), (left, right) = layer.cropping
        return [(1, float(top), size[0] - top - bottom), (1, float(left), size[1] - left - right)]
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    strides, padding = getattr(layer, "strides", None), getattr(layer, "padding", None)
    transposed = isinstance(layer, keras.layers.Conv2DTranspose)
    if kernel is None or strides is None or padding not in ("valid", "same") or transposed:
        return None
    dilation = getattr(layer, "dilation_rate", (1, 1))
    steps = []
    for axis in (0, 1):
        k_eff = (kernel[axis] - 1) * dilation[axis] + 1
        n, st = size[axis], strides[axis]
        if padding == "valid":
            out, pad_before = (n - k_eff) // st + 1, 0
        else:
            out = math.ceil(n / st)
            pad_before = max((out - 1) * st + k_eff - n, 0) // 2
        steps.append((st, (k_eff - 1) / 2 - pad_before, out))
    return steps
