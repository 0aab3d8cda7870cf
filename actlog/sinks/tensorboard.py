"""TensorBoard event files, written with ``tf.summary`` (the TensorFlow-specific writer)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from actlog.sinks.base import Sink


class TensorBoardSink(Sink):
    """Writes images and scalars to one TensorBoard run directory.

    The directory is a run of its own (e.g. ``logs/actlog`` beside Keras's ``logs/train`` and
    ``logs/validation``): TensorBoard gets confused when two writers share one directory. The
    writer is created at the first write and closed by :meth:`close`.

    Args:
        log_dir: the run directory; created if missing.

    Example:
        ```python
        sink = TensorBoardSink("logs/actlog")
        sink.write_images("activations/conv2d", grids.images, step=0)
        sink.close()
        ```
    """

    name = "tensorboard"

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = os.fspath(log_dir)
        self._writer: Any = None

    def open(self) -> None:
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.log_dir):
                pass
        except OSError as error:
            raise PermissionError(
                f"Cannot write TensorBoard logs to {self.log_dir!r}: {error}. Pass a writable "
                "log_dir."
            ) from error

    def _summary_writer(self) -> Any:
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def write_images(
        self,
        tag: str,
        images: np.ndarray,
        step: int,
        captions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        import tensorflow as tf

        if captions:  # TensorBoard has no per-image captions: list them in the description.
            listed = "\n".join(f"{index}. {caption}" for index, caption in enumerate(captions))
            description = f"{description or ''}\n\n{listed}".strip()
        with self._summary_writer().as_default():
            tf.summary.image(
                tag, images, step=step, max_outputs=len(images), description=description
            )

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        import tensorflow as tf

        with self._summary_writer().as_default():
            tf.summary.scalar(tag, value, step=step)

    def write_histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        import tensorflow as tf

        with self._summary_writer().as_default():
            tf.summary.histogram(tag, np.asarray(values).ravel(), step=step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
