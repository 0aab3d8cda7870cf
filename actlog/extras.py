"""Which ``pip install "actlog[...]"`` extra brings a missing package, and the error that says so.

The core of actlog needs Keras, TensorBoard (its protos and its server, not TensorFlow), NumPy,
matplotlib and google-crc32c. Each Keras backend is an extra (``tensorflow``, ``jax``,
``torch``), as are the W&B and MLflow sinks. Keras imports its backend when it is imported, so a
backend that is not installed is found there; :func:`missing_backend` turns that into an error
naming the extra.

Example:
    ```python
    try:
        import keras
    except ModuleNotFoundError as error:
        raise missing_backend(error) or error
    ```
"""

from __future__ import annotations

import os

#: The Keras backends actlog runs on: each is the package Keras imports and the extra's name.
BACKENDS = ("tensorflow", "jax", "torch")


def install_hint(extra: str) -> str:
    """The command that installs an extra, as the README writes it."""
    return f'pip install "actlog[{extra}]"'


def missing_backend(error: ModuleNotFoundError) -> ImportError | None:
    """An ImportError naming the extra, when ``error`` is a Keras backend package that is not
    installed; None for any other missing module."""
    backend = (error.name or "").split(".")[0]
    if backend not in BACKENDS:
        return None
    chosen = os.environ.get("KERAS_BACKEND")
    why = (f"KERAS_BACKEND={chosen}" if chosen
           else "Keras's default, or ~/.keras/keras.json; KERAS_BACKEND is not set")
    others = " or ".join(f"KERAS_BACKEND={b}" for b in BACKENDS if b != backend)
    return ImportError(
        f"Keras runs on the {backend} backend ({why}), but {backend} is not installed. "
        f"Install it with {install_hint(backend)}, or run on an installed backend by setting "
        f"{others} before importing keras."
    )
