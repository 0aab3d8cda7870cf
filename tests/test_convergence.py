"""Layer convergence: linear CKA on known arrays, and in the callback on a tiny model trained
for real (a frozen layer reads 1, a trained one drops), read back from the event files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import logging

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
from actlog.capture import Capture
from actlog.cka import MAX_CHANNELS, MAX_ROWS, conv_features, feature_shape, linear_cka
from actlog.layers import select_layers
from actlog.producers import Event, Needs
from actlog.producers.convergence import SETTLED_TAG, ConvergenceProducer
from actlog.reader import read_scalars
from actlog.stats import sample_positions

layers = keras.layers
RNG = np.random.default_rng(0)


def gaussian(samples, features, seed=0):
    return np.random.default_rng(seed).normal(size=(samples, features))


def orthogonal(size, seed=1):
    q, _ = np.linalg.qr(gaussian(size, size, seed))
    return q


# ---- linear CKA on known arrays -------------------------------------------------------------


def test_cka_of_identical_arrays_is_one():
    x = gaussian(200, 12)
    assert linear_cka(x, x) == 1.0
    assert linear_cka(x, x.copy()) == 1.0
    assert linear_cka(x.astype(np.float32), x.astype(np.float32)) == 1.0


def test_cka_is_unchanged_by_an_orthogonal_transform_or_isotropic_scaling_of_either():
    x, y = gaussian(300, 10), gaussian(300, 10, seed=2) + 0.5 * gaussian(300, 10)
    q = orthogonal(10)
    base = linear_cka(x, y)
    assert 0.1 < base < 0.9
    for a, b in [(x @ q, y), (x, y @ q), (x @ q, y @ orthogonal(10, seed=3)), (7.5 * x, y),
                 (x, 0.01 * y), (-3 * x @ q, 40 * y)]:  # fmt: skip
        assert linear_cka(a, b) == pytest.approx(base, abs=1e-9)
        assert linear_cka(b, a) == pytest.approx(base, abs=1e-9)  # symmetric
    assert linear_cka(x, 2.0 * x @ q) == pytest.approx(1.0, abs=1e-12)
    # a shift of every column changes nothing either (the columns are centred)
    assert linear_cka(x + 100.0, y) == pytest.approx(base, abs=1e-9)


def test_cka_of_independent_features_is_near_zero_with_many_more_samples_than_features():
    assert linear_cka(gaussian(4096, 16), gaussian(4096, 16, seed=5)) < 0.05
    # the layer-sized case actlog takes: 2048 rows of 64 channels
    assert linear_cka(gaussian(MAX_ROWS, MAX_CHANNELS), gaussian(MAX_ROWS, MAX_CHANNELS, 5)) < 0.05


def test_cka_is_biased_up_when_features_outnumber_samples_which_is_why_actlog_caps_them():
    few = linear_cka(gaussian(64, 512), gaussian(64, 512, seed=5))
    assert few > 0.8  # unrelated, yet it reads high (about d / (n + d) = 0.89)
    square = linear_cka(gaussian(64, 64), gaussian(64, 64, seed=5))
    assert 0.35 < square < 0.65  # about 0.5
    # with actlog's caps (16 rows per channel at least) the same kind of data reads low
    rows, channels = feature_shape(64, 512)
    assert (rows, channels) == (64, 4)
    capped = linear_cka(gaussian(64, 512)[:, :channels], gaussian(64, 512, seed=5)[:, :channels])
    assert capped < 0.25


def test_cka_degenerate_inputs():
    x = gaussian(50, 4)
    dead = np.zeros((50, 4))
    assert linear_cka(dead, dead) == 1.0  # a dead layer that stayed dead did not change
    assert np.isnan(linear_cka(dead, x)) and np.isnan(linear_cka(x, dead))
    assert np.isnan(linear_cka(np.full((50, 4), 3.0), np.full((50, 4), 2.0)))
    # a constant column adds nothing; the other columns still count
    padded = np.concatenate([x, np.full((50, 1), 5.0)], axis=1)
    assert linear_cka(padded, x) == pytest.approx(1.0, abs=1e-12)
    nan = x.copy()
    nan[3, 1] = np.nan
    assert np.isnan(linear_cka(nan, x))
    assert linear_cka(x, gaussian(50, 9, seed=4)) == pytest.approx(
        linear_cka(gaussian(50, 9, seed=4), x))  # feature counts may differ
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(x, x[:40])
    with pytest.raises(ValueError, match="conv_features"):
        linear_cka(x.reshape(5, 10, 4), x.reshape(5, 10, 4))


def test_feature_shape_keeps_rows_well_above_channels():
    assert feature_shape(8 * 56 * 56, 256) == (MAX_ROWS, MAX_CHANNELS)
    assert feature_shape(8 * 7 * 7, 2048) == (392, 24)
    assert feature_shape(32, 512) == (32, 2)
    assert feature_shape(10, 8) == (10, 1)
    assert feature_shape(5000, 6) == (MAX_ROWS, 6)
    for positions in (1, 15, 100, 1000, 10**6):
        rows, channels = feature_shape(positions, 4096)
        assert channels == 1 or rows >= 16 * channels


# ---- the features taken inside the capture ---------------------------------------------------


def two_scale_model():
    """A wide layer with many positions and a wide layer with very few."""
    x_in = keras.Input((48, 48, 1))
    wide = layers.Conv2D(80, 3, activation="relu", name="wide")(x_in)
    pooled = layers.MaxPooling2D(9, name="pool")(wide)  # 5x5
    tiny = layers.Conv2D(40, 3, name="tiny")(pooled)  # 3x3
    out = layers.Dense(2)(layers.Flatten()(tiny))
    return keras.Model(x_in, out)


def test_the_capture_takes_fixed_rows_and_capped_channels_even_on_a_tiny_map():
    model = two_scale_model()
    x = RNG.random((8, 48, 48, 1), dtype=np.float32)
    refs = select_layers(model, ["wide", "tiny"])
    captured = Capture(model, [Needs(features=tuple(refs))])(x)
    assert captured.maps == {} and captured.sums == {}
    wide, tiny = captured.features["wide"], captured.features["tiny"]
    assert wide.shape == (MAX_ROWS, MAX_CHANNELS) and wide.dtype == np.float32
    assert tiny.shape == (8 * 3 * 3, 4)  # 72 rows: 4 channels keep 16 rows per channel or more
    maps = actlog.extract(model, x, layers=["wide", "tiny"])
    for path, taken in captured.features.items():
        expected = conv_features(maps[path])
        np.testing.assert_allclose(taken, expected, rtol=1e-4, atol=1e-5)
        flat = maps[path].reshape(-1, maps[path].shape[-1])
        rows = sample_positions(len(flat), len(taken))
        np.testing.assert_allclose(taken, flat[rows, : taken.shape[1]], rtol=1e-4, atol=1e-5)


# ---- the settled streak, on arrays ----------------------------------------------------------


def test_settled_since_is_the_first_step_of_the_current_streak():
    model = two_scale_model()
    refs = select_layers(model, ["tiny"])
    producer = ConvergenceProducer(refs, every=1)
    a, b, c = gaussian(72, 4), gaussian(72, 4, seed=7), gaussian(72, 4, seed=8)
    seen = []
    for step, features in zip(range(-1, 6), [a, b, b, b, c, c, c], strict=True):
        records = producer.produce(Event(step, features={"tiny": features}))
        seen.append(producer.settled["tiny"])
        by_tag = {record.tag: record for record in records}
        assert by_tag["convergence_to_first/tiny"].value == pytest.approx(linear_cka(a, features))
        if step == -1:
            assert set(by_tag) == {"convergence_to_first/tiny"}  # nothing to compare yet
    assert seen == [None, None, 1, 1, None, 4, 4]
    table = by_tag[SETTLED_TAG]
    assert list(table.columns) == ["layer", "settled since step", "last CKA"]
    assert table.rows == [["tiny", "4", "1.0000"]]
    assert "1 of 1 layers settled" in producer.summary() and "tiny (since step 4)" in (
        producer.summary())


# ---- in the callback, trained for real ------------------------------------------------------


def frozen_and_trained_model():
    """A frozen first conv (its input is the probe itself, so its output cannot change) and a
    trained conv after it, with a learning rate that moves its weights every epoch."""
    x_in = keras.Input((12, 12, 1))
    h = layers.Conv2D(4, 3, activation="tanh", name="frozen", trainable=False)(x_in)
    h = layers.Conv2D(6, 3, name="trained")(h)
    out = layers.Dense(3, activation="softmax", name="head")(layers.Flatten()(h))
    model = keras.Model(x_in, out)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def read_text(log_dir, tag):
    accumulator = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {event.step: event.tensor_proto.string_val[0].decode()
            for event in accumulator.Tensors(tag)}  # fmt: skip


def test_a_frozen_layer_reads_one_while_a_trained_layer_drops(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    model = frozen_and_trained_model()
    x = RNG.random((64, 12, 12, 1), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 3, 64)
    frozen = model.get_layer("frozen")
    frozen_kernel = frozen.get_weights()[0]
    logger = actlog.ActivationLogger((x[:8], y[:8]), log_dir=tmp_path, verbose=0)
    with caplog.at_level(logging.INFO, "actlog"):
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[logger])
    scalars = read_scalars(tmp_path)
    steps = [-1, 0, 1, 2]
    assert sorted(scalars["convergence/frozen"]) == steps[1:]  # from the second event on
    assert sorted(scalars["convergence_to_first/frozen"]) == steps
    for tag in ("convergence/frozen", "convergence_to_first/frozen"):
        assert all(value == pytest.approx(1.0, abs=1e-6) for value in scalars[tag].values())
    trained = scalars["convergence/trained"]
    assert sorted(trained) == steps[1:]
    assert all(0.5 < value < 0.999 for value in trained.values()), trained  # it really moved
    to_first = scalars["convergence_to_first/trained"]
    assert to_first[-1] == 1.0 and to_first[2] < 0.98, to_first  # and drifted from the start
    np.testing.assert_array_equal(frozen.get_weights()[0], frozen_kernel)

    assert logger.settled["frozen"] == 0  # settled since the first epoch, against step -1
    tables = read_text(tmp_path, SETTLED_TAG)
    assert sorted(tables) == steps[1:]
    header, _, *rows = [line.split(" | ") for line in tables[2].splitlines()]
    assert header == ["layer", "settled since step", "last CKA"]
    assert rows[0] == ["frozen", "0", "1.0000"]
    layer, since, last = rows[1]
    settled = logger.settled["trained"]
    assert layer == "trained" and since == ("-" if settled is None else str(settled))
    assert float(last) == pytest.approx(trained[2], abs=1e-4)
    summary = [r.getMessage() for r in caplog.records if "layers settled" in r.getMessage()]
    assert len(summary) == 1 and "frozen (since step 0)" in summary[0]


def test_convergence_is_an_option(tmp_path):
    model = frozen_and_trained_model()
    x = RNG.random((16, 12, 12, 1), dtype=np.float32)
    logger = actlog.ActivationLogger(x[:4], log_dir=tmp_path, convergence=False, stats=False,
                                     verbose=0)  # fmt: skip
    model.fit(x, np.zeros(16, int), epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    assert not any(tag.startswith("convergence") for tag in read_scalars(tmp_path))
    assert logger.settled == {}
    assert logger.options.convergence is False
