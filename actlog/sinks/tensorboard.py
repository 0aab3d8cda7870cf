"""TensorBoard event files: one run directory, written record by record.

Events are built with TensorBoard's own protos and plugin metadata and framed as TFRecords
(length, masked CRC32C, data, masked CRC32C) by this module, with no TensorFlow code: a local
path is a plain file; a URL (``gs://...``) goes through ``tensorboard.compat``'s ``gfile``
(TensorFlow's, where it is installed). Unlike ``tf.summary``, whose writer drops a failed write
silently, every write and flush here raises on failure (a full disk, a directory gone
read-only), so the logger can warn instead of losing images unnoticed.

A local run directory deleted or replaced while the run writes to it would otherwise swallow
every later event (the open file handle writes into an unlinked file): before the first record
of each logging event the sink checks that its event file is still the file at its path, and if
not, warns once, recreates the directory and a new event file and goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

import google_crc32c
import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.histogram.summary_v2 import histogram_pb
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb

from actlog.extras import install_hint
from actlog.sinks.base import Sink
from actlog.sinks.png import encode_png
from actlog.sinks.tb_layout import layout_summary, scalar_kind
from actlog.userwarn import warn
from actlog.view import metadata as view_metadata

logger = logging.getLogger(__name__)

_file_counter = itertools.count()


class TensorBoardSink(Sink):
    """Writes images, scalars and histograms to one TensorBoard run directory.

    The directory is a run of its own (e.g. ``logs/actlog`` beside Keras's ``logs/train`` and
    ``logs/validation``): TensorBoard gets confused when two writers share one directory. The
    event file is created at the first write and closed by :meth:`close`; each
    :meth:`write_images` keeps all its images (TensorBoard's ``tf.summary.image`` keeps 3 by
    default).

    A local run directory deleted or replaced during the run (or just its event file) is
    noticed before the first record of the next logging event: the sink warns (a
    :class:`RuntimeWarning`, once per sink; later times are logged), recreates the directory
    with a new event file and writes on. The events written before are lost with the old
    directory.

    Args:
        log_dir: the run directory; created if missing.
        png_compress_level: zlib level of the PNG images (1 fast ... 9 small).

    Example:
        ```python
        sink = TensorBoardSink("logs/actlog")
        sink.open()
        sink.write_images("activations/conv2d", grids.images, step=0)
        sink.close()
        ```
    """

    name = "tensorboard"

    def __init__(self, log_dir: str | os.PathLike[str], png_compress_level: int = 1) -> None:
        self.log_dir = os.fspath(log_dir)
        self.png_compress_level = png_compress_level
        self._writer: _RecordWriter | None = None
        self._path: str | None = None  # the event file's path
        self._steps: tuple[int, int] | None = None  # the first and last step written to it
        self._step: int | None = None  # the step of the last write
        self._verify = False  # check the event file before the next write (set by flush)
        self._lost: tuple[bool, str] | None = None  # the file was lost: (deleted?, its steps)
        self._warned = False
        self._kinds: set[str] = set()  # the kinds of scalars written (for the layout)
        self._layout = False  # the Custom Scalars layout is in the event file
        #: Seconds spent encoding PNGs (part of the time this sink takes to write).
        self.encode_seconds = 0.0

    @property
    def destination(self) -> str:
        return self.log_dir

    def check(self) -> None:
        """Writes and removes a test file in the run directory; the directories made for it
        are removed again (the event file makes them at the first write)."""
        probe_file = os.path.join(self.log_dir, f".actlog-write-test-{os.getpid()}")
        created = [] if _is_url(self.log_dir) else _missing_dirs(self.log_dir)
        try:
            _makedirs(self.log_dir)
            with _open(probe_file) as handle:
                handle.write(b"ok")
            _remove(probe_file)
        except OSError as error:
            raise PermissionError(
                f"Cannot write TensorBoard logs to {self.log_dir!r}: {error}. Pass a writable "
                "log_dir."
            ) from error
        except ValueError as error:  # TensorBoard's file system layer without TensorFlow
            raise ValueError(
                f"Cannot write TensorBoard logs to {self.log_dir!r}: {error}. Without "
                "TensorFlow, TensorBoard writes local paths, s3:// (with boto3) and the URLs "
                "of fsspec's file systems (pip install fsspec and, say, gcsfs); TensorFlow's "
                f"own (gs://, hdfs://) come with {install_hint('tensorflow')}."
            ) from error
        finally:
            for path in created:  # deepest first
                with contextlib.suppress(OSError):
                    os.rmdir(path)

    def _record_writer(self) -> _RecordWriter:
        if self._writer is None:
            stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
            name = f"events.out.tfevents.{stamp}.{next(_file_counter)}.v2"
            _makedirs(self.log_dir)
            path = os.path.join(self.log_dir, name)
            self._writer, self._path = _RecordWriter(_open(path)), path
            header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
            self._writer.write(header.SerializeToString())
            if self._lost is not None:
                (deleted, steps), self._lost = self._lost, None
                self._warn(
                    f"actlog: the TensorBoard log directory {self.log_dir!r} was "
                    + ("deleted" if deleted else "replaced (or its event file removed)")
                    + " during the run; actlog recreated it with a new event file and writes "
                    f"on there. The events written before{steps} "
                    + ("are lost with the old directory." if deleted
                       else "are not in it: they went with the old directory.")
                )  # fmt: skip
        return self._writer

    def _write_summary(self, summary: summary_pb2.Summary, step: int) -> None:
        if self._verify or step != self._step:  # the first record of a logging event
            self._check_event_file()
        event = event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
        self._record_writer().write(event.SerializeToString())
        self._step = step
        first = step if self._steps is None else self._steps[0]
        self._steps = (first, step)

    def _check_event_file(self) -> None:
        """Drops the event file if it is no longer the file at its path (its directory was
        deleted or replaced, or the file removed): the next write recreates both."""
        self._verify = False
        writer, path, steps = self._writer, self._path, self._steps
        if writer is None or path is None or _is_url(path) or _same_file(writer, path):
            return
        self._writer, self._steps, self._layout = None, None, False
        with contextlib.suppress(OSError):
            writer.close()
        written = "" if steps is None else f" (steps {steps[0]} to {steps[1]})"
        self._lost = (not os.path.isdir(self.log_dir), written)

    def _warn(self, message: str) -> None:
        if self._warned:
            logger.warning(message)
        else:
            self._warned = True
            warn(message)

    def write_images(
        self,
        tag: str,
        images: np.ndarray,
        step: int,
        captions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        if captions:  # TensorBoard has no per-image captions: list them in the description.
            listed = "\n".join(f"{index}. {caption}" for index, caption in enumerate(captions))
            description = f"{description or ''}\n\n{listed}".strip()
        height, width = images.shape[1:3]
        start = time.perf_counter()
        pngs = [encode_png(image, self.png_compress_level) for image in images]
        self.encode_seconds += time.perf_counter() - start
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(pngs) + 2)]
            ),
            string_val=[str(width).encode(), str(height).encode(), *pngs],
        )
        metadata = image_metadata.create_summary_metadata(
            display_name=tag, description=description or ""
        )
        value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
        self._write_summary(summary_pb2.Summary(value=[value]), step)

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        self._write_summary(scalar_pb(tag, float(value)), step)
        self._kinds.add(scalar_kind(tag))

    def write_histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._write_summary(histogram_pb(tag, np.asarray(values, np.float64).ravel()), step)

    def write_table(
        self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[object]], step: int
    ) -> None:
        """A Markdown table in TensorBoard's Text tab."""
        lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
        lines += [" | ".join(str(cell) for cell in row) for row in rows] or ["(none)"]
        self._write_summary(text_pb(tag, "\n".join(lines)), step)

    def write_params(
        self, tag: str, values: Mapping[str, str | int | float | bool | None], step: int
    ) -> None:
        """The options as a table in the Text tab, ``<tag>/options``."""
        rows = [(f"`{name}`", f"`{value!r}`") for name, value in values.items()]
        self.write_table(f"{tag}/options", ("option", "value"), rows, step)

    def write_document(self, tag: str, content: Mapping[str, Any], step: int) -> None:
        """A summary of actlog's own plugin (:mod:`actlog.view.metadata`): what the actlog tab
        reads; no stock dashboard shows it."""
        self._write_summary(view_metadata.summary(tag, content), step)

    def flush(self) -> None:
        """Ends a logging event: the first one also writes the Custom Scalars layout of the
        scalars it wrote (:mod:`actlog.sinks.tb_layout`)."""
        if self._writer is not None and not self._layout and self._step is not None:
            layout = layout_summary(self._kinds)
            if layout is not None:
                self._write_summary(layout, self._step)
                self._layout = True
        if self._writer is not None:
            self._writer.flush()
        self._verify = True

    def close(self) -> None:
        """Closes the event file (saying so if it was lost since the last event)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            path, steps, self._steps = self._path, self._steps, None
            lost = path is not None and not _is_url(path) and not _same_file(writer, path)
            writer.close()
            if lost and steps is not None:
                logger.warning("actlog: the TensorBoard log directory %r was deleted or "
                               "replaced after the last event written to it; its events "
                               "(steps %d to %d) are lost.", self.log_dir, *steps)  # fmt: skip


class _RecordWriter:
    """TFRecord framing over a binary file: what TensorBoard's loader reads."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def fileno(self) -> int:
        return self._file.fileno()

    def write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(b"".join([header, masked_crc(header), data, masked_crc(data)]))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def masked_crc(data: bytes) -> bytes:
    """The masked CRC-32C of TFRecord framing."""
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _is_url(path: str) -> bool:
    return "://" in path


def _same_file(writer: _RecordWriter, path: str) -> bool:
    """Whether the file ``writer`` holds open is the one at ``path`` (a local path)."""
    try:
        held, there = os.fstat(writer.fileno()), os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):  # cannot tell (a closed file, no permission): assume so
        return True
    return (held.st_ino, held.st_dev) == (there.st_ino, there.st_dev)


def _missing_dirs(path: str) -> list[str]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _gfile() -> Any:
    from tensorboard.compat import tf

    return tf.io.gfile


def _makedirs(path: str) -> None:
    if _is_url(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def _open(path: str) -> BinaryIO:
    """A new file for appending bytes (a local file, or a ``gfile`` for URLs)."""
    if _is_url(path):
        return _gfile().GFile(path, "wb")
    return open(path, "ab")


def _remove(path: str) -> None:
    if _is_url(path):
        _gfile().remove(path)
    else:
        os.remove(path)
