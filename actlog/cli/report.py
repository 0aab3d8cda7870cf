"""``actlog report``: the view of a logged run as one self-contained HTML file.

The page is written by :func:`actlog.view.report.write_report`: the same frontend as the
TensorBoard tab, with the run's data embedded; it opens from disk with no server.

Example:
    ```console
    $ actlog report logs/actlog -o report.html
    report.html
    ```
"""

from __future__ import annotations

import argparse
from typing import Any

from actlog.cli.common import CLIError, note, one_line

_DESCRIPTION = """\
Write the actlog view of a run (the TensorBoard tab: every layer on one step slider, a filter
followed over the steps, filter health, A/B steps, runs side by side) as one HTML file that
opens from disk in any browser, with no server and nothing loaded from another host.

RUN is a run directory (the logger's log_dir) or a log directory holding several runs: every
run with actlog data goes in. The file stays within --max-mb: where the steps do not fit, they
are thinned evenly, the first and the last kept, and the page says which steps it shows.
"""

_EPILOG = """\
examples:
  actlog report logs/actlog -o report.html
  actlog report logs -o runs.html --max-mb 50     # every run under logs, up to 50 MB
"""


def run(args: argparse.Namespace) -> int:
    """Handles ``actlog report``; returns the exit status."""
    from actlog.view.report import NoActlogData, write_report

    if args.max_mb <= 0:
        raise CLIError(f"--max-mb must be a positive number of megabytes; got {args.max_mb:g}")
    try:
        report = write_report(args.run, args.output, max_mb=args.max_mb)
    except (FileNotFoundError, NoActlogData, ValueError) as error:
        raise CLIError(one_line(error)) from error
    print(report.path)
    thinned = "" if report.steps_shown == report.steps_logged else " (thinned to fit --max-mb)"
    note(f"wrote {report.bytes / 1e6:.1f} MB: {len(report.runs)} run(s), "
         f"{report.steps_shown} of {report.steps_logged} logged steps{thinned}")  # fmt: skip
    return 0


def add_parser(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Adds the ``report`` subcommand, its options and its handler to ``commands``."""
    from actlog.view.report import DEFAULT_MAX_MB

    report = commands.add_parser(
        "report",
        help="write the view of a logged run as one self-contained HTML file",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    report.add_argument("run", metavar="RUN", help="a run directory, or a log directory of runs")
    report.add_argument("-o", "--output", required=True, metavar="FILE.html",
                        help="the HTML file to write")  # fmt: skip
    report.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB, metavar="MB",
                        help=f"the most megabytes the file may take (default "
                        f"{DEFAULT_MAX_MB:g}); steps are thinned to fit")  # fmt: skip
    report.set_defaults(handler=run)
