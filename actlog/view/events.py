"""What the report reads from a run's event files, without TensorFlow: actlog's documents and
the image summaries, by step.

TensorBoard's own loader imports TensorFlow wherever it is installed, which a JAX or PyTorch run
must not pay for at train end; this reads the TFRecord framing itself (checksums checked with
``google-crc32c``) and parses TensorBoard's ``Event`` protos. A record cut short (a run killed
mid-write) ends its file, as in TensorBoard.

Example:
    ```python
    documents, sizes = scan_run("logs/actlog")  # {-1: b'{"version": 1, ...}'}, {-1: 41321}
    read_images("logs/actlog", steps={0})["activations/conv2d"][0]  # [PNG bytes of each image]
    ```
"""

from __future__ import annotations

import os
import struct
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from tensorboard.compat.proto import event_pb2

from actlog.runs import is_event_file
from actlog.sinks.tensorboard import masked_crc
from actlog.view.metadata import EVENT_TAG, PLUGIN_NAME

#: The plugin name of TensorBoard's image summaries.
IMAGES_PLUGIN = "images"
#: Bytes counted for each image beyond its PNG: a data URL's prefix and its JSON quotes.
PER_IMAGE = 32


def scan_run(run_dir: str | os.PathLike[str]) -> tuple[dict[int, bytes], dict[int, int]]:
    """The view's documents (step -> its JSON; the first where a step was written twice) and
    what each step's images take: the bytes of its PNGs (the first of each tag and step), plus
    :data:`PER_IMAGE` each, without keeping them. Steps ascending."""
    documents: dict[int, bytes] = {}
    sizes: dict[int, int] = {}
    seen: set[tuple[str, int]] = set()
    for step, tag, plugin, strings in _values(run_dir):
        if plugin == PLUGIN_NAME and tag == EVENT_TAG and strings:
            documents.setdefault(step, strings[0])
        elif plugin == IMAGES_PLUGIN and len(strings) >= 2 and (tag, step) not in seen:
            seen.add((tag, step))
            sizes[step] = sizes.get(step, 0) + sum(len(png) + PER_IMAGE for png in strings[2:])
    return dict(sorted(documents.items())), dict(sorted(sizes.items()))


def read_images(
    run_dir: str | os.PathLike[str], steps: Collection[int] | None = None
) -> dict[str, dict[int, list[bytes]]]:
    """The images of the run in ``run_dir`` (its event files, not those of runs below it):
    tag -> step -> PNGs, steps ascending, the first where a step was written twice; only those
    of ``steps`` when given."""
    images: dict[str, dict[int, list[bytes]]] = {}
    for step, tag, plugin, strings in _values(run_dir):
        if plugin == IMAGES_PLUGIN and len(strings) >= 2 and (steps is None or step in steps):
            images.setdefault(tag, {}).setdefault(step, list(strings[2:]))
    return {tag: dict(sorted(by_step.items())) for tag, by_step in images.items()}


def _values(run_dir: str | os.PathLike[str]) -> Iterator[tuple[int, str, str | None, Any]]:
    """``(step, tag, plugin, tensor strings)`` of every summary value, file after file."""
    plugins: dict[str, str] = {}  # tag -> plugin: TensorBoard writes metadata with the first
    files = sorted(p for p in Path(run_dir).iterdir() if p.is_file() and is_event_file(p.name))
    for path in files:
        for event in _events(path):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name:
                    plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                yield event.step, value.tag, plugins.get(value.tag), value.tensor.string_val


def _events(path: Path) -> Iterator[event_pb2.Event]:
    with open(path, "rb") as handle:
        while True:
            header = handle.read(12)
            if len(header) < 12 or masked_crc(header[:8]) != header[8:]:
                return
            (length,) = struct.unpack("<Q", header[:8])
            data, footer = handle.read(length), handle.read(4)
            if len(data) < length or masked_crc(data) != footer:
                return
            yield event_pb2.Event.FromString(data)
