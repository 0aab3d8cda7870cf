"""The error policy of a logging run, in one place.

``on_error="warn"``: a failure warns once per kind (and per sink) and logging goes on;
``"raise"``: the first failure is kept and raised on the training thread at the next chance
(the next epoch end, or train end). Failures of each sink are counted by the sink's name.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any, Literal

from actlog.sinks import Sink

logger = logging.getLogger(__name__)


class FailurePolicy:
    """Decides what a failure on either thread does.

    Args:
        on_error: ``"warn"`` or ``"raise"``.

    Example:
        ```python
        policy = FailurePolicy("warn")
        policy.guard_sink(sink, sink.flush)   # a failure warns once and is counted
        policy.raise_pending()                # on the training thread, with "raise"
        ```
    """

    def __init__(self, on_error: Literal["warn", "raise"] = "warn") -> None:
        self.on_error = on_error
        #: Failures per sink name, counted on the background thread.
        self.sink_failures: dict[str, int] = {}
        self._pending: BaseException | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def guard_sink(self, sink: Sink, action: Callable[..., None], *args: Any) -> None:
        """Runs ``action(*args)``; a failure is counted against ``sink`` and handled."""
        try:
            action(*args)
        except Exception as error:
            with self._lock:
                self.sink_failures[sink.name] = self.sink_failures.get(sink.name, 0) + 1
            self.failed(f"sink:{sink.name}", f"the {sink.name} sink failed", error)

    def failed(self, key: str, what: str, error: BaseException) -> None:
        """Handles a failure of kind ``key``: keeps it to raise, or warns once per kind."""
        if self.on_error == "raise":
            with self._lock:
                self._pending = self._pending or error
            return
        self.warn_once(
            f"{key}:{type(error).__name__}",
            f"actlog: {what} ({type(error).__name__}: {error}); training goes on. Pass "
            "on_error='raise' to stop instead.",
        )

    def raise_pending(self) -> None:
        """Raises the kept failure (with ``"raise"``), once."""
        with self._lock:
            error, self._pending = self._pending, None
        if error is not None:
            raise RuntimeError(f"actlog: logging failed: {error}") from error

    def clear(self) -> None:
        """Forgets a kept failure (a new run starts)."""
        with self._lock:
            self._pending = None

    def warn_once(self, key: str, message: str) -> None:
        """Warns with ``message`` the first time ``key`` is seen; later only logs it."""
        with self._lock:
            if key in self._warned:
                logger.debug(message)
                return
            self._warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
