"""What every ``actlog`` subcommand shares: the user-error type, messages, file checks, progress.

Example:
    ```python
    from actlog.cli.common import CLIError, Progress, require_file

    require_file(Path("model.keras"), "Model file")  # CLIError("Model file not found: ...")
    with Progress("rendering", 3, "layers") as progress:
        for done in range(1, 4):
            progress.update(done)
    ```
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

#: The command's name, in usage lines and before every message.
PROG = "actlog"


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

    Example:
        ```python
        with Progress("animating", len(tags), "tags") as progress:
            for done, tag in enumerate(tags, start=1):
                ...
                progress.update(done)
        ```
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


def one_line(text: object) -> str:
    """``text`` as one line: every run of whitespace (newlines too) becomes one space.

    Args:
        text: a message, or an exception to report.

    Returns:
        The single-line text.

    Example:
        ```python
        one_line(ValueError("no layer\\n  matches"))  # "no layer matches"
        ```
    """
    return " ".join(str(text).split())


def note(message: str) -> None:
    """Prints an informational ``actlog: <message>`` line on stderr (stdout is for paths).

    Args:
        message: what to say.

    Example:
        ```python
        note("wrote 2 GIF(s)")  # stderr: "actlog: wrote 2 GIF(s)"
        ```
    """
    print(f"{PROG}: {message}", file=sys.stderr)


def require_file(path: Path, what: str) -> None:
    """Checks that an input file exists and is a file.

    Args:
        path: the file given on the command line.
        what: how messages name it (``"Model file"``).

    Raises:
        CLIError: if ``path`` is missing or not a file.

    Example:
        ```python
        require_file(Path("cat.jpg"), "Image file")
        ```
    """
    if not path.exists():
        raise CLIError(f"{what} not found: {path}")
    if not path.is_file():
        raise CLIError(f"{what} is not a file: {path}")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Sends what native code writes to file descriptor 2 (TensorFlow's C++ start-up lines:
    "Could not find cuda drivers", "oneDNN custom operations are on", absl's "All log messages
    before absl::InitializeLog() ...") to /dev/null while the block runs, as TensorBoard's own
    command does for TensorFlow's; Python's ``sys.stderr`` (this command's messages, warnings,
    tracebacks) still reaches the terminal."""
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): leave it be
        yield
        return
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        for fd in (devnull, terminal):
            os.close(fd)
        sys.stderr.close()
        sys.stderr = python_stderr
