"""One logging run: its lifecycle from train begin to train end.

:meth:`LoggingRun.start` opens the sinks and starts the background writer; :meth:`LoggingRun.log`
captures one event on the training thread (one compiled call, plus what producers collect) and
hands it to the writer, where the producers turn it into records and every sink writes them;
:meth:`LoggingRun.close` writes the producers' final records, closes the sinks and stops the
writer. If ``fit`` dies, ``close`` still runs at interpreter exit, so nothing captured is lost.
Neither ``flush`` nor ``close`` waits for ever: after :data:`FLUSH_TIMEOUT` or
:data:`CLOSE_TIMEOUT` seconds they warn, naming the sink the writer is stuck in, and return.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import keras

from actlog.backend import collective_forward
from actlog.capture import Capture, Captured
from actlog.failures import FailurePolicy
from actlog.layers import LayerRef
from actlog.producers import Event, Producer
from actlog.records import Params, Record
from actlog.sinks import Sink
from actlog.userwarn import warn
from actlog.worker import BackgroundWorker, WorkerStats

logger = logging.getLogger(__name__)

#: Seconds :meth:`LoggingRun.close` waits for the writer to finish what is queued.
CLOSE_TIMEOUT = 60.0
#: Seconds :meth:`LoggingRun.flush` waits for the writer to finish what is queued.
FLUSH_TIMEOUT = 60.0

#: The key of :attr:`LoggingRun.seconds` for the dead-in-training checks run on the writer.
CHECK_SECONDS = "batch-statistics check"

P = TypeVar("P", bound=Producer)


class LoggingRun:
    """Captures events on the training thread and writes them on a background thread.

    Args:
        sinks: where records go.
        producers: the kinds of output, in the order they run within an event.
        capture: the compiled capture of what the producers need.
        probe_x: the probe's inputs (kept on the device as backend tensors).
        failures: the error policy.
        max_pending: how many captured events may wait for the writer.

    Example:
        ```python
        run = LoggingRun(sinks, producers, Capture(model, needs), probe.x, FailurePolicy())
        run.start()
        run.log(step=0)
        run.close()
        ```
    """

    def __init__(self, sinks: Sequence[Sink], producers: Sequence[Producer], capture: Capture,
                 probe_x: Any, failures: FailurePolicy, max_pending: int = 2) -> None:  # fmt: skip
        self.sinks, self.producers, self.capture = list(sinks), list(producers), capture
        # On the device once, not copied there again at every event.
        self.probe_x = keras.tree.map_structure(keras.ops.convert_to_tensor, probe_x)
        self.failures, self.max_pending = failures, max_pending
        #: The logged layers (set by :func:`actlog.setup.build_run`).
        self.layers: list[LayerRef] = []
        #: Written to every sink with the first event (set by :func:`actlog.setup.build_run`).
        self.params: Params | None = None
        #: Seconds the background writer spent per producer (by name), per sink
        #: (``"sink <name>"``, encoding included) and on the checks (:data:`CHECK_SECONDS`),
        #: over the run: what ``bench/fit.py`` reports.
        self.seconds: collections.Counter[str] = collections.Counter()
        self.last_step: int | None = None
        self._worker: BackgroundWorker | None = None
        self._started = False
        self._closed = False
        #: The sink the writer is calling now (set on the writer's thread).
        self._writing: Sink | None = None

    @property
    def worker_stats(self) -> WorkerStats | None:
        """What the background writer did (None before :meth:`start`)."""
        return None if self._worker is None else self._worker.stats

    def producer(self, kind: type[P]) -> P | None:
        """The run's producer of class ``kind``, if it has one."""
        return next((p for p in self.producers if isinstance(p, kind)), None)

    @property
    def open(self) -> bool:
        """Whether the run takes events."""
        return self._started and (self._worker is None or self._worker.alive)

    def start(self) -> None:
        """Checks every sink's destination, opens the sinks and starts the writer. If a sink
        cannot be checked or opened, the sinks opened before it are closed again and the error
        raises, with nothing left running. A run without sinks (a process that takes part in
        the forward pass but does not write) starts no writer."""
        if not self.sinks:
            self._started, self._closed = True, False
            return
        self.failures.add_sinks(self.sinks)  # so that sinks of one name are told apart
        for sink in self.sinks:  # every destination first, before any is opened
            sink.check()
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.open()
                opened.append(sink)
        except BaseException:
            for sink in reversed(opened):
                with contextlib.suppress(Exception):
                    sink.close()
            raise
        self._started, self._closed = True, False
        self._worker = BackgroundWorker(self.max_pending, on_error=self._job_failed)
        atexit.register(self.close)

    def log(self, step: int, captured: Captured | None = None,
            logs: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """On the training thread: captures the event at ``step`` for the producers due then
        (``captured``: an existing capture of the probe to reuse; ``logs``: Keras's logs of the
        epoch) and hands it to the writer."""
        due = [producer for producer in self.producers if producer.due(step)]
        writing = any(sink.enabled for sink in self.sinks)
        # Under a collective forward pass every process captures, writing or not.
        if not due or not self.open or not (writing or collective_forward()):
            return
        try:
            captured = captured or self.capture(self.probe_x)
            collected = {producer.name: producer.collect(step) for producer in due}
        except Exception as error:
            self.failures.failed("capture", f"capturing the event at step {step}", error)
            return
        if not writing:
            return
        self.last_step = step
        assert self._worker is not None
        self._worker.submit(functools.partial(self._write_event, due, step, captured, collected,
                                              dict(logs or {})),
                            describe=f"producing the records of step {step}")  # fmt: skip

    def flush(self) -> bool:
        """Waits until every captured event has been written and flushed, at most
        :data:`FLUSH_TIMEOUT` seconds; returns whether it all was (warns if not)."""
        if self._worker is None or self._closed:
            return True
        if self._worker.drain(FLUSH_TIMEOUT):
            return True
        self._warn_stuck(f"flush() gave up after {FLUSH_TIMEOUT:g} s", "it may still finish")
        return False

    def close(self) -> None:
        """Writes the producers' final records and what is queued, closes the sinks and stops
        the writer. Safe to call twice; runs at interpreter exit if ``fit`` died."""
        atexit.unregister(self.close)
        self._started = False
        worker = self._worker
        if worker is None or self._closed or not worker.alive:
            return
        self._closed = True
        deadline = time.monotonic() + CLOSE_TIMEOUT
        finishing = [p for p in self.producers if type(p).finish is not Producer.finish]
        finished = True
        if finishing and self.last_step is not None:
            try:
                final = functools.partial(self._write_final, finishing)
                worker.submit(final, describe="producing the final records", timeout=CLOSE_TIMEOUT)
            except (TimeoutError, RuntimeError):
                finished = False
        finished = worker.close(max(0.0, deadline - time.monotonic())) and finished
        stuck = None
        if worker.alive:
            stuck = self._writing
            self._warn_stuck(f"closing gave up after {CLOSE_TIMEOUT:g} s",
                             "its daemon thread is left behind and what it had not written is "
                             "lost; the rest of the run goes on")  # fmt: skip
        elif not finished:
            logger.warning("actlog: the background writer stopped before the final records "
                           "were written.")  # fmt: skip
        for sink in self.sinks:
            if sink is not stuck:
                self.failures.guard_sink(sink, sink.close)
        stats = worker.stats
        logger.info(
            "actlog: %d logging events written in %.2f s off the training thread; the training "
            "thread waited %d times (%.2f s) for a full queue.",
            stats.jobs, stats.busy_seconds, stats.full_waits, stats.full_wait_seconds,
        )  # fmt: skip

    def _write_event(self, producers: list[Producer], step: int, captured: Captured,
                     collected: dict[str, Any], logs: dict[str, Any]) -> None:  # fmt: skip
        """On the background thread: the capture's pending check finished, then each
        producer's records, written to each sink."""
        if captured.pending_check is not None:
            start = time.perf_counter()
            try:
                captured.finish_check()
            except Exception as error:
                self.failures.failed("capture", f"checking step {step} on batch statistics",
                                     error)  # fmt: skip
                return
            self.seconds[CHECK_SECONDS] += time.perf_counter() - start
        event = Event(step, captured.maps, captured.sums, captured.kernels, collected,
                      features=captured.features, logs=logs,
                      batch_stat_max=captured.batch_stat_max)  # fmt: skip
        if self.params is not None:
            event.records.append(self.params)
            self.params = None
        for producer in producers:
            start = time.perf_counter()
            event.records.extend(producer.produce(event))
            self.seconds[producer.name] += time.perf_counter() - start
        self._write(event.records, event.step)

    def _write_final(self, producers: list[Producer]) -> None:
        assert self.last_step is not None
        self._write([record for producer in producers for record in producer.finish()],
                    self.last_step)  # fmt: skip

    def _write(self, records: list[Record], step: int) -> None:
        sinks = [sink for sink in self.sinks if sink.enabled]
        for sink in sinks:
            start = time.perf_counter()
            for record in records:
                self._call(sink, f"writing step {step} to", sink.write, record, step)
            self._call(sink, f"flushing step {step} to", sink.flush)
            self.seconds[f"sink {sink.name}"] += time.perf_counter() - start

    def _call(self, sink: Sink, doing: str, action: Any, *args: Any) -> None:
        """On the background thread: ``action(*args)`` guarded, with the writer's
        :attr:`~actlog.worker.BackgroundWorker.current` naming ``sink``."""
        worker = self._worker
        before = worker.current if worker is not None else None
        self._writing = sink
        if worker is not None:
            worker.current = f"{doing} {_sink_label(sink, self.failures)}"
        try:
            self.failures.guard_sink(sink, action, *args)
        finally:
            self._writing = None
            if worker is not None:
                worker.current = before

    def _warn_stuck(self, what: str, outcome: str) -> None:
        worker = self._worker
        doing = worker.current if worker is not None else None
        warn(f"actlog: {what}: the background writer is stuck {doing or 'in a logging job'}; "
             f"{outcome}.")

    def _job_failed(self, error: BaseException) -> None:
        self.failures.failed("job", "a logging event failed", error)


def _sink_label(sink: Sink, failures: FailurePolicy) -> str:
    """A sink as messages name it, by its key in ``sink_failures``: ``the 'hung' sink
    (HungSink)``, ``the 'tensorboard:logs/b' sink (TensorBoardSink)``."""
    return f"the {failures.label(sink)!r} sink ({type(sink).__name__})"
