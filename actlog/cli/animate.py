"""``actlog animate``: the ``activations/*`` tags of a logged TensorBoard run, as GIFs.

The run is read with :mod:`actlog.reader`; the GIFs are made by :func:`actlog.animate.make_gif`.

Example:
    ```console
    $ actlog animate logs/actlog --tag conv2d --out conv2d.gif
    conv2d.gif
    ```
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actlog.cli.common import CLIError, Progress, note, one_line

if TYPE_CHECKING:
    from actlog.reader import RunReader

_DESCRIPTION = """\
Turn the image tags of a TensorBoard run written by actlog.ActivationLogger into animated GIFs:
one frame per logged step (\"before training\" for step -1, then \"epoch N\"), captioned in a
strip above the grid, looping forever.

LOGDIR is the run directory (the logger's log_dir). A parent directory works too when it holds
no event files itself and exactly one run below it has activations/* tags. Without --tag, every
activations/* tag is animated. A tag may be given as its layer path (conv2d), also when the
tag carries the layer's position in the model (activations/012 backbone/block_1, which actlog
writes when the layer names do not sort in model order). With one tag, the GIF is written to
OUT; with several, each to <OUT stem>_<tag with / and spaces as _>.gif beside OUT.
"""

_EPILOG = """\
examples:
  actlog animate logs/actlog --tag activations/conv2d --out conv2d.gif
  actlog animate logs --out filters.gif      # filters_activations_conv2d.gif, ...
  actlog animate logs/actlog --tag conv2d --sample 3 --duration 250 --out probe3.gif
"""


def sanitize_tag(tag: str) -> str:
    """A tag as a file-name part.

    Args:
        tag: a TensorBoard tag.

    Returns:
        ``tag`` with every run of characters other than letters, digits, ``.``, ``-`` and
        ``_`` replaced by ``_`` (and no ``_`` at either end); ``"tag"`` when nothing is left.

    Example:
        ```python
        sanitize_tag("activations/backbone/conv")  # "activations_backbone_conv"
        sanitize_tag("activations/012 backbone/conv")  # "activations_012_backbone_conv"
        ```
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", tag).strip("_") or "tag"


def _run_dir(logdir: Path) -> Path:
    """The run to read: ``logdir``, or the only actlog run below it."""
    from actlog.reader import ACTIVATIONS_PREFIX
    from actlog.runs import find_run_dir

    if not logdir.exists():
        raise CLIError(f"Log directory not found: {logdir}")
    if not logdir.is_dir():
        raise CLIError(f"LOGDIR must be a directory (a TensorBoard run): {logdir}")
    try:
        run_dir = find_run_dir(logdir)
    except ValueError as error:
        raise CLIError(one_line(error)) from error
    if run_dir is None:
        raise CLIError(
            f"No TensorBoard event files in {logdir}, nor a run below it with "
            f"{ACTIVATIONS_PREFIX}* image tags"
        )
    if run_dir != logdir:
        note(f"reading run {run_dir} (the only run under {logdir} with {ACTIVATIONS_PREFIX}*)")
    return run_dir


def _chosen_tags(reader: RunReader, wanted: list[str] | None) -> list[str]:
    """The tags to animate: ``wanted`` (a bare layer path finds its ``activations/`` tag, see
    :meth:`actlog.reader.RunReader.resolve`), in order and without repeats, or every
    ``activations/*`` tag in the order TensorBoard shows them."""
    from actlog.reader import ACTIVATIONS_PREFIX, UnknownTagError

    if not wanted:
        tags = [tag for tag in reader.tags if tag.startswith(ACTIVATIONS_PREFIX)]
        if not tags:
            listed = ", ".join(reader.tags) or "none"
            raise CLIError(
                f"No {ACTIVATIONS_PREFIX}* image tags in {reader.run_dir}. Image tags: {listed}"
            )
        return tags
    tags = []
    for name in wanted:
        try:
            tag = reader.resolve(name)
        except UnknownTagError as error:
            raise CLIError(one_line(error)) from error
        if tag not in tags:
            tags.append(tag)
    return tags


def run(args: argparse.Namespace) -> int:
    """Runs ``actlog animate`` on parsed arguments; returns the exit status (0).

    Raises:
        CLIError: for a bad option, a missing log directory or run, or an unknown tag or sample.
    """
    from actlog.animate import make_gif
    from actlog.reader import RunReader, UnknownTagError

    if args.sample < 0:
        raise CLIError(f"--sample must be 0 or more; got {args.sample}")
    if args.duration <= 0:
        raise CLIError(f"--duration must be positive; got {args.duration}")
    run_dir = _run_dir(Path(args.logdir))
    reader = RunReader(run_dir)
    tags = _chosen_tags(reader, args.tag)

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
                raise CLIError(one_line(error)) from error
            make_gif(frames, target, duration_ms=args.duration)
            frame_counts.append(len(frames))
            progress.update(done)
    for target in targets:
        print(target)
    counts = sorted(set(frame_counts))
    frames_text = "/".join(str(c) for c in counts)
    note(f"wrote {len(targets)} GIF(s), {frames_text} frame(s) each (one per logged step)")
    return 0


def add_parser(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Adds the ``animate`` subcommand, its options and its handler to ``commands``.

    Args:
        commands: the ``add_subparsers()`` object of the ``actlog`` parser.
        formatter: the help formatter of every ``actlog`` parser.

    Example:
        ```python
        add_parser(parser.add_subparsers(dest="command"), argparse.RawDescriptionHelpFormatter)
        ```
    """
    animate = commands.add_parser(
        "animate",
        help="animate the activations/* tags of a logged TensorBoard run (GIF)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    animate.add_argument("logdir", metavar="LOGDIR", help="the TensorBoard run directory")
    animate.add_argument(
        "--tag",
        nargs="+",
        metavar="TAG",
        help="image tags (activations/conv2d, or just the layer path conv2d, with or without "
        "the position actlog may put before it); default: every activations/* tag",
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
    animate.add_argument("--out", required=True, metavar="FILE.gif",
                         help="the GIF to write; with several tags, one per tag beside it: "
                         "FILE_<tag>.gif (FILE_activations_conv2d.gif)")  # fmt: skip
    animate.set_defaults(handler=run)
