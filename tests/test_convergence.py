"""Layer convergence: linear CKA on known arrays, and in the callback on models trained for real
(a frozen layer reads 1, a trained one drops; every layer of a CNN agrees with the whole-layer
debiased CKA computed the slow way), read back from the event files."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import itertools
import logging

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
from actlog.capture import Capture
from actlog.cka import MAX_ROWS, conv_features, feature_shape, linear_cka
from actlog.layers import select_layers
from actlog.producers import Event, Needs
from actlog.producers.convergence import SETTLED_TAG, ConvergenceProducer
from actlog.reader import read_scalars
from actlog.stats import sample_rows

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


def test_plain_cka_is_biased_up_when_features_outnumber_samples_and_the_debiased_is_not():
    for samples, features in ((64, 512), (64, 64), (MAX_ROWS, 2048), (392, 2048)):
        a, b = gaussian(samples, features), gaussian(samples, features, seed=5)
        plain, debiased = linear_cka(a, b), linear_cka(a, b, debiased=True)
        assert plain == pytest.approx(features / (samples + features), abs=0.06)  # high
        assert debiased < 0.03  # unrelated reads about 0, whatever the shape
    # related features read alike either way when samples outnumber features
    x = gaussian(MAX_ROWS, 16)
    noisy = x + 0.5 * gaussian(MAX_ROWS, 16, seed=7)
    assert linear_cka(x, noisy, debiased=True) == pytest.approx(0.8, abs=0.03)
    assert linear_cka(x, noisy) == pytest.approx(0.8, abs=0.03)


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
    # debiased: the same degenerate cases, and fewer than 4 samples have no unbiased estimate
    assert linear_cka(dead, dead, debiased=True) == 1.0
    assert np.isnan(linear_cka(dead, x, debiased=True))
    assert np.isnan(linear_cka(nan, x, debiased=True))
    assert np.isnan(linear_cka(x[:3], gaussian(3, 4, seed=9), debiased=True))
    assert linear_cka(padded, x, debiased=True) == pytest.approx(1.0, abs=1e-12)


def test_feature_shape_keeps_every_channel_at_up_to_max_rows_positions():
    assert feature_shape((8, 56, 56), 256) == (MAX_ROWS, 256)
    assert feature_shape((8, 7, 7), 2048) == (MAX_ROWS, 2048)
    assert feature_shape((8, 3, 3), 256) == (72, 256)  # every position of a small map
    assert feature_shape((8,), 256) == (8, 256)
    assert feature_shape((3, 56, 56), 256) == (3 * 85, 256)  # the same places in each sample
    assert feature_shape((2, 56, 56), 256, samples=8) == (2 * 32, 256)  # a part of 8


# ---- the features taken inside the capture ---------------------------------------------------


def two_scale_model():
    """A wide layer with many positions and a wide layer with very few."""
    x_in = keras.Input((48, 48, 1))
    wide = layers.Conv2D(80, 3, activation="relu", name="wide")(x_in)
    pooled = layers.MaxPooling2D(9, name="pool")(wide)  # 5x5
    tiny = layers.Conv2D(40, 3, name="tiny")(pooled)  # 3x3
    out = layers.Dense(2)(layers.Flatten()(tiny))
    return keras.Model(x_in, out)


def test_the_capture_takes_fixed_rows_and_every_channel_even_on_a_tiny_map():
    model = two_scale_model()
    x = RNG.random((8, 48, 48, 1), dtype=np.float32)
    refs = select_layers(model, ["wide", "tiny"])
    captured = Capture(model, [Needs(features=tuple(refs))])(x)
    assert captured.maps == {} and captured.sums == {}
    wide, tiny = captured.features["wide"], captured.features["tiny"]
    assert wide.shape == (MAX_ROWS, 80) and wide.dtype == np.float32
    assert tiny.shape == (8 * 3 * 3, 40)  # every position and every channel
    maps = actlog.extract(model, x, layers=["wide", "tiny"])
    for path, taken in captured.features.items():
        expected = conv_features(maps[path])
        np.testing.assert_allclose(taken, expected, rtol=1e-4, atol=1e-5)
        flat = maps[path].reshape(-1, maps[path].shape[-1])
        rows = sample_rows(maps[path].shape[:-1], MAX_ROWS)
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
        assert by_tag["convergence_to_first/tiny"].value == pytest.approx(
            linear_cka(a, features, debiased=True))
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


def whole_layer_cka(a, b):
    """Debiased linear CKA over every position and every channel, written out from Song et al.
    (2012)'s unbiased HSIC, HSIC_1(K, L) = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2))
    - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ the linear Gram matrix with its diagonal zeroed; each term
    through the features, so a 6272-row layer needs no 6272 x 6272 matrix."""

    def hsic(x, y):
        n = len(x)
        kx, ky = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)  # the diagonals
        trace = np.sum((x.T @ y) ** 2) - kx @ ky
        k_ones = x @ x.sum(0) - kx  # K~ 1
        l_ones = y @ y.sum(0) - ky  # L~ 1
        return (trace + k_ones.sum() * l_ones.sum() / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (k_ones @ l_ones)) / (n * (n - 3))  # fmt: skip

    x = a.reshape(-1, a.shape[-1]).astype(np.float64)
    y = b.reshape(-1, b.shape[-1]).astype(np.float64)
    return hsic(x, y) / np.sqrt(hsic(x, x) * hsic(y, y))


def test_every_layer_agrees_with_the_whole_layer_debiased_cka(tmp_path):
    """The issue's CNN (28x28x32, 7x7x128, 3x3x256, 1x1x256), trained 12 epochs on synthetic
    digits: at every event each layer's logged CKA to the previous event is within 0.05 of the
    whole layer's (every position of every probe sample, every channel), and "settled since"
    is the same."""
    from actlog.datasets import synthetic_digits

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="c28"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(128, 3, padding="same", activation="relu", name="c7"), layers.MaxPooling2D(),
        layers.Conv2D(256, 3, padding="same", activation="relu", name="c3"),
        layers.Conv2D(256, 3, activation="relu", name="c1"),
        layers.Flatten(), layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = synthetic_digits(1032, seed=0)
    probe = x[1024:]
    names = ["c28", "c7", "c3", "c1"]
    snapshots = []

    class Snapshot(keras.callbacks.Callback):  # the model's own output, the slow way
        def on_train_begin(self, logs=None):
            snapshots.append(actlog.extract(model, probe, layers=names))

        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(actlog.extract(model, probe, layers=names))

    logger = actlog.ActivationLogger(probe, layers=names, log_dir=tmp_path, stats=False,
                                     verbose=0)  # fmt: skip
    model.fit(x[:1024], y[:1024], epochs=12, batch_size=64, verbose=0,
              callbacks=[Snapshot(), logger])  # fmt: skip
    scalars = read_scalars(tmp_path)
    for name in names:
        whole = [whole_layer_cka(a[name], b[name]) for a, b in itertools.pairwise(snapshots)]
        logged = [scalars[f"convergence/{name}"][step] for step in range(12)]
        np.testing.assert_allclose(logged, np.clip(whole, 0, 1), atol=0.05, err_msg=name)
        streak = [step for step in range(12) if all(c >= 0.99 for c in whole[step:])]
        assert logger.settled[name] == (streak[0] if streak else None), (name, whole)
    assert snapshots[0]["c1"].shape == (8, 1, 1, 256)


def test_convergence_is_an_option(tmp_path):
    model = frozen_and_trained_model()
    x = RNG.random((16, 12, 12, 1), dtype=np.float32)
    logger = actlog.ActivationLogger(x[:4], log_dir=tmp_path, convergence=False, stats=False,
                                     verbose=0)  # fmt: skip
    model.fit(x, np.zeros(16, int), epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    assert not any(tag.startswith("convergence") for tag in read_scalars(tmp_path))
    assert logger.settled == {}
    assert logger.options.convergence is False
