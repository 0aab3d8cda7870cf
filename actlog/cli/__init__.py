"""The ``actlog`` command: feature-map grids of a saved model, and GIFs of a logged run.

``actlog render MODEL.keras IMAGE...`` runs image files through a saved Keras model and writes
one PNG grid per (layer, image), the same grids the callback logs. ``actlog animate LOGDIR``
turns the ``activations/*`` tags of a TensorBoard run written by
:class:`actlog.ActivationLogger` into animated GIFs, one frame per logged step. ``actlog report
RUN -o FILE.html`` writes the view of a run as one self-contained HTML file.

Exit status: 0 on success; 2 for a usage error, a missing file, an unreadable model or image,
an unknown layer or tag, a Keras backend that is not installed (a one-line message on stderr, no
traceback); 130 when interrupted.

Each subcommand is one module (:mod:`actlog.cli.render`, :mod:`actlog.cli.animate`,
:mod:`actlog.cli.report`) that adds
its parser and runs it; :mod:`actlog.cli.common` holds what they share (errors, messages,
progress) and :mod:`actlog.cli.inputs` the loading of models and images.

Example:
    ```python
    from actlog.cli import main

    main(["animate", "logs/actlog", "--out", "filters.gif"])  # 0, as the shell command
    ```
"""

from __future__ import annotations

import os

# Before keras is imported (lazily, by the subcommands; ``import actlog`` imports no backend):
# TensorFlow's Python-side logging. Its C++ start-up lines are hidden by quiet_native_stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import sys
from collections.abc import Sequence

from actlog.cli import animate, render, report
from actlog.cli.animate import sanitize_tag
from actlog.cli.common import PROG, CLIError, Progress, one_line, quiet_native_stderr
from actlog.cli.inputs import input_geometry, load_image, load_model
from actlog.cli.render import DEFAULT_RENDER_DIR, output_name
from actlog.extras import missing_backend

__all__ = [
    "DEFAULT_RENDER_DIR",
    "PROG",
    "CLIError",
    "Progress",
    "build_parser",
    "input_geometry",
    "load_image",
    "load_model",
    "main",
    "output_name",
    "sanitize_tag",
]

_MAIN_EPILOG = """\
examples:
  actlog render model.keras cat.jpg dog.png --out grids/
  actlog animate logs/actlog --out filters.gif
  actlog report logs/actlog -o report.html

Run 'actlog COMMAND --help' for each command's options.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``actlog`` argument parser, with its ``render``, ``animate`` and ``report``
    subcommands.

    Returns:
        The parser; each subcommand's namespace has ``handler``, the function that runs it.

    Example:
        ```python
        args = build_parser().parse_args(["animate", "logs", "--out", "a.gif"])
        args.handler(args)  # 0
        ```
    """
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="See what the convolution filters of a Keras model do: render feature-map "
        "grids of a saved model for image files, animate a run logged by "
        "actlog.ActivationLogger, or write its view as one HTML file.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    from actlog import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show what the Keras backend prints as it starts (TensorFlow's "
                        "C++ log lines), hidden by default")  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    render.add_parser(commands, formatter)
    animate.add_parser(commands, formatter)
    report.add_parser(commands, formatter)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``actlog`` command.

    Args:
        argv: the arguments after the program name; None reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 for a usage error or a user error (a missing file, an
        unreadable model or image, an unknown layer or tag; one line on stderr), 130 when
        interrupted.

    Example:
        ```python
        raise SystemExit(main())  # what the ``actlog`` script does
        ```
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (already printed)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    try:
        with contextlib.nullcontext() if args.verbose else quiet_native_stderr():
            return int(args.handler(args))
    except CLIError as error:
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # Keras's backend is not installed
        hint = missing_backend(error)
        if hint is None:
            raise
        print(f"{PROG}: error: {hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
