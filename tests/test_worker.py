"""The background writer never blocks training for ever: closed or dead workers refuse jobs at
once, and ``drain``/``close`` give up after their timeout, naming what is stuck."""

import threading
import time

import pytest

import actlog
import actlog.run
from actlog.worker import BackgroundWorker
from tests import models

# A job that raises SystemExit ends the worker's thread, as a dying thread would; pytest reports
# the exception on the thread, which is the point here.
dies = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def held_job(release, started=None):
    def job():
        if started is not None:
            started.set()
        release.wait(30)

    return job


def test_submit_after_close_raises_at_once():
    worker = BackgroundWorker(max_pending=1)
    assert worker.close(timeout=5)
    begun = time.monotonic()
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(lambda: None)
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(lambda: None)  # the queue would be full now: still no wait
    assert time.monotonic() - begun < 30  # a guard against blocking, not a timing test


@dies
def test_submit_to_a_dead_thread_raises_instead_of_blocking():
    worker = BackgroundWorker(max_pending=1)

    def die():
        raise SystemExit  # not an Exception: ends the thread

    worker.submit(die)
    worker._thread.join(5)
    assert not worker.alive
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(lambda: None)


@dies
def test_a_full_wait_gives_up_when_the_thread_dies():
    worker = BackgroundWorker(max_pending=1)
    release, started = threading.Event(), threading.Event()

    def held_then_die():
        started.set()
        release.wait(30)
        raise SystemExit

    worker.submit(held_then_die)
    assert started.wait(5)
    worker.submit(lambda: None)  # fills the queue
    outcome = []

    def training():
        try:
            worker.submit(lambda: None)
        except RuntimeError as error:
            outcome.append(error)

    trainer = threading.Thread(target=training, daemon=True)
    trainer.start()
    while not worker.stats.full_waits:  # the training thread is waiting for room
        trainer.join(0.01)
    release.set()
    trainer.join(5)
    assert not trainer.is_alive()
    assert worker.stats.full_waits == 1
    assert len(outcome) == 1 and "stopped" in str(outcome[0])  # the queued job was never taken


def test_close_of_a_hung_job_times_out_and_reports_it():
    worker = BackgroundWorker(max_pending=1)
    release, started = threading.Event(), threading.Event()
    worker.submit(held_job(release, started), describe="writing step 3 to the 'hung' sink")
    assert started.wait(5)
    worker.submit(lambda: None)  # the queue is full: close cannot even queue its stop
    assert worker.drain(timeout=0.2) is False
    begun = time.monotonic()
    assert worker.close(timeout=0.5) is False
    assert time.monotonic() - begun < 30  # returned, long before a hang would
    assert worker.alive
    assert worker.current == "writing step 3 to the 'hung' sink"
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(lambda: None)
    release.set()
    worker._thread.join(10)
    assert not worker.alive
    assert worker.stats.jobs == 2  # what was queued still ran


class HungSink(actlog.Sink):
    """A sink whose first image write waits until the test releases it."""

    name = "hung"

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()
        self.closed = False

    def write_images(self, tag, images, step, captions=None, description=None):
        self.entered.set()
        self.release.wait(30)

    def close(self):
        self.closed = True


def test_on_train_end_returns_and_names_a_hung_sink(monkeypatch):
    monkeypatch.setattr(actlog.run, "CLOSE_TIMEOUT", 1.0)
    model = models.sequential()
    x, y = models.digit_data(16)
    hung = HungSink()
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks=[hung])
    try:
        begun = time.monotonic()
        with pytest.warns(RuntimeWarning, match="stuck") as caught:
            model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
        assert time.monotonic() - begun < 60
        message = next(str(w.message) for w in caught if "stuck" in str(w.message))
        assert "'hung' sink (HungSink)" in message and "left behind" in message
        assert hung.entered.is_set()
        assert not hung.closed  # a stuck sink is not closed under the writer's feet
        worker = logger._run._worker
        assert worker.alive
    finally:
        hung.release.set()
    worker._thread.join(10)
    assert not worker.alive


def test_each_fit_of_a_reused_logger_closes_its_writer(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", log_dir=tmp_path, verbose=0)
    before = {thread.name for thread in threading.enumerate()}
    for _ in range(2):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
        assert {thread.name for thread in threading.enumerate()} == before
