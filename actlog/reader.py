"""Read back what TensorBoard shows from a run's event files, without starting a server.

The one reader of runs: for ``actlog animate``, ``ActivationLogger(animate=True)`` and the
tests. TF2 summaries are tensors, which the legacy ``event_accumulator`` does not see, so all
goes through the plugin event accumulator, unsampled; an image summary is a string tensor
``[width, height, png0, png1, ...]``, one PNG per image. Reading needs no TensorFlow.

As the server does, steps come in ascending order, and a step written more than once gives its
first event (except :func:`read_image_events`: every event, in file order). Tags come in the
order TensorBoard shows them (:func:`actlog.tags.sort_tags`). One directory is one run: its
event files are those directly inside it (:mod:`actlog.runs` finds the runs under a log
directory). A directory argument that is not a directory raises ``FileNotFoundError``.

A layer's tags may carry its position in the model (``activations/012 backbone/block_1``, see
:mod:`actlog.tags`). Wherever a tag is taken, ``<kind>/<layer path>`` finds it all the same
(``activations/backbone/block_1``; for an image tag the bare layer path too), and so does
indexing the mappings the functions return.

Example:
    ```python
    from actlog.reader import RunReader, read_image_series

    frames = read_image_series("logs/actlog", "activations/conv2d", sample=0)  # [(-1, image), ...]
    reader = RunReader("logs/actlog")  # load once, read several tags
    series = {tag: reader.series(tag) for tag in reader.tags}
    ```
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from actlog.tags import find_tag, sort_tags

#: The TensorBoard plugin that holds image summaries.
IMAGES_PLUGIN = "images"
#: The TensorBoard plugin that holds TF2 scalar summaries.
SCALARS_PLUGIN = "scalars"
#: The prefix of the tags actlog logs feature-map grids under.
ACTIVATIONS_PREFIX = "activations/"

_V = TypeVar("_V")


class ByTag(dict[str, _V]):
    """A mapping from tags that also answers to ``<kind>/<layer path>`` for a tag whose layer
    key carries a position (:func:`actlog.tags.find_tag`); it iterates over the tags as written.

    Example:
        ```python
        scalars = read_scalars("logs/actlog")  # {"dead_filters/003 backbone/Conv1": ...}
        scalars["dead_filters/backbone/Conv1"] is scalars["dead_filters/003 backbone/Conv1"]
        ```
    """

    def _find(self, key: object) -> str | None:
        return find_tag(self.keys(), key) if isinstance(key, str) else None

    def __missing__(self, key: str) -> _V:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return self[found]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._find(key) is not None

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """The value of ``key`` (or of the tag it names), else ``default``."""
        found = key if dict.__contains__(self, key) else self._find(key)
        return default if found is None else dict.__getitem__(self, found)


class UnknownTagError(KeyError, ValueError):
    """An image tag that the run does not hold; the message lists the tags it does hold.

    Both a ``KeyError`` (a missing key) and a ``ValueError`` (a bad argument), so either
    ``except`` catches it.
    """

    def __str__(self) -> str:  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ImageEvent:
    """One image summary event: its step, wall time, declared size and PNG payloads."""

    step: int
    wall_time: float
    width: int
    height: int
    pngs: list[bytes]


def _accumulator(run_dir: str | os.PathLike[str]) -> Any:
    """Every event of one run, loaded into an unsampled plugin event accumulator."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"TensorBoard run directory not found: {path}")
    accumulator = EventAccumulator(str(path), size_guidance={"tensors": 0})  # 0: keep all
    accumulator.Reload()
    return accumulator


def _plugin_tags(accumulator: Any, plugin: str) -> list[str]:
    """The tags written for ``plugin`` in TensorBoard's order; empty when the plugin has none."""
    try:
        return sort_tags(sorted(accumulator.PluginTagToContent(plugin)))
    except KeyError:
        return []


def _first_per_step(pairs: list[tuple[int, _V]]) -> dict[int, _V]:
    """The first value of each step, ordered by step (as TensorBoard serves them)."""
    kept: dict[int, _V] = {}
    for step, value in pairs:
        kept.setdefault(step, value)
    return dict(sorted(kept.items()))


class RunReader:
    """The summaries of one TensorBoard run, loaded once and read tag by tag.

    Args:
        run_dir: one TensorBoard run: the directory holding the event files (such as
            ``ActivationLogger``'s ``log_dir``). Subdirectories are other runs and are not read.

    Raises:
        UnknownTagError: from the methods taking a tag, if the run has no image tag ``tag``.

    Example:
        ```python
        reader = RunReader("logs/actlog")
        series = {tag: reader.series(tag) for tag in reader.tags}
        reader.scalars()  # {"dead_filters/conv2d": {-1: 0.0, 0: 0.03}, ...}
        ```
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self._accumulator = _accumulator(run_dir)
        #: The run's image tags, in the order TensorBoard shows them.
        self.tags: list[str] = _plugin_tags(self._accumulator, IMAGES_PLUGIN)

    def resolve(self, tag: str) -> str:
        """The run's image tag that ``tag`` names.

        Args:
            tag: an image tag (``"activations/012 backbone/block_1"``), the same with the bare
                layer path as key (``"activations/backbone/block_1"``), or a bare layer path,
                which names its ``activations/`` tag (``"backbone/block_1"``, ``"conv2d"``).

        Returns:
            The tag as the run holds it.

        Raises:
            UnknownTagError: if the run has no such image tag; the message lists those it has.

        Example:
            ```python
            RunReader("logs/actlog").resolve("conv2d")  # "activations/conv2d"
            ```
        """
        found = find_tag(self.tags, tag) or find_tag(self.tags, ACTIVATIONS_PREFIX + tag)
        if found is None:
            listed = ", ".join(self.tags) or "none"
            message = f"No image tag {tag!r} in {self.run_dir}. Image tags there: {listed}."
            raise UnknownTagError(message)
        return found

    def events(self, tag: str) -> list[ImageEvent]:
        """Every image event of ``tag`` (see :meth:`resolve`), in the order written (duplicate
        steps kept)."""
        tag = self.resolve(tag)
        events = []
        for event in self._accumulator.Tensors(tag):
            width, height, *pngs = event.tensor_proto.string_val
            step, wall_time = int(event.step), float(event.wall_time)
            events.append(ImageEvent(step, wall_time, int(width), int(height), pngs))
        return events

    def images(self, tag: str) -> dict[int, list[bytes]]:
        """Step -> the PNGs of ``tag`` (see :meth:`resolve`) at that step; steps ascending, the
        first event of each."""
        return _first_per_step([(event.step, event.pngs) for event in self.events(tag)])

    def series(self, tag: str, sample: int = 0) -> list[tuple[int, np.ndarray]]:
        """As :func:`read_image_series`, from the loaded run."""
        tag = self.resolve(tag)
        if sample < 0:
            raise ValueError(f"sample must be 0 or more; got {sample}.")
        series = []
        for step, pngs in self.images(tag).items():
            if sample >= len(pngs):
                raise ValueError(
                    f"Tag {tag!r} holds {len(pngs)} image(s) at step {step}; there is no "
                    f"sample {sample} (samples are numbered from 0)."
                )
            series.append((step, decode_image(pngs[sample])))
        return series

    def scalars(self) -> ByTag[dict[int, float]]:
        """As :func:`read_scalars`, from the loaded run."""
        from tensorboard.util import tensor_util

        result: ByTag[dict[int, float]] = ByTag()
        for tag in _plugin_tags(self._accumulator, SCALARS_PLUGIN):
            pairs = [
                (int(event.step), float(tensor_util.make_ndarray(event.tensor_proto).item()))
                for event in self._accumulator.Tensors(tag)
            ]
            result[tag] = _first_per_step(pairs)
        return result

    def descriptions(self) -> ByTag[str]:
        """As :func:`read_descriptions`, from the loaded run."""
        metadata = self._accumulator.SummaryMetadata
        return ByTag((tag, metadata(tag).summary_description) for tag in self.tags)


def image_tags(run_dir: str | os.PathLike[str]) -> list[str]:
    """The image tags of a TensorBoard run directory, in the order TensorBoard shows them.

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).

    Returns:
        Every tag with image summaries (``activations/<layer key>``, ``weights/...``, ...),
        ordered by :func:`actlog.tags.sort_tags`; empty when there are none.

    Example:
        ```python
        image_tags("logs/actlog")  # ["activations/conv2d", "activations/conv2d_1"]
        ```
    """
    return RunReader(run_dir).tags


def read_image_series(
    run_dir: str | os.PathLike[str], tag: str, sample: int = 0
) -> list[tuple[int, np.ndarray]]:
    """Every step of an image tag, decoded: what TensorBoard's step slider shows for one sample.

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).
        tag: an image tag, such as ``"activations/conv2d"``, or a layer path (see
            :meth:`RunReader.resolve`).
        sample: which image of each step: for actlog's tags, the probe sample index.

    Returns:
        ``(step, image)`` pairs in ascending step order, one per step (when a step was written
        more than once, the first event, as TensorBoard shows). Images are uint8 arrays
        ``(h, w)`` for grey and ``(h, w, 3)`` for colour (see :func:`decode_image`).

    Raises:
        UnknownTagError: (a ``KeyError`` and ``ValueError``) if the run has no image tag ``tag``;
            the message lists the image tags it has.
        ValueError: if ``sample`` is not an image index that every step of the tag holds.

    Example:
        ```python
        frames = read_image_series("logs/actlog", "activations/conv2d")
        [step for step, _ in frames]  # [-1, 0, 1, 2]
        ```
    """
    return RunReader(run_dir).series(tag, sample)


def read_image_events(run_dir: str | os.PathLike[str]) -> ByTag[list[ImageEvent]]:
    """Every image event of a run, in the order written (duplicate steps kept).

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).

    Returns:
        Image tag -> its events (see :meth:`RunReader.events`), as a :class:`ByTag`.

    Example:
        ```python
        [e.step for e in read_image_events("logs/actlog")["activations/conv2d"]]  # [-1, 0, 1]
        ```
    """
    reader = RunReader(run_dir)
    return ByTag((tag, reader.events(tag)) for tag in reader.tags)


def read_images(run_dir: str | os.PathLike[str]) -> ByTag[dict[int, list[bytes]]]:
    """The PNG bytes of every image tag of a run, as the server serves them.

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).

    Returns:
        Image tag -> step -> the PNGs of that step (see :meth:`RunReader.images`), as a
        :class:`ByTag`.

    Example:
        ```python
        pngs = read_images("logs/actlog")["activations/conv2d"][-1]  # one PNG per sample
        ```
    """
    reader = RunReader(run_dir)
    return ByTag((tag, reader.images(tag)) for tag in reader.tags)


def read_scalars(run_dir: str | os.PathLike[str]) -> ByTag[dict[int, float]]:
    """The TF2 scalar summaries of a run.

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).

    Returns:
        Scalar tag -> step -> value (a :class:`ByTag`); steps ascending, the first event of
        each step.

    Example:
        ```python
        read_scalars("logs/train")["epoch_loss"]  # {0: 0.71, 1: 0.42}
        ```
    """
    return RunReader(run_dir).scalars()


def read_descriptions(run_dir: str | os.PathLike[str]) -> ByTag[str]:
    """The raw description each image tag of a run was written with.

    Args:
        run_dir: one TensorBoard run directory (see :class:`RunReader`).

    Returns:
        Image tag -> its description (``""`` when none), as written (a :class:`ByTag`): the
        server renders it as Markdown (``/data/plugin/images/tags`` gives ``<p>text</p>`` for
        ``text``).

    Example:
        ```python
        read_descriptions("logs/actlog")["activations/conv2d"]  # "... probe 0: label 7 ..."
        ```
    """
    return RunReader(run_dir).descriptions()


def decode_image(data: bytes, strict: bool = False) -> np.ndarray:
    """Decodes image bytes (as a summary stores them) to uint8 pixels.

    Args:
        data: the encoded image.
        strict: False reads any image Pillow reads; True takes only 8-bit PNG.

    Returns:
        ``(h, w)`` for grey, else ``(h, w, c)``; palette images become RGB (RGBA with
        transparency). Not strict, other modes become grey or RGB, so c is 3 or 4; strict keeps
        the PNG's channels, so c is 2, 3 or 4.

    Raises:
        ValueError: with ``strict``, if ``data`` is not a PNG or not 8 bits per channel.
        OSError: if Pillow cannot read ``data``.

    Example:
        ```python
        pixels = decode_image(read_images("logs/actlog")["activations/conv2d"][0][0])
        ```
    """
    with Image.open(io.BytesIO(data)) as image:
        if strict and image.format != "PNG":
            raise ValueError(f"not a PNG image: format {image.format!r}")
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif not strict and image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB" if len(image.getbands()) >= 3 else "L")
        pixels = np.array(image)
    if pixels.dtype != np.uint8:  # only with strict: the conversions above give 8 bits
        raise ValueError(f"expected an 8-bit PNG, got mode {image.mode!r} ({pixels.dtype})")
    return pixels


def decode_png(data: bytes) -> np.ndarray:
    """:func:`decode_image` with ``strict=True``: 8-bit PNG only, channels kept.

    Example:
        ```python
        decode_png(png).shape  # (37, 56) for a grey grid
        ```
    """
    return decode_image(data, strict=True)
