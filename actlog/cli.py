"""The ``actlog`` command: feature-map grids of a saved model, and GIFs of a logged run.

``actlog render MODEL.keras IMAGE...`` runs image files through a saved Keras model and writes
one PNG grid per (layer, image), the same grids the callback logs. ``actlog animate LOGDIR``
turns the ``activations/*`` tags of a TensorBoard run written by
:class:`actlog.ActivationLogger` into animated GIFs, one frame per logged step.

Exit status: 0 on success; 2 for a usage error, a missing file, an unreadable model or image,
an unknown layer or tag (a one-line message on stderr, no traceback); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np

# Before keras is imported (lazily, below). Note: ``python -m actlog.cli`` and the ``actlog``
# script import the ``actlog`` package, and with it keras, before this line runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PROG = "actlog"
DEFAULT_RENDER_DIR = "actlog-render"
_IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}  # model input channels -> Pillow mode


class CLIError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


class Progress:
    """A one-line progress counter on a terminal (``rendering 3/10 layers``).

    Writes nothing unless ``stream`` is a terminal and there is more than one item, so logs
    and pipes stay clean; the line is erased when done.

    Args:
        verb: what is being done (``"rendering"``).
        total: how many items.
        noun: what the items are (``"layers"``).
        stream: where to draw; stderr by default.
    """

    def __init__(self, verb: str, total: int, noun: str, stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.verb, self.total, self.noun = verb, total, noun
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = total > 1 and callable(isatty) and bool(isatty())
        self._width = 0

    def update(self, done: int) -> None:
        """Shows ``done`` of ``total`` items finished."""
        if self.enabled:
            text = f"{self.verb} {done}/{self.total} {self.noun}"
            self._width = max(self._width, len(text))
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()

    def __enter__(self) -> Progress:
        self.update(0)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise CLIError(f"{what} not found: {path}")
    if not path.is_file():
        raise CLIError(f"{what} is not a file: {path}")


# ---------------------------------------------------------------------------------- render


def load_model(path: str | os.PathLike[str]) -> Any:
    """Loads a saved Keras model (``.keras``, or legacy ``.h5``) for inference.

    Raises:
        CLIError: if the file is missing or is not a model Keras can load.
    """
    import keras

    model_path = Path(path)
    _require_file(model_path, "Model file")
    if model_path.suffix == ".keras" and not zipfile.is_zipfile(model_path):
        raise CLIError(f"Cannot load model {model_path}: not a Keras model (.keras files are zip)")
    try:
        return keras.saving.load_model(model_path, compile=False)
    except (ValueError, TypeError, OSError, KeyError, AttributeError, zipfile.BadZipFile) as error:
        raise CLIError(f"Cannot load model {model_path}: {_one_line(error)}") from error


def input_geometry(model: Any) -> tuple[int | None, int | None, int | None]:
    """The ``(height, width, channels)`` of a single-image-input model; None for a free size.

    ``channels`` is None for an input ``(batch, height, width)`` without a channel axis.

    Raises:
        CLIError: for a model without symbolic inputs, with several inputs, or whose input is
            not an image.
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
    if len(shape) == 4 and shape[3] in _IMAGE_MODES:
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
    """
    from PIL import Image, ImageOps

    image_path = Path(path)
    _require_file(image_path, "Image file")
    try:
        with Image.open(image_path) as opened:
            image = ImageOps.exif_transpose(opened).convert(_IMAGE_MODES[channels or 1])
            size = (width or image.width, height or image.height)
            if image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise CLIError(f"Cannot read image {image_path}: {_one_line(error)}") from error
    if channels is not None and pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels * np.float32(scale / 255.0)


def output_name(layer_path: str) -> str:
    """The directory name of a layer's PNGs: its path with ``/`` replaced by ``__``."""
    return layer_path.replace("/", "__")


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    stems: list[str] = []
    seen: set[str] = set()
    for path in paths:
        stem, n = path.stem, 1
        while stem in seen:
            n += 1
            stem = f"{path.stem}_{n}"
        seen.add(stem)
        stems.append(stem)
    return stems


def _render(args: argparse.Namespace) -> int:
    from actlog.extract import extract
    from actlog.images import check_cmap, check_normalize, render_grids
    from actlog.layers import select_layers
    from actlog.sinks.png import encode_png

    if args.scale <= 0:
        raise CLIError(f"--scale must be positive; got {args.scale}")
    if args.max_filters < 0:
        raise CLIError(f"--max-filters must be 0 (all) or more; got {args.max_filters}")
    try:
        check_normalize(args.normalize)
        check_cmap(args.cmap)
    except ValueError as error:
        raise CLIError(_one_line(error)) from error
    _require_file(Path(args.model), "Model file")
    image_paths = [Path(p) for p in args.images]
    for path in image_paths:
        _require_file(path, "Image file")

    model = load_model(args.model)
    height, width, channels = input_geometry(model)
    inputs = []
    with Progress("loading", len(image_paths), "images") as progress:
        for i, path in enumerate(image_paths):
            inputs.append(load_image(path, height, width, channels, args.scale))
            progress.update(i + 1)

    try:
        refs = select_layers(model, args.layers or "conv")
    except (ValueError, TypeError) as error:
        raise CLIError(_one_line(error)) from error
    paths = [ref.path for ref in refs]
    # One batch when the images share a size (always, for a model with a fixed input size);
    # else (a model taking any size) one image at a time at its own size.
    if len({x.shape for x in inputs}) == 1:
        groups = [list(range(len(inputs)))]
    else:
        groups = [[i] for i in range(len(inputs))]
    try:
        maps = [extract(model, np.stack([inputs[i] for i in group]), paths) for group in groups]
    except ValueError as error:
        raise CLIError(f"Cannot extract feature maps: {_one_line(error)}") from error

    out = Path(args.out)
    stems = _unique_stems(image_paths)
    max_filters = args.max_filters or None
    written = []
    with Progress("rendering", len(paths), "layers") as progress:
        for done, layer_path in enumerate(paths, start=1):
            directory = out / output_name(layer_path)
            directory.mkdir(parents=True, exist_ok=True)
            for group, group_maps in zip(groups, maps, strict=True):
                grids, _ = render_grids(
                    group_maps[layer_path], args.normalize, max_filters, args.cmap
                )
                for k, index in enumerate(group):
                    target = directory / f"{stems[index]}.png"
                    target.write_bytes(encode_png(grids.images[k]))
                    written.append(target)
            progress.update(done)
    for path in written:
        print(path)
    _note(
        f"wrote {len(written)} PNG(s): {len(paths)} layer(s) x {len(image_paths)} image(s) "
        f"under {out}"
    )
    return 0


# --------------------------------------------------------------------------------- animate


def sanitize_tag(tag: str) -> str:
    """A tag as a file-name part: every run of characters other than letters, digits, ``.``,
    ``-`` and ``_`` becomes ``_`` (``activations/backbone/conv`` ->
    ``activations_backbone_conv``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", tag).strip("_") or "tag"


def _animate(args: argparse.Namespace) -> int:
    from actlog.animate import (
        ACTIVATIONS_PREFIX,
        RunReader,
        UnknownTagError,
        find_run_dir,
        make_gif,
    )

    if args.sample < 0:
        raise CLIError(f"--sample must be 0 or more; got {args.sample}")
    if args.duration <= 0:
        raise CLIError(f"--duration must be positive; got {args.duration}")
    logdir = Path(args.logdir)
    if not logdir.exists():
        raise CLIError(f"Log directory not found: {logdir}")
    if not logdir.is_dir():
        raise CLIError(f"LOGDIR must be a directory (a TensorBoard run): {logdir}")
    try:
        run_dir = find_run_dir(logdir)
    except ValueError as error:
        raise CLIError(_one_line(error)) from error
    if run_dir is None:
        raise CLIError(
            f"No TensorBoard event files in {logdir}, nor a run below it with "
            f"{ACTIVATIONS_PREFIX}* image tags"
        )
    if run_dir != logdir:
        _note(f"reading run {run_dir} (the only run under {logdir} with {ACTIVATIONS_PREFIX}*)")
    reader = RunReader(run_dir)
    known = ", ".join(reader.tags) or "none"
    if args.tag:
        tags = []
        for tag in args.tag:
            if tag not in reader.tags and ACTIVATIONS_PREFIX + tag in reader.tags:
                tag = ACTIVATIONS_PREFIX + tag  # a bare layer path
            if tag not in reader.tags:
                raise CLIError(f"No image tag {tag!r} in {run_dir}. Image tags there: {known}")
            if tag not in tags:
                tags.append(tag)
    else:
        tags = [tag for tag in reader.tags if tag.startswith(ACTIVATIONS_PREFIX)]
        if not tags:
            raise CLIError(f"No {ACTIVATIONS_PREFIX}* image tags in {run_dir}. Image tags: {known}")

    out = Path(args.out)
    suffix = out.suffix or ".gif"
    if len(tags) == 1:
        targets = [out]
    else:
        targets = [out.with_name(f"{out.stem}_{sanitize_tag(tag)}{suffix}") for tag in tags]
    frame_counts = []
    with Progress("animating", len(tags), "tags") as progress:
        for done, (tag, target) in enumerate(zip(tags, targets, strict=True), start=1):
            try:
                frames = reader.series(tag, args.sample)
            except (UnknownTagError, ValueError) as error:
                raise CLIError(_one_line(error)) from error
            make_gif(frames, target, duration_ms=args.duration)
            frame_counts.append(len(frames))
            progress.update(done)
    for target in targets:
        print(target)
    counts = sorted(set(frame_counts))
    frames_text = "/".join(str(c) for c in counts)
    _note(f"wrote {len(targets)} GIF(s), {frames_text} frame(s) each (one per logged step)")
    return 0


# ------------------------------------------------------------------------------------ main

_MAIN_EPILOG = """\
examples:
  actlog render model.keras cat.jpg dog.png --out grids/
  actlog animate logs/actlog --out filters.gif

Run 'actlog COMMAND --help' for each command's options.
"""

_RENDER_DESCRIPTION = """\
Run image files through a saved Keras model and write each chosen layer's feature maps as one
PNG grid per image (the grids ActivationLogger logs to TensorBoard).

Each image is loaded with Pillow, resized (bilinear) to the model's input height and width,
converted to grey, RGB or RGBA as the model's input channels expect, and scaled from 0..255 to
floats in [0, 1] (--scale 255 passes the raw 0..255 values, for models that rescale their input
themselves). Output: OUT/<layer path, / replaced by __>/<image file stem>.png.
"""

_RENDER_EPILOG = """\
examples:
  actlog render model.keras digit.png
  actlog render model.keras a.jpg b.jpg --layers conv2d "backbone/block_*_expand" --out grids/
  actlog render model.keras photo.jpg --normalize layer --cmap magma --max-filters 0 --scale 255
"""

_ANIMATE_DESCRIPTION = """\
Turn the image tags of a TensorBoard run written by actlog.ActivationLogger into animated GIFs:
one frame per logged step (\"before training\" for step -1, then \"epoch N\"), captioned in a
strip above the grid, looping forever.

LOGDIR is the run directory (the logger's log_dir). A parent directory works too when it holds
no event files itself and exactly one run below it has activations/* tags. Without --tag, every
activations/* tag is animated. With one tag, the GIF is written to OUT; with several, each to
<OUT stem>_<tag with / as _>.gif beside OUT.
"""

_ANIMATE_EPILOG = """\
examples:
  actlog animate logs/actlog --tag activations/conv2d --out conv2d.gif
  actlog animate logs --out filters.gif      # filters_activations_conv2d.gif, ...
  actlog animate logs/actlog --tag conv2d --sample 3 --duration 250 --out probe3.gif
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``actlog`` argument parser, with its ``render`` and ``animate`` subcommands."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="See what the convolution filters of a Keras model do: render feature-map "
        "grids of a saved model for image files, or animate a run logged by "
        "actlog.ActivationLogger.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    from actlog import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="write feature-map grids of a saved model for image files (PNG)",
        description=_RENDER_DESCRIPTION,
        epilog=_RENDER_EPILOG,
        formatter_class=formatter,
    )
    render.add_argument("model", metavar="MODEL.keras", help="a model saved with model.save()")
    render.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    render.add_argument(
        "--layers",
        nargs="+",
        metavar="L",
        help="layer names, paths (outer/inner) or glob patterns; default: every conv layer",
    )
    render.add_argument(
        "--out",
        default=DEFAULT_RENDER_DIR,
        metavar="DIR",
        help=f"output directory (default: {DEFAULT_RENDER_DIR}/)",
    )
    render.add_argument(
        "--normalize",
        choices=("filter", "layer", "fixed"),
        default="filter",
        help="filter: each map scaled by its own min and max (default); layer: one scale per "
        "layer and image, so weak filters look dark; fixed: as layer for a single render",
    )
    render.add_argument(
        "--max-filters",
        type=int,
        default=64,
        metavar="N",
        help="tile the first N filters of each layer (default 64; 0: all)",
    )
    render.add_argument(
        "--cmap",
        metavar="NAME",
        help="a matplotlib colour map (viridis, magma, ...); default: greyscale",
    )
    render.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="S",
        help="pixels 0..255 become floats in [0, S] (default 1: [0, 1]; 255: raw values)",
    )
    render.set_defaults(handler=_render)

    animate = commands.add_parser(
        "animate",
        help="animate the activations/* tags of a logged TensorBoard run (GIF)",
        description=_ANIMATE_DESCRIPTION,
        epilog=_ANIMATE_EPILOG,
        formatter_class=formatter,
    )
    animate.add_argument("logdir", metavar="LOGDIR", help="the TensorBoard run directory")
    animate.add_argument(
        "--tag",
        nargs="+",
        metavar="TAG",
        help="image tags (activations/conv2d, or just the layer path conv2d); "
        "default: every activations/* tag",
    )
    animate.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="which probe sample (image index within a step, from 0; default 0)",
    )
    animate.add_argument(
        "--duration",
        type=int,
        default=400,
        metavar="MS",
        help="milliseconds per frame (default 400)",
    )
    animate.add_argument("--out", required=True, metavar="FILE.gif", help="the GIF to write")
    animate.set_defaults(handler=_animate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``actlog`` command.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for a usage error or a user error (a missing file, an
        unreadable model or image, an unknown layer or tag; one line on stderr), 130 when
        interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (already printed)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    try:
        return int(args.handler(args))
    except CLIError as error:
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
