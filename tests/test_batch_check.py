"""The dead-in-training check runs on the background writer against a copy of the weights as
they were at the event (issue 19 §5): training that goes on meanwhile changes nothing of it."""

import keras
import numpy as np

import actlog
from actlog.batch_check import SNAPSHOT_BYTES
from actlog.capture import Capture
from actlog.producers import Needs


def bn_model():
    """conv -> BatchNormalization -> ReLU, its moving mean far above the probe's: every filter
    at the floor in inference, live with batch statistics."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h)))
    model.get_layer("bn").moving_mean.assign(np.full(8, 1e3, np.float32))
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    return model


def checks(model):
    refs = tuple(actlog.select_layers(model, ["relu"]))
    return [Needs(sums=refs, batch_norm_checks=refs)]


def test_the_deferred_check_sees_the_weights_of_its_event():
    model = bn_model()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 10, 10, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    probe = keras.ops.convert_to_tensor(x[:4])
    deferred = Capture(model, checks(model), alive=4)
    captured = deferred(probe)
    assert deferred.check is not None and deferred.check.deferred
    assert captured.pending_check is not None and not captured.batch_stat_max  # not run yet
    at_event = Capture(model, checks(model))(probe).batch_stat_max["relu"]  # on this thread
    weights = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]

    model.fit(x, y, epochs=3, batch_size=4, verbose=0)  # training goes on (JAX donates buffers)
    for variable in model.trainable_variables:  # and moves every weight, in place
        variable.assign(variable * 2.0 + 0.5)
    after = Capture(model, checks(model))(probe).batch_stat_max["relu"]
    assert not np.allclose(after, at_event, rtol=1e-3)  # the weights did move
    captured.finish_check()  # what the writer does, later

    np.testing.assert_allclose(captured.batch_stat_max["relu"], at_event, rtol=1e-5, atol=1e-6)
    assert (at_event > 0).all()  # live with batch statistics, at the floor in inference
    assert captured.sums["relu"]["max"].max() <= 0
    # the copy took nothing from the model: its weights are training's, not the event's
    moved = [keras.ops.convert_to_numpy(v) for v in model.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(moved, weights, strict=True))


def test_weights_too_large_to_copy_for_every_waiting_event_are_checked_at_once():
    model = bn_model()
    probe = keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(4, 10, 10, 1)),
                                        "float32")  # fmt: skip
    for alive in (0, SNAPSHOT_BYTES):  # never deferred; a copy per event past the budget
        capture = Capture(model, checks(model), alive=alive)
        captured = capture(probe)
        assert capture.check is not None and not capture.check.deferred
        assert captured.pending_check is None and (captured.batch_stat_max["relu"] > 0).all()
