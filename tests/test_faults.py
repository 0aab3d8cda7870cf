"""Faults: failing sinks, a full disk, a read-only directory, a log directory deleted or
replaced mid-run, interrupted runs, a slow writer."""

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import keras
import numpy as np
import pytest

import actlog
from actlog.reader import read_images
from tests import models


class FailingSink(actlog.Sink):
    """A sink that works for ``good_writes`` image writes, then raises OSError every time."""

    name = "failing"

    def __init__(self, good_writes):
        self.good_writes = good_writes
        self.writes = 0

    def write_images(self, tag, images, step, captions=None, description=None):
        self.writes += 1
        if self.writes > self.good_writes:
            raise OSError(28, "No space left on device")


class RecordingSink(actlog.Sink):
    """Records which thread writes each step."""

    name = "recording"

    def __init__(self):
        self.threads = set()
        self.steps = []

    def write_images(self, tag, images, step, captions=None, description=None):
        self.threads.add(threading.current_thread().name)
        self.steps.append(step)


def fit(model, x, y, callbacks, epochs):
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)


class AfterEpoch(keras.callbacks.Callback):
    """At the end of epoch ``epoch``: waits until ``logger`` has written that epoch's event,
    then runs ``action``. Put it after the logger in ``callbacks``, so that the logger's own
    ``on_epoch_end`` has handed the event over first."""

    def __init__(self, logger, epoch, action):
        super().__init__()
        self.logger, self.epoch, self.action = logger, epoch, action

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.logger.flush()
            self.action()


def test_a_sink_failing_mid_run_warns_once_and_the_rest_goes_on(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    failing = FailingSink(good_writes=2)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, sinks=["tensorboard", failing])
    with pytest.warns(RuntimeWarning) as caught:
        fit(model, x, y, [logger], epochs=4)
    messages = [str(w.message) for w in caught if "sink failed" in str(w.message)]
    assert len(messages) == 1
    assert "failing sink failed" in messages[0] and "No space left on device" in messages[0]
    # 2 layers x 2 images (grid, filter-health timeline) x 5 events, 2 went well
    assert logger.sink_failures == {"failing": 2 * 2 * 5 - 2}
    for steps in read_images(tmp_path).values():
        assert sorted(steps) == [-1, 0, 1, 2, 3]


def test_strict_mode_stops_training(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        x[:2], log_dir=tmp_path, sinks=["tensorboard", FailingSink(0)], on_error="raise"
    )
    epochs_seen = []
    # Before the logger's on_epoch_end, wait for the writer: the initial event (step -1) has
    # then failed on the background thread for sure, whatever the threads' timing, and the
    # logger raises at epoch 0's end. (Without the wait, a slow writer could let epoch 1 begin.)
    counter = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: epochs_seen.append(e),
        on_epoch_end=lambda e, logs: logger.flush(),
    )
    with pytest.raises(RuntimeError, match="No space left on device"):
        fit(model, x, y, [counter, logger], epochs=5)
    assert epochs_seen == [0]  # the initial event failed; epoch 0's end raised


@contextlib.contextmanager
def tmpfs(path, options):
    """A real, small in-memory file system mounted at ``path`` (tests run as root here; as
    another user, the read-only case uses permissions instead)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs (a real full disk) needs root")
def test_a_full_disk_mid_run_warns_once_and_other_sinks_keep_writing(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    with tmpfs(tmp_path / "small", "size=256k") as small:

        class FillDiskAfterEpoch0(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    with contextlib.suppress(OSError), open(small / "filler", "wb") as f:
                        f.write(b"\0" * (1 << 20))

        logger = actlog.ActivationLogger(
            x[:2],
            sinks=[actlog.TensorBoardSink(small / "run"), actlog.TensorBoardSink(tmp_path / "ok")],
        )
        full = f"tensorboard sink on '{small / 'run'}' failed.*No space left"
        with pytest.warns(RuntimeWarning, match=full):
            fit(model, x, y, [logger, FillDiskAfterEpoch0()], epochs=4)
        # Two sinks named "tensorboard": each is counted apart, keyed by its directory.
        assert list(logger.sink_failures) == [f"tensorboard:{small / 'run'}"]
        assert logger.sink_failures[f"tensorboard:{small / 'run'}"] >= 1
        assert sorted(read_images(tmp_path / "ok")["activations/conv_a"]) == [-1, 0, 1, 2, 3]


def sink_warnings(caught):
    """The messages of the caught warnings about failing sinks."""
    messages = [str(w.message) for w in caught]
    return [m for m in messages if " sink " in m and " failed " in m]


def test_sinks_of_one_name_are_counted_and_warned_about_apart(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    never, after_2, after_6 = FailingSink(10**6), FailingSink(2), FailingSink(6)
    logger = actlog.ActivationLogger(x[:2], sinks=[never, after_2, after_6], timeline=False)
    with pytest.warns(RuntimeWarning) as caught:
        fit(model, x, y, [logger], epochs=4)
    # 2 layers x 5 events = 10 image writes each; the n-th sink of a shared name is "name#n".
    assert logger.sink_failures == {"failing#2": 10 - 2, "failing#3": 10 - 6}
    messages = sink_warnings(caught)
    assert len(messages) == 2
    assert [m.split(" failed")[0] for m in messages] == [
        "actlog: the failing sink #2", "actlog: the failing sink #3"
    ]  # fmt: skip
    assert after_2.writes == after_6.writes == never.writes == 10


def test_two_tensorboard_sinks_one_failing_are_told_apart_by_their_directories(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    broken, fine = tmp_path / "broken", tmp_path / "fine"
    logger = actlog.ActivationLogger(
        x[:2], sinks=[actlog.TensorBoardSink(broken), actlog.TensorBoardSink(fine)]
    )

    def file_in_its_place():  # a real failure: the directory cannot be recreated
        shutil.rmtree(broken)
        broken.write_bytes(b"not a directory")

    with pytest.warns(RuntimeWarning) as caught:
        fit(model, x, y, [logger, AfterEpoch(logger, 1, file_in_its_place)], epochs=4)
    assert list(logger.sink_failures) == [f"tensorboard:{broken}"]
    assert logger.sink_failures[f"tensorboard:{broken}"] >= 2  # steps 2 and 3 at least
    messages = sink_warnings(caught)
    assert len(messages) == 1
    assert f"the tensorboard sink on '{broken}' failed" in messages[0]
    assert "FileExistsError" in messages[0]
    images = read_images(fine)
    assert {"activations/conv_a", "activations/conv_b"} <= set(images)
    for steps in images.values():
        assert sorted(steps) == [-1, 0, 1, 2, 3]


def delete(path):
    shutil.rmtree(path)


def delete_and_make_again(path):
    shutil.rmtree(path)
    path.mkdir()


def move_away_and_make_again(path):
    path.rename(path.with_name(path.name + "-old"))
    path.mkdir()


@pytest.mark.parametrize(
    "change, said",
    [
        (delete, "was deleted"),
        (delete_and_make_again, "was replaced"),
        (move_away_and_make_again, "was replaced"),
    ],
)
def test_a_log_dir_deleted_or_replaced_mid_run_is_recreated_with_a_warning(tmp_path, change, said):
    model = models.sequential()
    x, y = models.digit_data(16)
    run_dir = tmp_path / "run"
    logger = actlog.ActivationLogger(x[:2], log_dir=run_dir)
    with pytest.warns(RuntimeWarning, match="recreated") as caught:
        fit(model, x, y, [logger, AfterEpoch(logger, 1, lambda: change(run_dir))], epochs=4)
    messages = [str(w.message) for w in caught if "recreated" in str(w.message)]
    assert len(messages) == 1  # once per sink
    assert f"TensorBoard log directory '{run_dir}' {said}" in messages[0]
    assert "events written before (steps -1 to 1)" in messages[0]
    assert logger.sink_failures == {}
    images = read_images(run_dir)
    assert {"activations/conv_a", "activations/conv_b"} <= set(images)
    for steps in images.values():  # every tag, the stats' too
        assert sorted(steps) == [2, 3]
    if change is move_away_and_make_again:
        for steps in read_images(tmp_path / "run-old").values():
            assert sorted(steps) == [-1, 0, 1]


def test_a_read_only_log_dir_fails_before_the_first_step(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: batches.append(b))
    if os.geteuid() == 0:
        context = tmpfs(tmp_path / "ro", "ro,size=64k")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        context = contextlib.nullcontext(tmp_path / "ro")
    with context as read_only:
        logger = actlog.ActivationLogger(x[:2], log_dir=read_only / "actlog")
        reason = r"Cannot write TensorBoard logs .*(Read-only|Permission denied)"
        with pytest.raises(PermissionError, match=reason):
            fit(model, x, y, [counter, logger], epochs=1)
    assert batches == []


class BlockedSink(RecordingSink):
    """Holds its first write until the training thread has had to wait for a full queue."""

    def __init__(self):
        super().__init__()
        self.logger = None

    def write_images(self, tag, images, step, captions=None, description=None):
        if not self.steps:
            stats = self.logger.worker_stats
            waited = threading.Event()
            for _ in range(6000):  # up to a minute; the training thread fills the queue first
                if stats.full_waits:
                    break
                waited.wait(0.01)
        super().write_images(tag, images, step, captions, description)


def test_writing_happens_off_the_training_thread_and_a_full_queue_waits(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    slow = BlockedSink()
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks=[slow], max_pending=1,
                                     timeline=False)  # one image per event: its grid
    slow.logger = logger
    fit(model, x, y, [logger], epochs=6)
    assert slow.threads == {"actlog-writer"}
    assert slow.steps == [-1, 0, 1, 2, 3, 4, 5]  # nothing dropped
    assert logger.worker_stats.jobs == 7
    assert logger.worker_stats.full_waits >= 1


def test_an_exception_in_fit_keeps_what_was_captured(tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3:
                raise RuntimeError("out of memory, say")

    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path)
    with pytest.raises(RuntimeError, match="out of memory"):
        fit(model, x, y, [logger, Crash()], epochs=6)
    logger.flush()
    assert sorted(read_images(tmp_path)["activations/conv_b"]) == [-1, 0, 1, 2]


def test_keyboard_interrupt_in_the_4th_epoch_keeps_epochs_0_to_2(tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras
        import actlog
        from tests import models

        class Interrupt(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                if self.epoch == 3 and batch == 1:
                    raise KeyboardInterrupt
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

        model = models.sequential()
        x, y = models.digit_data(32)
        logger = actlog.ActivationLogger(x[:2], log_dir={str(tmp_path)!r})
        model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[logger, Interrupt()])
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=180
    )
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
    images = read_images(tmp_path)
    for tag in ("activations/conv_a", "activations/conv_b"):
        assert sorted(images[tag]) == [-1, 0, 1, 2]
        assert all(len(pngs) == 1 for pngs in images[tag].values())  # samples side by side
    assert np.ptp(np.frombuffer(images["activations/conv_a"][2][0], np.uint8)) > 0
