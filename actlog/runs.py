"""Finding TensorBoard runs: the directories under a log directory that hold event files."""

from __future__ import annotations

import os
from pathlib import Path

from actlog.reader import ACTIVATIONS_PREFIX, image_tags


def is_event_file(name: str) -> bool:
    """TensorBoard's own test: ``tfevents`` in the name, minus profiler placeholders."""
    return "tfevents" in name and not name.endswith(".profile-empty")


def has_event_files(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` itself (not its subdirectories) holds TensorBoard event files.

    Args:
        directory: any path; a missing one, or a file, holds none.

    Returns:
        True when a file directly inside ``directory`` is an event file.

    Example:
        ```python
        has_event_files("logs/actlog"), has_event_files("logs")  # (True, False)
        ```
    """
    path = Path(directory)
    return path.is_dir() and any(
        is_event_file(entry.name) for entry in path.iterdir() if entry.is_file()
    )


def event_run_dirs(root: str | os.PathLike[str]) -> list[str]:
    """The runs under a log directory, named as TensorBoard's ``/data/runs`` names them.

    Args:
        root: a TensorBoard log directory.

    Returns:
        The sorted directories holding event files, relative to ``root`` and with ``/`` as
        separator; ``root`` itself is ``"."``. Empty when there are none.

    Example:
        ```python
        event_run_dirs("logs")  # [".", "actlog", "fit/train", "fit/validation"]
        ```
    """
    root_path = os.fspath(root)
    if not os.path.isdir(root_path):
        raise FileNotFoundError(f"Log directory not found: {root_path}")
    runs = []
    for directory, _subdirs, files in os.walk(root_path):
        if any(is_event_file(name) for name in files):
            relative = os.path.relpath(directory, root_path)
            runs.append(relative.replace(os.sep, "/"))
    return sorted(runs)


def find_run_dir(logdir: str | os.PathLike[str], prefix: str = ACTIVATIONS_PREFIX) -> Path | None:
    """The run directory to read under a log directory that holds no event files itself.

    Args:
        logdir: a TensorBoard log directory.
        prefix: the tag prefix that marks a run as actlog's.

    Returns:
        ``logdir`` itself when it holds event files; else the only directory below it whose
        event files have image tags starting with ``prefix``; None when there is none.

    Raises:
        ValueError: if several directories below ``logdir`` qualify (the message lists them).

    Example:
        ```python
        find_run_dir("logs")  # Path("logs/actlog"), beside Keras's logs/train
        ```
    """
    root = Path(logdir)
    runs = event_run_dirs(root)
    if "." in runs:
        return root
    found = [
        root / run for run in runs if any(t.startswith(prefix) for t in image_tags(root / run))
    ]
    if len(found) > 1:
        listed = ", ".join(str(p) for p in found)
        raise ValueError(
            f"{root} holds no event files itself and several runs with {prefix}* tags: "
            f"{listed}. Pass one of them."
        )
    return found[0] if found else None
