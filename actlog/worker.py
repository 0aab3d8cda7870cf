"""One background thread that runs logging jobs in order, behind a bounded queue.

The training thread only hands jobs over; rendering, encoding and writing happen here. Memory
stays bounded: at most ``max_pending`` jobs wait. When the queue is full, the training thread
waits for room (nothing captured is dropped); each such wait is counted and timed.
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
        worker.submit(lambda: write_event(step, maps))
        worker.close()  # runs what is queued, then stops the thread
        ```
    """

    def __init__(
        self,
        max_pending: int = 2,
        on_error: Callable[[BaseException], None] | None = None,
        name: str = "actlog-writer",
    ) -> None:
        self.stats = WorkerStats()
        self._on_error = on_error
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread still takes jobs."""
        return self._thread.is_alive()

    def submit(self, job: Callable[[], None]) -> None:
        """Queues ``job``; waits for room if ``max_pending`` jobs are already waiting."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.stats.full_waits += 1  # counted as the wait begins
            started = time.perf_counter()
            self._queue.put(job)
            self.stats.full_wait_seconds += time.perf_counter() - started

    def drain(self) -> None:
        """Waits until every job submitted so far has run."""
        if self.alive:
            self._queue.join()

    def close(self, timeout: float | None = None) -> None:
        """Runs what is queued, then stops the thread."""
        if self.alive:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
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
                    self.stats.jobs += 1
                    self.stats.busy_seconds += time.perf_counter() - started
            finally:
                self._queue.task_done()
