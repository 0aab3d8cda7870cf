"""The one small interface every destination of actlog implements.

A sink only writes: it knows nothing of Keras, models or layers. It receives the typed
records of :mod:`actlog.records` (finished uint8 images, numbers, tables), each with its step,
and is used from one thread at a time (the logger's background worker). A custom sink needs
only :meth:`Sink.write_images`; :meth:`Sink.write` hands each record to the method of its kind.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from actlog.records import (
    Animation,
    Document,
    Histogram,
    Html,
    ImageSet,
    Params,
    Record,
    Scalar,
    Table,
)


class Sink(abc.ABC):
    """Where logged images and numbers go.

    Lifecycle: :meth:`check` and :meth:`open` once before training starts (fail early),
    then writes, :meth:`flush` after each logging event, :meth:`close` at the end. Writers may
    be created lazily at the first write.
    """

    #: Short name used in messages (e.g. ``"tensorboard"``).
    name: str = "sink"

    @property
    def destination(self) -> str | None:
        """Where this sink writes, as messages name it (the TensorBoard sink: its log
        directory), or None. It tells sinks of one :attr:`name` apart: see
        :class:`actlog.failures.FailurePolicy`."""
        return None

    @property
    def enabled(self) -> bool:
        """False when nothing written would be kept (a disabled W&B run): the logger then
        skips the work of rendering."""
        return True

    def write(self, record: Record, step: int) -> None:
        """Writes ``record`` at ``step`` with the method of its kind."""
        if isinstance(record, ImageSet):
            self.write_images(record.tag, record.images, step, record.captions,
                              record.description)  # fmt: skip
        elif isinstance(record, Scalar):
            self.write_scalar(record.tag, record.value, step)
        elif isinstance(record, Histogram):
            self.write_histogram(record.tag, record.values, step)
        elif isinstance(record, Table):
            self.write_table(record.tag, record.columns, record.rows, step)
        elif isinstance(record, Animation):
            self.write_animation(record.tag, str(record.path), step)
        elif isinstance(record, Html):
            self.write_html(record.tag, str(record.path), step)
        elif isinstance(record, Document):
            self.write_document(record.tag, record.content, step)
        elif isinstance(record, Params):
            self.write_params(record.tag, record.values, step)
        else:
            raise TypeError(f"Not an actlog record: {record!r}")

    def check(self) -> None:  # noqa: B027 - optional hook
        """Checks that the destination can be written, leaving nothing behind (no file, no
        connection, no run); raises with a clear message if not. Every sink of a run is
        checked before any is opened, so one bad destination starts nothing."""

    def open(self) -> None:  # noqa: B027 - optional hook
        """Opens the destination (a W&B run); called after every sink passed :meth:`check`.
        Raises with a clear message if it cannot be opened."""

    @abc.abstractmethod
    def write_images(
        self,
        tag: str,
        images: np.ndarray,
        step: int,
        captions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        """Writes uint8 images ``(k, height, width, 1 or 3)`` under ``tag`` at ``step``; all k
        are kept. ``captions`` has one entry per image; ``description`` explains the tag."""

    def write_scalar(self, tag: str, value: float, step: int) -> None:  # noqa: B027
        """Writes one number under ``tag`` at ``step`` (ignored unless implemented)."""

    def write_histogram(self, tag: str, values: np.ndarray, step: int) -> None:  # noqa: B027
        """Writes the distribution of ``values`` under ``tag`` at ``step`` (ignored unless
        implemented)."""

    def write_table(  # noqa: B027
        self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[object]], step: int
    ) -> None:
        """Writes a small table under ``tag`` at ``step`` (ignored unless implemented)."""

    def write_animation(self, tag: str, gif_path: str, step: int) -> None:  # noqa: B027
        """Logs an animated GIF file under ``tag`` (ignored unless implemented)."""

    def write_html(self, tag: str, html_path: str, step: int) -> None:  # noqa: B027
        """Logs a self-contained HTML file, the run's report (ignored unless implemented: the
        TensorBoard sink's report is already in its log directory)."""

    def write_document(  # noqa: B027
        self, tag: str, content: Mapping[str, Any], step: int
    ) -> None:
        """Keeps a JSON-able document under ``tag`` at ``step``, the data of actlog's view
        (:mod:`actlog.view.metadata`; ignored unless implemented)."""

    def write_params(  # noqa: B027
        self, tag: str, values: Mapping[str, str | int | float | bool | None], step: int
    ) -> None:
        """Keeps the logger's options (``tag`` ``"actlog"``) as the run's parameters, once per
        run (ignored unless implemented)."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Makes everything written so far durable."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flushes and releases the destination. Writing again reopens it."""
