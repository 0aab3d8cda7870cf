"""One background thread that runs logging jobs in order, behind a bounded queue.

The training thread only hands jobs over; rendering, encoding and writing happen here. Memory
stays bounded: at most ``max_pending`` jobs wait. When the queue is full, the training thread
waits for room (nothing captured is dropped); each such wait is counted and timed. No wait is
endless: a submit to a closed or dead worker raises at once, a wait for room gives up when the
thread dies, and :meth:`BackgroundWorker.drain` and :meth:`BackgroundWorker.close` take a
timeout, after which :attr:`BackgroundWorker.current` says what the thread is stuck on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_STOP = object()

#: Seconds :meth:`BackgroundWorker.close` waits for the queued jobs and the thread by default.
CLOSE_TIMEOUT = 60.0
#: Seconds :meth:`BackgroundWorker.drain` waits for the queued jobs by default.
DRAIN_TIMEOUT = 60.0
#: How often a waiting call looks whether the thread is still alive, in seconds.
_SLICE = 0.1


@dataclass
class WorkerStats:
    """What the worker did.

    Attributes:
        jobs: jobs run.
        failed_jobs: jobs that raised.
        full_waits: how often the training thread found the queue full and waited.
        full_wait_seconds: how long it waited in all.
        busy_seconds: time spent running jobs (off the training thread).
    """

    jobs: int = 0
    failed_jobs: int = 0
    full_waits: int = 0
    full_wait_seconds: float = 0.0
    busy_seconds: float = 0.0


class BackgroundWorker:
    """Runs submitted jobs one after another on a daemon thread.

    Args:
        max_pending: the most jobs that may wait in the queue.
        on_error: called on the worker thread with the exception of a job that raised.

    Example:
        ```python
        worker = BackgroundWorker(max_pending=2)
        worker.submit(lambda: write_event(step, maps), describe="writing step 3")
        if not worker.close(timeout=60):  # runs what is queued, then stops the thread
            print("stuck", worker.current)
        ```
    """

    def __init__(
        self,
        max_pending: int = 2,
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "actlog-writer",
    ) -> None:
        self.stats = WorkerStats()
        #: What the running job is doing (its ``describe``, or what the job set here itself);
        #: None between jobs.
        self.current: str | None = None
        self._on_error = on_error
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._closed = False
        self._stop_queued = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def submit(self, job: Callable[[], None], describe: str | None = None,
               timeout: float | None = None) -> None:  # fmt: skip
        """Queues ``job`` (``describe``: what it does, kept in :attr:`current` while it runs).

        Waits for room if ``max_pending`` jobs are already waiting, for as long as the thread
        lives (at most ``timeout`` seconds, if given: then raises :class:`TimeoutError`).

        Raises:
            RuntimeError: the worker is closed, or its thread has stopped.
        """
        self._check_open()
        item = (job, describe)
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            pass
        self.stats.full_waits += 1  # counted as the wait begins
        started = time.perf_counter()
        try:
            while True:
                left = None if timeout is None else timeout - (time.perf_counter() - started)
                if left is not None and left <= 0:
                    raise TimeoutError(
                        f"actlog: the background writer's queue stayed full for {timeout:g} s "
                        f"(stuck {self.current or 'in a job'})"
                    )
                try:
                    self._queue.put(item, timeout=_SLICE if left is None else min(_SLICE, left))
                    return
                except queue.Full:
                    self._check_open()
        finally:
            self.stats.full_wait_seconds += time.perf_counter() - started

    def drain(self, timeout: float | None = DRAIN_TIMEOUT) -> bool:
        """Waits until every job submitted so far has run, at most ``timeout`` seconds (None:
        as long as the thread lives). Returns whether they all ran; False on a timeout (see
        :attr:`current`) or when the thread stopped with jobs still queued."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                if not self.alive:
                    return False
                left = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
                if left <= 0:
                    return False
                done.wait(left)
        return True

    def close(self, timeout: float | None = CLOSE_TIMEOUT) -> bool:
        """Runs what is queued, then stops the thread, waiting at most ``timeout`` seconds
        (None: as long as the thread lives). Later submits raise. Returns whether the thread
        ended; False on a timeout, with :attr:`current` saying what it is stuck on (the daemon
        thread is then left behind; it ends by itself if the job ever returns)."""
        self._closed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop_queued and self.alive:
            left = _SLICE if deadline is None else min(_SLICE, deadline - time.monotonic())
            if left <= 0:
                return False
            try:
                self._queue.put((_STOP, None), timeout=left)
                self._stop_queued = True
            except queue.Full:
                pass
        self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.alive

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("actlog: the background writer is closed; it takes no more jobs")
        if not self.alive:
            raise RuntimeError("actlog: the background writer's thread has stopped; it takes "
                               "no more jobs")  # fmt: skip

    def _run(self) -> None:
        while True:
            try:
                job, describe = self._queue.get(timeout=_SLICE * 5)
            except queue.Empty:
                if self._closed:  # closed while its stop could not be queued
                    return
                continue
            try:
                if job is _STOP:
                    return
                self.current = describe
                started = time.perf_counter()
                try:
                    job()
                except Exception as error:  # reported; never kills the thread
                    self.stats.failed_jobs += 1
                    if self._on_error is not None:
                        self._on_error(error)
                    else:
                        logger.exception("actlog background job failed")
                finally:
                    self.current = None
                    self.stats.jobs += 1
                    self.stats.busy_seconds += time.perf_counter() - started
            finally:
                self._queue.task_done()
