"""Filter weights as images: one tile per filter, scaled symmetrically around 0. Pure NumPy,
except :func:`layer_kernel`, which reads a layer's weights.

* A kernel with 3 input channels (the first layer of an RGB model) is shown in colour: each
  tile is the filter's RGB pattern (the case Keras's own TensorBoard callback skips).
* Any other kernel is shown as one grey tile per filter: the mean over its input channels.
* Depthwise kernels show one tile per (input channel, multiplier) pair; separable layers show
  their depthwise kernel; 1-D kernels are one-row tiles; 3-D kernels are averaged over depth.

Scaling: 0 is mid-grey (128), the largest |weight| shown is 0 or 255; with a colour map
(``"RdBu_r"`` or another diverging map), 0 is the map's middle.
"""

from __future__ import annotations

import keras
import numpy as np

from actlog.backend import to_host
from actlog.images import colormap_lut, image_grid

#: Layers whose kernel is depthwise: one filter per (input channel, multiplier) pair.
DEPTHWISE_TYPES: tuple[type[keras.layers.Layer], ...] = (
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


def kernel_variable(layer: keras.layers.Layer) -> keras.Variable | None:
    """The variable holding a conv layer's filters (the depthwise kernel of a separable conv),
    or None for a layer without one."""
    if isinstance(layer, keras.layers.SeparableConv1D | keras.layers.SeparableConv2D):
        return layer.depthwise_kernel
    return getattr(layer, "kernel", None)


def layer_kernel(layer: keras.layers.Layer) -> np.ndarray | None:
    """A conv layer's kernel as ``(spatial..., inputs, filters)`` host array, or None for a layer
    without one. Under JAX with the kernel sharded over processes every process must call it
    (the copy gathers it)."""
    weights = kernel_variable(layer)
    if weights is None:
        return None
    kernel = np.array(to_host(weights.value), dtype=np.float32)
    transposed = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                  keras.layers.Conv3DTranspose)  # fmt: skip
    if isinstance(layer, transposed):  # stored as (spatial..., filters, inputs)
        kernel = np.swapaxes(kernel, -1, -2)
    if isinstance(layer, DEPTHWISE_TYPES):  # (spatial..., inputs, multiplier): one filter per pair
        kernel = kernel.reshape(*kernel.shape[:-2], 1, -1)
    return kernel


def kernel_tiles(
    kernel: np.ndarray, max_filters: int | None = None, rgb: bool = True
) -> np.ndarray:
    """A kernel's filters as float32 tiles, unscaled: ``(filters, height, width, 3)`` for a
    kernel with 3 input channels when ``rgb`` (each channel's weights), else
    ``(filters, height, width)``, the mean over the input channels. 1-D kernels give one-row
    tiles (height 1); 3-D kernels are averaged over depth. NaN stays NaN.

    Args:
        kernel: ``(spatial..., inputs, filters)`` (1 to 3 spatial axes).
        max_filters: keep the first this many filters (None: all).
        rgb: whether a kernel with 3 input channels gives RGB tiles.
    """
    k = np.asarray(kernel, dtype=np.float32)
    if not 3 <= k.ndim <= 5:
        raise ValueError(f"Expected a kernel (spatial..., inputs, filters); got {k.shape}.")
    if max_filters is not None:
        k = k[..., :max_filters]
    if k.ndim == 3:
        k = k[None]
    elif k.ndim == 5:
        k = k.mean(axis=0)
    if rgb and k.shape[2] == 3:
        return k.transpose(3, 0, 1, 2)  # (filters, h, w, 3)
    return k.mean(axis=2).transpose(2, 0, 1)  # (filters, h, w)


def kernel_images(
    kernel: np.ndarray,
    max_filters: int | None = 64,
    cmap: str | None = None,
    min_tile_size: int = 16,
    max_image_size: int = 1024,
) -> np.ndarray:
    """One image ``(1, height, width, 1 or 3)`` of a kernel's filters.

    Args:
        kernel: ``(spatial..., inputs, filters)`` (1 to 3 spatial axes).
        max_filters: show the first this many filters (None: all).
        cmap: None for grey (and RGB for 3 input channels); a colour map name colours the
            single-channel tiles (a diverging one, such as ``"RdBu_r"``, shows the sign).
        min_tile_size: small kernels are upscaled by an integer factor to this size.
        max_image_size: the largest height and width in pixels.

    Example:
        ```python
        image = kernel_images(layer_kernel(model.get_layer("conv2d")), cmap="RdBu_r")
        ```
    """
    tiles = kernel_tiles(kernel, max_filters, rgb=cmap is None)
    values = _symmetric_uint8(np.nan_to_num(tiles))
    if values.ndim == 3:
        values = colormap_lut(cmap)[values] if cmap else values[..., None]
    return image_grid(values, (), min_tile_size, max_image_size)


def _symmetric_uint8(values: np.ndarray) -> np.ndarray:
    scale = float(np.abs(values).max()) if values.size else 0.0
    unit = 0.5 + 0.5 * values / scale if scale > 0 else np.full_like(values, 0.5)
    return np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)
