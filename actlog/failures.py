"""The error policy of a logging run, in one place.

``on_error="warn"``: a failure warns once per kind (and per sink instance) and logging goes on;
``"raise"``: the first failure is kept and raised on the training thread at the next chance
(the next epoch end, or train end). Failures are counted, and warned about, per sink instance:
:attr:`FailurePolicy.sink_failures` keys each sink by its name where no other sink of the run
has that name, else by a label that tells it apart (see :meth:`FailurePolicy.label`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

from actlog.sinks import Sink
from actlog.userwarn import issue_kept, warn

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
        self._sinks: list[Sink] = []  # every sink known, in the run's order
        self._counts: dict[int, int] = {}  # failures per sink, by id() (each one is kept)
        self._pending: BaseException | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def sink_failures(self) -> dict[str, int]:
        """Failures per sink that failed, counted on the background thread, keyed by
        :meth:`label`: the sink's name (``"tensorboard"``) where it is the only sink of that
        name, else ``"tensorboard:<log dir>"`` (see :meth:`label`)."""
        with self._lock:
            return {self._label(sink): self._counts[id(sink)] for sink in self._sinks
                    if id(sink) in self._counts}  # fmt: skip

    def add_sinks(self, sinks: Sequence[Sink]) -> None:
        """Makes ``sinks`` known (the run's sinks, in order), so each is told apart from the
        others of its name from its first failure on. A guarded sink is added by itself."""
        with self._lock:
            for sink in sinks:
                if not any(known is sink for known in self._sinks):
                    self._sinks.append(sink)

    def label(self, sink: Sink) -> str:
        """The key of ``sink`` in :attr:`sink_failures`: its :attr:`~actlog.sinks.Sink.name`
        where no other known sink has that name; else ``name:destination`` (the TensorBoard
        sink's log directory: ``"tensorboard:logs/a"``) where that tells it apart; else
        ``name#k``, the k-th sink of that name in the run's order (``"failing#2"``)."""
        self.add_sinks([sink])
        with self._lock:
            return self._label(sink)

    def describe(self, sink: Sink) -> str:
        """``sink`` as warnings name it: ``the tensorboard sink on 'logs/a'`` (its
        destination), ``the failing sink #2`` (one of several of that name, without a
        destination), or ``the failing sink``."""
        self.add_sinks([sink])
        with self._lock:
            label = self._label(sink)
        where = sink.destination
        if where is not None:
            return f"the {sink.name} sink on {where!r}"
        if label != sink.name:
            return f"the {sink.name} sink {label.removeprefix(sink.name)}"
        return f"the {sink.name} sink"

    def _label(self, sink: Sink) -> str:
        same = [known for known in self._sinks if known.name == sink.name]
        if len(same) <= 1:
            return sink.name
        where = sink.destination
        if where is not None and sum(known.destination == where for known in same) == 1:
            return f"{sink.name}:{where}"
        return f"{sink.name}#{next(i for i, known in enumerate(same, 1) if known is sink)}"

    def guard_sink(self, sink: Sink, action: Callable[..., None], *args: Any) -> None:
        """Runs ``action(*args)``; a failure is counted against this ``sink`` instance and
        handled (a warning names it: see :meth:`describe`)."""
        try:
            action(*args)
        except Exception as error:
            self.add_sinks([sink])
            with self._lock:
                self._counts[id(sink)] = self._counts.get(id(sink), 0) + 1
            self.failed(f"sink:{id(sink)}", f"{self.describe(sink)} failed", error)

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
        """On the training thread: issues the warnings kept from the background writer (at the
        user's ``fit`` line, :mod:`actlog.userwarn`), then raises the kept failure (with
        ``"raise"``), once."""
        issue_kept()
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
        warn(message)
