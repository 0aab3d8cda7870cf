"""Read back what TensorBoard would show from event files, without starting a server.

Image and scalar summaries written by TF2 (`tf.summary.image`, `tf.summary.scalar`) are stored
as tensors; the legacy `event_accumulator` does not see them, so everything here goes through
`plugin_event_accumulator.EventAccumulator` with no sampling (`size_guidance={"tensors": 0}`).

`read_images` and `read_scalars` mirror what the server serves: steps in ascending order, and
when one step was written more than once, only the first event of that step (TensorBoard's
data provider keeps the first one). `read_image_events` keeps every event in file order.
Each function reads the event files directly inside `run_dir`, not its subdirectories: one
directory is one TensorBoard run.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

IMAGES_PLUGIN = "images"
SCALARS_PLUGIN = "scalars"

_V = TypeVar("_V")


@dataclass(frozen=True)
class ImageEvent:
    """One image summary event: its step, wall time, declared size and PNG payloads."""

    step: int
    wall_time: float
    width: int
    height: int
    pngs: list[bytes]


def _load(run_dir: str | os.PathLike[str]) -> EventAccumulator:
    """Load every event in `run_dir` into an unsampled accumulator."""
    path = os.fspath(run_dir)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"run directory does not exist: {path}")
    accumulator = EventAccumulator(path, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _plugin_tags(accumulator: EventAccumulator, plugin: str) -> list[str]:
    """Tags written for `plugin`, sorted; empty when the plugin has no data."""
    try:
        return sorted(accumulator.PluginTagToContent(plugin))
    except KeyError:
        return []


def _first_per_step(pairs: list[tuple[int, _V]]) -> dict[int, _V]:
    """Keep the first value of each step, ordered by step (as TensorBoard serves them)."""
    kept: dict[int, _V] = {}
    for step, value in pairs:
        kept.setdefault(step, value)
    return dict(sorted(kept.items()))


def read_image_events(run_dir: str | os.PathLike[str]) -> dict[str, list[ImageEvent]]:
    """Tag -> every image event of that tag, in the order written (duplicate steps kept)."""
    accumulator = _load(run_dir)
    result: dict[str, list[ImageEvent]] = {}
    for tag in _plugin_tags(accumulator, IMAGES_PLUGIN):
        events = []
        for event in accumulator.Tensors(tag):
            values = list(event.tensor_proto.string_val)
            events.append(
                ImageEvent(
                    step=int(event.step),
                    wall_time=float(event.wall_time),
                    width=int(values[0]),
                    height=int(values[1]),
                    pngs=values[2:],
                )
            )
        result[tag] = events
    return result


def read_images(run_dir: str | os.PathLike[str]) -> dict[str, dict[int, list[bytes]]]:
    """Tag -> step -> PNG bytes of that step's images, steps ascending, first event per step."""
    return {
        tag: _first_per_step([(event.step, event.pngs) for event in events])
        for tag, events in read_image_events(run_dir).items()
    }


def read_scalars(run_dir: str | os.PathLike[str]) -> dict[str, dict[int, float]]:
    """Tag -> step -> value of TF2 scalar summaries, steps ascending, first event per step."""
    accumulator = _load(run_dir)
    result: dict[str, dict[int, float]] = {}
    for tag in _plugin_tags(accumulator, SCALARS_PLUGIN):
        pairs = [
            (int(event.step), float(tensor_util.make_ndarray(event.tensor_proto).item()))
            for event in accumulator.Tensors(tag)
        ]
        result[tag] = _first_per_step(pairs)
    return result


def read_descriptions(run_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Image tag -> the raw `description` it was written with ("" when none).

    The server renders descriptions as Markdown: `/data/plugin/images/tags` returns HTML such
    as `<p>text</p>` for the description `text`.
    """
    accumulator = _load(run_dir)
    return {
        tag: accumulator.SummaryMetadata(tag).summary_description
        for tag in _plugin_tags(accumulator, IMAGES_PLUGIN)
    }


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to uint8 pixels: (H, W) for grey, (H, W, C) for C = 2, 3 or 4."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "PNG":
            raise ValueError(f"not a PNG image: format {image.format!r}")
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected an 8-bit PNG, got mode {image.mode!r} ({pixels.dtype})")
    return pixels


def _is_event_file(name: str) -> bool:
    """TensorBoard's own test: 'tfevents' in the name, minus profiler placeholders."""
    return "tfevents" in name and not name.endswith(".profile-empty")


def event_run_dirs(root: str | os.PathLike[str]) -> list[str]:
    """Sorted run names under `root`: relative directories (with '/') holding event files.

    `root` itself is named "." as TensorBoard names it; names match `/data/runs`.
    """
    root_path = os.fspath(root)
    if not os.path.isdir(root_path):
        raise FileNotFoundError(f"log directory does not exist: {root_path}")
    runs = []
    for directory, _subdirs, files in os.walk(root_path):
        if any(_is_event_file(name) for name in files):
            relative = os.path.relpath(directory, root_path)
            runs.append(relative.replace(os.sep, "/"))
    return sorted(runs)
