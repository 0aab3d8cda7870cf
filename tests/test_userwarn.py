"""Every actlog warning points at the user's line: their fit call (whether raised in a Keras hook
or on actlog's background writer), or their call of an actlog function."""

import inspect
import warnings

import keras
import numpy as np

import actlog
from actlog.sinks import Sink
from actlog.userwarn import issue_kept, warn
from tests import models


class Failing(Sink):
    name = "failing"

    def write_images(self, tag, images, step, captions=None, description=None):
        raise OSError("disk gone")


def caught_at(fn):
    """Runs ``fn``; returns its warnings and the line of this file that called into actlog."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = fn()
    return [w for w in caught if str(w.message).startswith("actlog")], line


def test_the_train_end_warning_points_at_the_fit_call(tmp_path):
    model = models.sequential()
    model.compile(keras.optimizers.SGD(5.0), "sparse_categorical_crossentropy")  # kills filters
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, verbose=0, dead_warn_fraction=0.0)

    def fit():
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
        return inspect.currentframe().f_lineno - 1

    caught, line = caught_at(fit)
    (dead,) = [w for w in caught if "dead filters" in str(w.message)]
    assert (dead.filename, dead.lineno) == (__file__, line)


def test_warnings_from_the_background_writer_point_at_the_fit_call(tmp_path):
    """A sink fails on actlog's writer thread, where no frame is the user's: the warning is
    issued from the next hook, at the fit call."""
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, verbose=0,
                                     sinks=["tensorboard", Failing()])  # fmt: skip

    def fit():
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
        return inspect.currentframe().f_lineno - 1

    caught, line = caught_at(fit)
    (failed,) = [w for w in caught if "failing sink failed" in str(w.message)]  # once
    assert (failed.filename, failed.lineno) == (__file__, line)


def test_a_notebook_call_is_warned_at_its_own_line():
    model = models.sequential()

    def call():
        with np.errstate(all="ignore"):
            conv = model.get_layer("conv_a")
            conv.bias.assign(np.full(conv.bias.shape, -1e3, np.float32))  # never turns on
            actlog.maximize(model, "conv_a", filters=[0], steps=2)
        return inspect.currentframe().f_lineno - 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = call()
    (never,) = [w for w in caught if "never turned on" in str(w.message)]
    assert (never.filename, never.lineno) == (__file__, line)


def test_a_warning_with_no_user_frame_waits_for_one():
    import threading

    thread = threading.Thread(target=warn, args=("actlog: from a thread",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread.start()
        thread.join()
        assert not caught  # kept: the thread has no frame of the user's
        issue_kept()
        line = inspect.currentframe().f_lineno - 1
    (kept,) = caught
    assert str(kept.message) == "actlog: from a thread"
    assert (kept.filename, kept.lineno) == (__file__, line)
