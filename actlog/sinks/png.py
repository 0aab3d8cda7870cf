"""PNG encoding of uint8 images, shared by the sinks that store files."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode_png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """Encodes a uint8 image ``(h, w)``, ``(h, w, 1)`` or ``(h, w, 3)`` as PNG bytes.

    Level 1 (the default) is about 3 times faster than zlib's default level 6 on feature-map
    grids, for files about 20% larger (see ``bench/README.md``).
    """
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()
