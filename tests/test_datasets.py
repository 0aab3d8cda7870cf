"""Tests for actlog.datasets: synthetic digits and the MNIST loader with its offline fallback."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from actlog.datasets import load_digits, synthetic_digits


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_digits(500, seed=3)


def test_shapes_dtypes_and_range(digits):
    x, y = digits
    assert x.shape == (500, 28, 28, 1)
    assert x.dtype == np.float32
    assert y.shape == (500,)
    assert y.dtype == np.int64
    assert np.isfinite(x).all()
    assert x.min() >= 0.0
    assert x.max() <= 1.0


def test_all_classes_present_and_balanced(digits):
    _, y = digits
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10
    assert counts.min() == counts.max() == 50


def test_images_not_blank_and_distinct(digits):
    x, _ = digits
    flat = x.reshape(len(x), -1)
    # Every image has a digit: a clear peak well above its background.
    assert (flat.max(axis=1) > 0.6).all()
    assert ((flat > 0.5).sum(axis=1) >= 15).all()
    # Background stays dark: most pixels are far below the peak.
    assert (np.median(flat, axis=1) < 0.2).all()
    # No two images are the same.
    assert len(np.unique(flat.round(4), axis=0)) == len(flat)
    # Images of one class differ from each other too, not just across classes.
    assert np.abs(flat[1:] - flat[:-1]).mean(axis=1).min() > 0.01


def test_deterministic_per_seed():
    x1, y1 = synthetic_digits(64, seed=7)
    x2, y2 = synthetic_digits(64, seed=7)
    x3, _ = synthetic_digits(64, seed=8)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_small_and_empty_counts():
    x, y = synthetic_digits(0)
    assert x.shape == (0, 28, 28, 1)
    assert y.shape == (0,)
    x, y = synthetic_digits(3, seed=1)
    assert x.shape == (3, 28, 28, 1)
    assert len(set(y.tolist())) == 3
    with pytest.raises(ValueError):
        synthetic_digits(-1)


def test_load_synthetic():
    (x_train, y_train), (x_test, y_test), source = load_digits("synthetic", 200, 50, seed=1)
    assert source == "synthetic"
    assert x_train.shape == (200, 28, 28, 1)
    assert x_test.shape == (50, 28, 28, 1)
    assert y_train.dtype == y_test.dtype == np.int64
    assert x_train.dtype == x_test.dtype == np.float32
    # Train and test come from different streams.
    assert not np.array_equal(x_train[:50], x_test)
    (x_again, _), _, _ = load_digits("synthetic", 200, 50, seed=1)
    np.testing.assert_array_equal(x_train, x_again)


def test_load_rejects_bad_arguments():
    with pytest.raises(ValueError, match="source"):
        load_digits("cifar")
    with pytest.raises(ValueError):
        load_digits("synthetic", n_train=-1)


def _break_mnist(monkeypatch):
    """Makes keras.datasets.mnist.load_data fail the way it does without a network."""
    import keras

    def fail(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: no network")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)


def test_auto_falls_back_to_synthetic_and_says_why(monkeypatch):
    _break_mnist(monkeypatch)
    with pytest.warns(UserWarning, match=r"MNIST is unavailable.*URL fetch failure.*synthetic"):
        (x_train, _), (x_test, _), source = load_digits("auto", 100, 20)
    assert source == "synthetic"
    assert x_train.shape == (100, 28, 28, 1)
    assert x_test.shape == (20, 28, 28, 1)


def test_mnist_source_raises_clearly(monkeypatch):
    _break_mnist(monkeypatch)
    with pytest.raises(RuntimeError, match=r"Could not load MNIST.*URL fetch failure.*synthetic"):
        load_digits("mnist", 100, 20)


def test_synthetic_source_never_touches_mnist(monkeypatch):
    _break_mnist(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, source = load_digits("synthetic", 10, 10)
    assert source == "synthetic"


def test_mnist_subsampling(monkeypatch):
    """The MNIST path converts and subsamples whatever keras.datasets.mnist returns."""
    import keras

    rng = np.random.default_rng(0)
    fake = (
        (rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), rng.integers(0, 10, 300)),
        (rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60)),
    )
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda *a, **k: fake)
    (x_train, y_train), (x_test, _), source = load_digits("auto", 100, 500, seed=2)
    assert source == "mnist"
    assert x_train.shape == (100, 28, 28, 1) and x_train.dtype == np.float32
    assert x_test.shape == (60, 28, 28, 1)  # Capped at what exists.
    assert y_train.dtype == np.int64
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    # Each kept image is one of the originals, with its own label.
    originals = {img.tobytes(): label for img, label in zip(*fake[0], strict=True)}
    for img, label in zip(x_train[..., 0], y_train, strict=True):
        key = np.round(img * 255).astype(np.uint8).tobytes()
        assert originals[key] == label


def test_synthetic_digits_are_learnable():
    """A tiny CNN trained briefly on synthetic digits classifies held-out ones well."""
    import keras

    keras.utils.set_random_seed(0)
    x_train, y_train = synthetic_digits(2000, seed=10)
    x_test, y_test = synthetic_digits(500, seed=11)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=2, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8
