"""``actlog render``: feature-map grids of a saved model for image files, as PNGs.

Example:
    ```console
    $ actlog render model.keras cat.jpg dog.png --out grids/
    grids/conv2d/cat.png
    ...
    ```
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actlog.cli.common import CLIError, Progress, note, one_line, require_file
from actlog.cli.inputs import input_geometry, load_image, load_model

DEFAULT_RENDER_DIR = "actlog-render"

_DESCRIPTION = """\
Run image files through a saved Keras model and write each chosen layer's feature maps as one
PNG grid per image (the grids ActivationLogger logs to TensorBoard).

Each image is loaded with Pillow, resized (bilinear) to the model's input height and width,
converted to grey, RGB or RGBA as the model's input channels expect, and scaled from 0..255 to
floats in [0, 1] (--scale 255 passes the raw 0..255 values, for models that rescale their input
themselves). Output: OUT/<layer path, / replaced by __>/<image file stem>.png.
"""

_EPILOG = """\
examples:
  actlog render model.keras digit.png
  actlog render model.keras a.jpg b.jpg --layers conv2d "backbone/block_*_expand" --out grids/
  actlog render model.keras photo.jpg --normalize layer --cmap magma --max-filters 0 --scale 255
"""


def output_name(layer_path: str) -> str:
    """The directory name of a layer's PNGs: its path with ``/`` replaced by ``__``.

    Args:
        layer_path: a layer path, as :func:`actlog.select_layers` gives it.

    Returns:
        The directory name.

    Example:
        ```python
        output_name("backbone/conv")  # "backbone__conv"
        ```
    """
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


def run(args: argparse.Namespace) -> int:
    """Runs ``actlog render`` on parsed arguments; returns the exit status (0).

    Raises:
        CLIError: for a bad option, a missing or unreadable model or image, or an unknown layer.
    """
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
        raise CLIError(one_line(error)) from error
    require_file(Path(args.model), "Model file")
    image_paths = [Path(p) for p in args.images]
    for path in image_paths:
        require_file(path, "Image file")

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
        raise CLIError(one_line(error)) from error
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
        raise CLIError(f"Cannot extract feature maps: {one_line(error)}") from error

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
                    caption = (f"{layer_path} · {Path(image_paths[index]).name} · filters "
                               f"0-{grids.filters_shown - 1} of {grids.filters_total}")
                    picture = captioned(inputs[index], grids.images[k], caption)
                    target.write_bytes(encode_png(picture))
                    written.append(target)
            progress.update(done)
    for path in written:
        print(path)
    note(
        f"wrote {len(written)} PNG(s): {len(paths)} layer(s) x {len(image_paths)} image(s) "
        f"under {out}"
    )
    return 0


def captioned(image: np.ndarray, grid: np.ndarray, caption: str) -> np.ndarray:
    """The input ``image`` (scaled to the grid's height, nearest neighbour) left of the ``grid``,
    :data:`actlog.sheet.SHEET_GAP` black pixels apart, under a ``caption`` strip as wide as its
    text: what is shown, of which layer and image."""
    from actlog.images import display_image, resize_nearest
    from actlog.sheet import MARGIN, SHEET_GAP, caption_strip, text_width

    unit = display_image(image, rgb=grid.shape[-1] == 3 or (np.ndim(image) == 3
                         and np.shape(image)[-1] == 3))  # fmt: skip
    pixels = (np.atleast_3d(unit) * 255 + 0.5).astype(np.uint8)
    height = grid.shape[0]
    width = max(1, round(pixels.shape[1] * height / pixels.shape[0]))
    shown = resize_nearest(pixels, height, width)
    if shown.shape[-1] != grid.shape[-1]:
        grid, shown = (np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in (grid, shown))
    body = np.concatenate([shown, np.zeros((height, SHEET_GAP, grid.shape[-1]), np.uint8), grid],
                          axis=1)  # fmt: skip
    total = max(body.shape[1], text_width(caption) + 2 * MARGIN)
    body = np.pad(body, ((0, 0), (0, total - body.shape[1]), (0, 0)))
    strip = np.repeat(caption_strip(caption, total)[..., None], body.shape[-1], axis=-1)
    return np.concatenate([strip, body], axis=0)


def add_parser(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Adds the ``render`` subcommand, its options and its handler to ``commands``.

    Args:
        commands: the ``add_subparsers()`` object of the ``actlog`` parser.
        formatter: the help formatter of every ``actlog`` parser.

    Example:
        ```python
        add_parser(parser.add_subparsers(dest="command"), argparse.RawDescriptionHelpFormatter)
        ```
    """
    render = commands.add_parser(
        "render",
        help="write feature-map grids of a saved model for image files (PNG)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
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
    render.set_defaults(handler=run)
