"""Warnings where users look: at the line of theirs that led to them (their ``model.fit(...)``,
their ``actlog.maximize(...)``), not at a line of actlog's, Keras's or a backend's.

:func:`warn` walks the stack to the first frame outside those packages. On a thread where there
is none (actlog's background writer), the warning is kept, and :func:`issue_kept` issues it from
the next Keras hook on the training thread, where the user's ``fit`` is on the stack; what is
still kept when the process exits goes through ``logging``.

Example:
    ```python
    warn("actlog: 3 of 5 layers have dead filters ...")  # attributed to the user's fit line
    ```
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import warnings

logger = logging.getLogger("actlog")

#: Packages whose frames are never the user's line.
_PACKAGES = ("actlog", "keras", "tensorflow", "tf_keras", "jax", "jaxlib", "torch", "tensorboard")
_kept: list[tuple[str, type[Warning]]] = []
_lock = threading.Lock()


def warn(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Warns ``message`` at the first frame of the caller's stack outside actlog, Keras and the
    backends; keeps it for :func:`issue_kept` where no such frame exists."""
    level = user_stacklevel()
    if level is None:
        with _lock:
            _kept.append((message, category))
        return
    warnings.warn(message, category, stacklevel=level)


def user_stacklevel() -> int | None:
    """The ``stacklevel`` (for a ``warnings.warn`` call made by the caller of this function)
    of the first frame outside actlog, Keras and the backends; None when there is none."""
    roots = _roots()
    frame = sys._getframe(2)  # the caller's caller: stacklevel 2 for the caller's warn call
    level = 2
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(roots) and not _is_machinery(filename):
            return level
        frame, level = frame.f_back, level + 1
    return None


def issue_kept() -> None:
    """Issues the warnings kept from threads without a user's frame, at the caller's user line
    (called from the logger's Keras hooks, on the training thread)."""
    with _lock:
        kept = _kept[:]
        _kept.clear()
    level = user_stacklevel()
    for message, category in kept:
        if level is None:
            logger.warning(message)
        else:
            warnings.warn(message, category, stacklevel=level)


def _roots() -> tuple[str, ...]:
    roots = []
    for name in _PACKAGES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            roots.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(roots)


def _is_machinery(filename: str) -> bool:
    """Python's own frames that stand between a thread's start and its work."""
    return os.path.basename(filename) in ("threading.py", "thread.py") or filename.startswith("<")


@atexit.register
def _log_kept() -> None:
    with _lock:
        kept = _kept[:]
        _kept.clear()
    for message, _ in kept:
        logger.warning(message)
