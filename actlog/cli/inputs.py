"""Loading what ``actlog render`` runs: a saved Keras model, and image files as its inputs.

Example:
    ```python
    from actlog.cli.inputs import input_geometry, load_image, load_model

    model = load_model("model.keras")
    height, width, channels = input_geometry(model)
    x = load_image("cat.jpg", height, width, channels)  # float32 (h, w, c) in [0, 1]
    ```
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from actlog.cli.common import CLIError, one_line, require_file

IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}  # model input channels -> Pillow mode


def load_model(path: str | os.PathLike[str]) -> Any:
    """Loads a saved Keras model (``.keras``, or legacy ``.h5``) for inference.

    Args:
        path: the file written by ``model.save()``.

    Returns:
        The model, not compiled.

    Raises:
        CLIError: if the file is missing or is not a model Keras can load.

    Example:
        ```python
        model = load_model("model.keras")
        ```
    """
    import keras

    model_path = Path(path)
    require_file(model_path, "Model file")
    if model_path.suffix == ".keras" and not zipfile.is_zipfile(model_path):
        raise CLIError(f"Cannot load model {model_path}: not a Keras model (.keras files are zip)")
    try:
        return keras.saving.load_model(model_path, compile=False)
    except (ValueError, TypeError, OSError, KeyError, AttributeError, zipfile.BadZipFile) as error:
        raise CLIError(f"Cannot load model {model_path}: {one_line(error)}") from error


def input_geometry(model: Any) -> tuple[int | None, int | None, int | None]:
    """The ``(height, width, channels)`` of a single-image-input model; None for a free size.

    ``channels`` is None for an input ``(batch, height, width)`` without a channel axis.

    Args:
        model: a Keras model with one symbolic input.

    Returns:
        The input image's height, width and channels.

    Raises:
        CLIError: for a model without symbolic inputs, with several inputs, or whose input is
            not an image.

    Example:
        ```python
        input_geometry(model)  # (28, 28, 1) for MNIST; (None, None, 3) for any-size RGB
        ```
    """
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError) as error:
        raise CLIError(
            f"Model {model.name!r} has no symbolic input (a subclassed model?): render needs a "
            "model with a keras.Input"
        ) from error
    if len(inputs) != 1:
        raise CLIError(f"Model {model.name!r} has {len(inputs)} inputs; render takes one image")
    shape = tuple(inputs[0].shape)
    if len(shape) == 3:
        return shape[1], shape[2], None
    if len(shape) == 4 and shape[3] in IMAGE_MODES:
        return shape[1], shape[2], shape[3]
    raise CLIError(
        f"Model {model.name!r} takes input shape {shape}; render takes image models with input "
        "(batch, height, width, 1 | 3 | 4) (channels last)"
    )


def load_image(
    path: str | os.PathLike[str],
    height: int | None,
    width: int | None,
    channels: int | None,
    scale: float = 1.0,
) -> np.ndarray:
    """Loads an image file as a model input: resized, in the model's colour mode, scaled.

    Args:
        path: any image file Pillow reads (PNG, JPEG, ...). EXIF rotation is applied.
        height: the height to resize to (bilinear); None keeps the image's own.
        width: the width to resize to; None keeps the image's own.
        channels: 1 (grey), 3 (RGB), 4 (RGBA), or None for grey without a channel axis.
        scale: pixel values 0..255 become floats in ``[0, scale]``: 1.0 gives [0, 1], 255
            passes the raw 0..255 values (for models that rescale their input themselves).

    Returns:
        float32 array ``(height, width, channels)`` (``(height, width)`` when channels is None).

    Raises:
        CLIError: if the file is missing or not a readable image.

    Example:
        ```python
        x = load_image("cat.jpg", 32, 32, 3)  # (32, 32, 3) float32 in [0, 1]
        ```
    """
    from PIL import Image, ImageOps

    image_path = Path(path)
    require_file(image_path, "Image file")
    try:
        with Image.open(image_path) as opened:
            image = ImageOps.exif_transpose(opened).convert(IMAGE_MODES[channels or 1])
            size = (width or image.width, height or image.height)
            if image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise CLIError(f"Cannot read image {image_path}: {one_line(error)}") from error
    if channels is not None and pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels * np.float32(scale / 255.0)
