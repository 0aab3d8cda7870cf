"""Read logged image grids back from a TensorBoard run and turn them into animated GIFs.

TensorBoard's step slider shows one epoch at a time; a GIF shows the filters forming over the
whole run at a glance, and can go in a README, a slide or a chat message. Reading needs no
TensorFlow: TF2 image summaries are stored as string tensors ``[width, height, png0, png1,
...]`` (one PNG per probe sample) and are read with TensorBoard's plugin event accumulator.

Example:
    ```python
    from actlog.animate import make_gif, read_image_series

    frames = read_image_series("logs/actlog", "activations/conv2d", sample=0)
    make_gif(frames, "conv2d.gif")  # one frame per logged step, labelled "epoch 3"
    ```
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from actlog.images import SEPARATOR_GRAY

#: The TensorBoard plugin that holds image summaries.
IMAGES_PLUGIN = "images"
#: The prefix of the tags actlog logs feature-map grids under.
ACTIVATIONS_PREFIX = "activations/"
#: The step actlog logs the untrained model at (``log_initial=True``).
INITIAL_STEP = -1

_STRIP_BACKGROUND = 0  # black strip ...
_STRIP_TEXT = 255  # ... with white text
_PAD_FILL = SEPARATOR_GRAY  # around frames smaller than the canvas, as empty grid cells
_MARGIN = 3  # pixels around the label text
_TALLEST = "Agjy0|()[]"  # glyphs reaching the font's top and bottom: sets the strip height


class UnknownTagError(KeyError, ValueError):
    """An image tag that the run does not hold; the message lists the tags it does hold.

    Both a ``KeyError`` (a missing key) and a ``ValueError`` (a bad argument), so either
    ``except`` catches it.
    """

    def __str__(self) -> str:  # KeyError would show the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


def _is_event_file(name: str) -> bool:
    return "tfevents" in name and not name.endswith(".profile-empty")


def has_event_files(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` itself (not its subdirectories) holds TensorBoard event files."""
    path = Path(directory)
    return path.is_dir() and any(
        _is_event_file(entry.name) for entry in path.iterdir() if entry.is_file()
    )


def _accumulator(run_dir: str | os.PathLike[str]) -> Any:
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"TensorBoard run directory not found: {path}")
    accumulator = EventAccumulator(str(path), size_guidance={"tensors": 0})  # 0: keep all
    accumulator.Reload()
    return accumulator


def _image_tags(accumulator: Any) -> list[str]:
    try:
        return sorted(accumulator.PluginTagToContent(IMAGES_PLUGIN))
    except KeyError:  # no image summary in the run
        return []


def image_tags(run_dir: str | os.PathLike[str]) -> list[str]:
    """The image tags of a TensorBoard run directory, sorted.

    Args:
        run_dir: one TensorBoard run: the directory holding the event files (such as
            ``ActivationLogger``'s ``log_dir``). Subdirectories are other runs and are not read.

    Returns:
        Every tag with image summaries (``activations/<layer path>``, ``weights/...``, ...);
        empty when there are none.

    Raises:
        FileNotFoundError: if ``run_dir`` is not a directory.
    """
    return _image_tags(_accumulator(run_dir))


def _unknown_tag_message(run_dir: str | os.PathLike[str], tag: str, known: list[str]) -> str:
    listed = ", ".join(known) if known else "none"
    return f"No image tag {tag!r} in {os.fspath(run_dir)}. Image tags there: {listed}."


def decode_image(data: bytes) -> np.ndarray:
    """Decodes PNG (or any Pillow-readable) bytes to uint8 pixels: ``(h, w)`` for grey images,
    ``(h, w, 3 | 4)`` otherwise (palette images become RGB or RGBA)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB" if len(image.getbands()) >= 3 else "L")
        return np.asarray(image, dtype=np.uint8).copy()


class RunReader:
    """The image summaries of one TensorBoard run, loaded once and read tag by tag.

    Args:
        run_dir: one TensorBoard run directory (see :func:`image_tags`).

    Raises:
        FileNotFoundError: if ``run_dir`` is not a directory.

    Example:
        ```python
        reader = RunReader("logs/actlog")
        series = {tag: reader.series(tag) for tag in reader.tags}
        ```
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self._accumulator = _accumulator(run_dir)
        #: The run's image tags, sorted.
        self.tags: list[str] = _image_tags(self._accumulator)

    def series(self, tag: str, sample: int = 0) -> list[tuple[int, np.ndarray]]:
        """As :func:`read_image_series`, from the loaded run."""
        if tag not in self.tags:
            raise UnknownTagError(_unknown_tag_message(self.run_dir, tag, self.tags))
        if sample < 0:
            raise ValueError(f"sample must be 0 or more; got {sample}.")
        first_per_step: dict[int, list[bytes]] = {}
        for event in self._accumulator.Tensors(tag):
            first_per_step.setdefault(int(event.step), list(event.tensor_proto.string_val[2:]))
        series = []
        for step in sorted(first_per_step):
            pngs = first_per_step[step]
            if sample >= len(pngs):
                raise ValueError(
                    f"Tag {tag!r} holds {len(pngs)} image(s) at step {step}; there is no "
                    f"sample {sample} (samples are numbered from 0)."
                )
            series.append((step, decode_image(pngs[sample])))
        return series


def read_image_series(
    run_dir: str | os.PathLike[str], tag: str, sample: int = 0
) -> list[tuple[int, np.ndarray]]:
    """Every step of an image tag, decoded: what TensorBoard's step slider shows for one sample.

    Args:
        run_dir: one TensorBoard run directory (see :func:`image_tags`).
        tag: an image tag, such as ``"activations/conv2d"``.
        sample: which image of each step: for actlog's tags, the probe sample index.

    Returns:
        ``(step, image)`` pairs in ascending step order, one per step (when a step was written
        more than once, the first event, as TensorBoard shows). Images are uint8 arrays
        ``(h, w)`` for grey and ``(h, w, 3)`` for colour.

    Raises:
        FileNotFoundError: if ``run_dir`` is not a directory.
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


def step_label(step: int, label: str = "epoch") -> str:
    """The caption of a frame: ``"before training"`` for step -1, else ``f"{label} {step}"``."""
    return "before training" if step == INITIAL_STEP else f"{label} {step}"


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _as_pixels(image: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        raise TypeError(f"make_gif takes uint8 images; got {pixels.dtype}.")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = pixels[..., :3]  # GIF has no alpha channel worth keeping here
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[-1] == 3)):
        raise ValueError(
            f"make_gif takes images (h, w) or (h, w, 1 | 3 | 4); got shape {pixels.shape}."
        )
    return pixels


def make_gif(
    frames: Sequence[tuple[int, np.ndarray]],
    path: str | os.PathLike[str],
    duration_ms: int = 400,
    label: str = "epoch",
) -> Path:
    """Writes an animated GIF, one frame per step, each captioned with its step.

    The caption (``"before training"`` for step -1, else ``f"{label} {step}"``) is drawn in a
    black strip above the image, so it never hides a pixel. Frames of different sizes are
    centred on a common canvas (the room around them grey, as empty grid cells). Grey and
    colour frames may be mixed (the GIF is then colour). It loops forever, and the same frames
    always give the same bytes.

    Args:
        frames: ``(step, image)`` pairs, in the order to show them (as
            :func:`read_image_series` returns them); images are uint8 ``(h, w)`` or
            ``(h, w, 1 | 3 | 4)`` (alpha is dropped).
        path: the ``.gif`` file to write; its parent directories are created.
        duration_ms: how long each frame shows, in milliseconds.
        label: the word before the step number in captions.

    Returns:
        The path written.

    Raises:
        ValueError: if there are no frames, or an image has an unsupported shape.
        TypeError: if an image is not uint8.

    Example:
        ```python
        make_gif(read_image_series("logs/actlog", "activations/conv2d"), "conv2d.gif")
        ```
    """
    if not frames:
        raise ValueError("make_gif needs at least one frame.")
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be positive; got {duration_ms}.")
    pixels = [_as_pixels(image) for _, image in frames]
    captions = [step_label(int(step), label) for step, _ in frames]
    colour = any(p.ndim == 3 for p in pixels)
    mode = "RGB" if colour else "L"

    font = _font()
    measure = ImageDraw.Draw(Image.new(mode, (1, 1)))
    text_width = max(measure.textbbox((0, 0), text, font=font)[2] for text in captions)
    strip = label_strip_height()
    width = max(max(p.shape[1] for p in pixels), text_width + 2 * _MARGIN)
    height = strip + max(p.shape[0] for p in pixels)

    def fill(level: int) -> int | tuple[int, int, int]:
        return (level, level, level) if colour else level

    images = []
    for image, text in zip(pixels, captions, strict=True):
        if colour and image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        canvas = Image.new(mode, (width, height), fill(_PAD_FILL))
        draw = ImageDraw.Draw(canvas)
        draw.rectangle((0, 0, width - 1, strip - 1), fill=fill(_STRIP_BACKGROUND))
        draw.text((_MARGIN, _MARGIN), text, fill=fill(_STRIP_TEXT), font=font)
        left = (width - image.shape[1]) // 2
        canvas.paste(Image.fromarray(image, mode), (left, strip))
        images.append(canvas)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
        disposal=1,
    )
    return out


def label_strip_height() -> int:
    """The height in pixels of the caption strip :func:`make_gif` draws above each image."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    return draw.textbbox((0, 0), _TALLEST, font=_font())[3] + 2 * _MARGIN


def find_run_dir(logdir: str | os.PathLike[str], prefix: str = ACTIVATIONS_PREFIX) -> Path | None:
    """The run directory to read under a log directory that holds no event files itself.

    Args:
        logdir: a TensorBoard log directory.
        prefix: the tag prefix that marks a run as actlog's.

    Returns:
        ``logdir`` itself when it holds event files; else the only directory below it whose
        event files have image tags starting with ``prefix``; None when there is none.

    Raises:
        FileNotFoundError: if ``logdir`` is not a directory.
        ValueError: if several directories below ``logdir`` qualify (the message lists them).
    """
    root = Path(logdir)
    if not root.is_dir():
        raise FileNotFoundError(f"Log directory not found: {root}")
    if has_event_files(root):
        return root
    found = []
    for directory, subdirs, _files in os.walk(root):
        subdirs.sort()
        candidate = Path(directory)
        if (
            candidate != root
            and has_event_files(candidate)
            and any(tag.startswith(prefix) for tag in image_tags(candidate))
        ):
            found.append(candidate)
    if len(found) > 1:
        listed = ", ".join(str(p) for p in found)
        raise ValueError(
            f"{root} holds no event files itself and several runs with {prefix}* tags: "
            f"{listed}. Pass one of them."
        )
    return found[0] if found else None


def animate_layers(
    run_dir: str | os.PathLike[str],
    layer_paths: Sequence[str],
    out_dir: str | os.PathLike[str],
    sample: int = 0,
) -> dict[str, tuple[Path, int]]:
    """One GIF per layer of ``activations/<layer path>`` in a run, for one probe sample.

    Returns:
        Layer path -> (the GIF, ``<out_dir>/<path with / as __>.gif``, and the last step).
    """
    reader = RunReader(run_dir)
    written = {}
    for path in layer_paths:
        frames = reader.series(f"{ACTIVATIONS_PREFIX}{path}", sample)
        gif = make_gif(frames, Path(out_dir) / (path.replace("/", "__") + ".gif"))
        written[path] = (gif, frames[-1][0])
    return written
