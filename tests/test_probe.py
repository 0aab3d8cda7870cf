"""Tests for actlog.probe: the accepted probe forms, copies, captions, datasets and errors."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re

import keras
import numpy as np
import pytest

import actlog
from actlog.probe import Probe, fit_probe_to_model, is_dataset, make_probe
from tests import models

N = 10


# --------------------------------------------------------------------------- data and models


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).random((N, 8, 8, 1), dtype=np.float32)


@pytest.fixture
def y() -> np.ndarray:
    return np.arange(N, dtype=np.int64) % 3


@pytest.fixture
def aux() -> np.ndarray:
    return np.random.default_rng(1).random((N, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def cnn() -> keras.Model:
    inp = keras.Input((8, 8, 1), name="pixels")
    h = keras.layers.Conv2D(2, 3, name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(3)(h)
    return keras.Model(inp, out, name="cnn")


@pytest.fixture(scope="module")
def free_size_cnn() -> keras.Model:
    """Spatial dimensions left open: any height and width fit."""
    inp = keras.Input((None, None, 1), name="any_size")
    h = keras.layers.Conv2D(2, 3, name="conv")(inp)
    out = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, out, name="free_size")


@pytest.fixture(scope="module")
def two_inputs() -> keras.Model:
    """Inputs of different ranks, listed image first; sorted names put "aux" first."""
    image = keras.Input((8, 8, 1), name="image")
    aux = keras.Input((3,), name="aux")
    h = keras.layers.Conv2D(2, 3, name="conv")(image)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([h, aux]))
    return keras.Model([image, aux], out, name="two_inputs")


@pytest.fixture(scope="module")
def called_sequential() -> keras.Model:
    """A Sequential without keras.Input, built by calling it on a batch of 2."""
    model = keras.Sequential(
        [
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ],
        name="late_seq",
    )
    model(np.zeros((2, 8, 8, 1), np.float32))
    return model


class SubNet(keras.Model):
    def __init__(self):
        super().__init__(name="subnet")
        self.conv = keras.layers.Conv2D(2, 3, name="conv")
        self.pool = keras.layers.GlobalAveragePooling2D()

    def call(self, inputs):
        return self.pool(self.conv(inputs))


@pytest.fixture(scope="module")
def subclassed() -> keras.Model:
    model = SubNet()
    model(np.zeros((2, 8, 8, 1), np.float32))
    return model


# --------------------------------------------------------------------------- is_dataset


def test_is_dataset(tf, x):
    assert is_dataset(tf.data.Dataset.from_tensor_slices(x))
    assert is_dataset(tf.data.Dataset.from_tensor_slices(x).batch(4))
    assert is_dataset(tf.data.Dataset.from_tensor_slices((x, x)).batch(4).prefetch(1))
    assert not is_dataset(x)
    assert not is_dataset(tf.constant(x))
    assert not is_dataset([x])
    assert not is_dataset({"a": x})
    assert not is_dataset((x, x))
    assert not is_dataset(None)


# --------------------------------------------------------------------------- accepted forms


def test_array(x):
    probe = make_probe(x)
    assert isinstance(probe, Probe)
    assert isinstance(probe.x, np.ndarray)
    np.testing.assert_array_equal(probe.x, x)
    assert probe.x.dtype == x.dtype
    assert probe.y is None
    assert probe.size == N


def test_array_is_used_whole_whatever_probe_size(x):
    assert make_probe(x, probe_size=3).size == N


def test_tensor(tf, x):
    probe = make_probe(tf.constant(x))
    assert isinstance(probe.x, np.ndarray)
    np.testing.assert_array_equal(probe.x, x)
    assert probe.size == N


def test_x_y_tuple(x, y):
    probe = make_probe((x, y))
    np.testing.assert_array_equal(probe.x, x)
    assert isinstance(probe.y, np.ndarray)
    np.testing.assert_array_equal(probe.y, y)


def test_x_y_sample_weight_tuple(x, y):
    probe = make_probe((x, y, np.ones(N, np.float32)))
    np.testing.assert_array_equal(probe.x, x)
    np.testing.assert_array_equal(probe.y, y)


def test_one_tuple(x):
    probe = make_probe((x,))
    np.testing.assert_array_equal(probe.x, x)
    assert probe.y is None


def test_tensor_tuple(tf, x, y):
    probe = make_probe((tf.constant(x), tf.constant(y)))
    assert isinstance(probe.x, np.ndarray)
    assert isinstance(probe.y, np.ndarray)
    np.testing.assert_array_equal(probe.y, y)


def test_tuple_too_long(x, y):
    with pytest.raises(ValueError, match="tuple of 4"):
        make_probe((x, y, y, y))
    with pytest.raises(ValueError, match="tuple of 0"):
        make_probe(())


def test_list_for_multi_input(x, aux):
    probe = make_probe([x, aux])
    assert isinstance(probe.x, list)
    assert len(probe.x) == 2
    np.testing.assert_array_equal(probe.x[0], x)
    np.testing.assert_array_equal(probe.x[1], aux)
    assert probe.size == N


def test_list_with_labels(x, aux, y):
    probe = make_probe(([x, aux], y))
    assert isinstance(probe.x, list)
    np.testing.assert_array_equal(probe.y, y)


def test_tuple_of_inputs_with_labels_becomes_a_list(x, aux, y):
    probe = make_probe(((x, aux), y))
    assert isinstance(probe.x, list)
    np.testing.assert_array_equal(probe.x[1], aux)


def test_dict_for_multi_input(tf, x, aux, y):
    probe = make_probe(({"image": tf.constant(x), "aux": aux}, y))
    assert isinstance(probe.x, dict)
    assert set(probe.x) == {"image", "aux"}
    assert isinstance(probe.x["image"], np.ndarray)
    np.testing.assert_array_equal(probe.x["image"], x)
    np.testing.assert_array_equal(probe.x["aux"], aux)
    assert probe.size == N


def test_bool_inputs_are_accepted():
    probe = make_probe(np.zeros((2, 4, 4, 1), dtype=bool))
    assert probe.size == 2


# --------------------------------------------------------------------------- copies


def test_probe_copies_the_array(x):
    original = x.copy()
    probe = make_probe(x)
    assert not np.shares_memory(probe.x, x)
    x[:] = -1.0
    np.testing.assert_array_equal(probe.x, original)


def test_probe_copies_labels(x, y):
    original = y.copy()
    probe = make_probe((x, y))
    assert not np.shares_memory(probe.y, y)
    y[:] = 99
    np.testing.assert_array_equal(probe.y, original)


def test_probe_copies_list_and_dict_entries(x, aux):
    x_orig, aux_orig = x.copy(), aux.copy()
    inputs = [x, aux]
    as_list = make_probe(inputs)
    as_dict = make_probe({"image": x, "aux": aux})
    assert as_list.x is not inputs
    x[:] = 5.0
    aux[:] = 5.0
    inputs.append(aux)
    assert len(as_list.x) == 2
    np.testing.assert_array_equal(as_list.x[0], x_orig)
    np.testing.assert_array_equal(as_list.x[1], aux_orig)
    np.testing.assert_array_equal(as_dict.x["image"], x_orig)
    np.testing.assert_array_equal(as_dict.x["aux"], aux_orig)


def test_fit_casts_uint8_without_touching_callers_array(cnn):
    raw = np.random.default_rng(2).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    before = raw.copy()
    probe = make_probe(raw)
    fitted = fit_probe_to_model(probe, cnn)
    assert fitted.x.dtype == np.float32
    np.testing.assert_array_equal(fitted.x, before.astype(np.float32))
    # The caller's array: same dtype, same values, not shared.
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, before)
    assert not np.shares_memory(fitted.x, raw)
    # The probe given to fit_probe_to_model is left as it was.
    assert probe.x.dtype == np.uint8
    # Later changes to the caller's array do not reach the fitted probe.
    raw[:] = 0
    np.testing.assert_array_equal(fitted.x, before.astype(np.float32))


def test_fit_casts_float64_and_keeps_labels(cnn, x, y):
    probe = make_probe((x.astype(np.float64), y))
    fitted = fit_probe_to_model(probe, cnn)
    assert fitted.x.dtype == np.float32
    np.testing.assert_allclose(fitted.x, x)
    np.testing.assert_array_equal(fitted.y, y)
    assert fitted.captions() == probe.captions()


def test_fit_casts_to_integer_inputs():
    inp = keras.Input((3,), dtype="int32", name="ids")
    model = keras.Model(inp, keras.layers.Embedding(10, 2)(inp), name="ids_model")
    fitted = fit_probe_to_model(make_probe(np.array([[1.0, 2.0, 3.0]])), model)
    assert fitted.x.dtype == np.int32
    np.testing.assert_array_equal(fitted.x, [[1, 2, 3]])


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("with_model", [False, True])
def test_unbatched_dataset_of_x(tf, x, cnn, with_model):
    dataset = tf.data.Dataset.from_tensor_slices(x)
    probe = make_probe(dataset, probe_size=4, model=cnn if with_model else None)
    assert isinstance(probe.x, np.ndarray)
    assert probe.x.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(probe.x, x[:4])
    assert probe.y is None


@pytest.mark.parametrize("with_model", [False, True])
def test_batched_dataset_of_x_spans_batches(tf, x, cnn, with_model):
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(3)
    probe = make_probe(dataset, probe_size=5, model=cnn if with_model else None)
    assert probe.x.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(probe.x, x[:5])


def test_batched_dataset_with_fixed_batch_size_and_model(tf, x, cnn):
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(3, drop_remainder=True)
    probe = make_probe(dataset, probe_size=4, model=cnn)
    assert probe.x.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(probe.x, x[:4])


@pytest.mark.parametrize("batch", [None, 4])
@pytest.mark.parametrize("with_model", [False, True])
def test_dataset_of_x_y(tf, x, y, cnn, batch, with_model):
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if batch:
        dataset = dataset.batch(batch)
    probe = make_probe(dataset, probe_size=6, model=cnn if with_model else None)
    assert probe.x.shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(probe.x, x[:6])
    np.testing.assert_array_equal(probe.y, y[:6])
    assert probe.captions()[5] == f"probe 5: label {y[5]}"


def test_batched_dataset_of_x_y_sample_weight(tf, x, y, cnn):
    dataset = tf.data.Dataset.from_tensor_slices((x, y, np.ones(N, np.float32))).batch(4)
    probe = make_probe(dataset, probe_size=7, model=cnn)
    assert probe.size == 7
    np.testing.assert_array_equal(probe.x, x[:7])
    np.testing.assert_array_equal(probe.y, y[:7])


def test_dataset_one_hot_labels(tf, x, y, cnn):
    one_hot = np.eye(3, dtype=np.float32)[y]
    dataset = tf.data.Dataset.from_tensor_slices((x, one_hot)).batch(4)
    probe = make_probe(dataset, probe_size=5, model=cnn)
    assert probe.y.shape == (5, 3)
    assert probe.captions() == [f"probe {i}: label {y[i]}" for i in range(5)]


def test_dataset_smaller_than_probe_size_gives_all_samples(tf, x, cnn):
    dataset = tf.data.Dataset.from_tensor_slices(x[:3]).batch(2)
    probe = make_probe(dataset, probe_size=8, model=cnn)
    assert probe.size == 3
    np.testing.assert_array_equal(probe.x, x[:3])


def test_dataset_for_list_model_input(tf, x, aux, y, two_inputs):
    dataset = tf.data.Dataset.from_tensor_slices(((x, aux), y)).batch(4)
    probe = make_probe(dataset, probe_size=6, model=two_inputs)
    assert isinstance(probe.x, list)
    np.testing.assert_array_equal(probe.x[0], x[:6])
    np.testing.assert_array_equal(probe.x[1], aux[:6])
    np.testing.assert_array_equal(probe.y, y[:6])
    fitted = fit_probe_to_model(probe, two_inputs)
    assert [a.shape for a in fitted.x] == [(6, 8, 8, 1), (6, 3)]


def test_unbatched_dict_dataset_for_multi_input(tf, x, aux, two_inputs):
    dataset = tf.data.Dataset.from_tensor_slices({"image": x, "aux": aux})
    probe = make_probe(dataset, probe_size=4, model=two_inputs)
    assert probe.x["image"].shape == (4, 8, 8, 1)
    assert probe.x["aux"].shape == (4, 3)
    np.testing.assert_array_equal(probe.x["aux"], aux[:4])


def test_batched_dict_dataset_for_multi_input(tf, x, aux, y, two_inputs):
    # Inputs of different ranks; the dict's sorted keys ("aux", "image") differ from the
    # model's input order (image, aux). The batched dataset must still be unbatched.
    dataset = tf.data.Dataset.from_tensor_slices(({"image": x, "aux": aux}, y)).batch(3)
    probe = make_probe(dataset, probe_size=4, model=two_inputs)
    assert probe.x["image"].shape == (4, 8, 8, 1)
    assert probe.x["aux"].shape == (4, 3)
    np.testing.assert_array_equal(probe.x["image"], x[:4])
    np.testing.assert_array_equal(probe.y, y[:4])


def test_dataset_probe_is_usable_by_the_model(tf, x, y, cnn):
    dataset = tf.data.Dataset.from_tensor_slices((x.astype(np.float64), y)).batch(4)
    fitted = fit_probe_to_model(make_probe(dataset, probe_size=4, model=cnn), cnn)
    assert fitted.x.dtype == np.float32
    assert tuple(cnn(fitted.x).shape) == (4, 3)


def test_dataset_string_labels_in_captions(tf, x, cnn):
    dataset = tf.data.Dataset.from_tensor_slices((x[:2], tf.constant(["cat", "dog"])))
    probe = make_probe(dataset, probe_size=2, model=cnn)
    assert probe.captions() == ["probe 0: label cat", "probe 1: label dog"]


# --------------------------------------------------------------------------- captions


def test_captions_without_labels(x):
    assert make_probe(x[:3]).captions() == ["probe 0", "probe 1", "probe 2"]


def test_captions_without_labels_multi_input(x, aux):
    assert make_probe({"image": x[:2], "aux": aux[:2]}).captions() == ["probe 0", "probe 1"]


def test_captions_int_labels(x):
    probe = make_probe((x[:3], np.array([7, 0, 2])))
    assert probe.captions() == ["probe 0: label 7", "probe 1: label 0", "probe 2: label 2"]


def test_captions_one_hot_labels(x):
    one_hot = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    probe = make_probe((x[:3], one_hot))
    assert probe.captions() == ["probe 0: label 2", "probe 1: label 0", "probe 2: label 1"]


def test_captions_probability_rows_use_argmax(x):
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert make_probe((x[:2], probs)).captions() == ["probe 0: label 1", "probe 1: label 0"]


def test_captions_float_integral_labels(x):
    probe = make_probe((x[:3], np.array([3.0, 0.0, 9.0], dtype=np.float32)))
    assert probe.captions() == ["probe 0: label 3", "probe 1: label 0", "probe 2: label 9"]


def test_captions_column_labels(x):
    probe = make_probe((x[:2], np.array([[4.0], [1.0]])))
    assert probe.captions() == ["probe 0: label 4", "probe 1: label 1"]


def test_captions_non_integral_float_labels(x):
    probe = make_probe((x[:2], np.array([0.5, 2.25])))
    assert probe.captions() == ["probe 0: label 0.5", "probe 1: label 2.25"]


def test_captions_tensor_labels(tf, x):
    probe = make_probe((tf.constant(x[:2]), tf.constant([5, 6])))
    assert probe.captions() == ["probe 0: label 5", "probe 1: label 6"]


def test_captions_string_labels(x):
    probe = make_probe((x[:2], np.array(["cat", "dog"])))
    assert probe.captions() == ["probe 0: label cat", "probe 1: label dog"]


def test_captions_count_matches_size(x, y):
    probe = make_probe((x, y))
    assert len(probe.captions()) == probe.size == N


# --------------------------------------------------------------------------- make_probe errors


def test_empty_array():
    with pytest.raises(ValueError, match="empty"):
        make_probe(np.zeros((0, 8, 8, 1), np.float32))


def test_empty_dataset(tf, cnn):
    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="dataset is empty"):
        make_probe(empty, model=cnn)
    with pytest.raises(ValueError, match="dataset is empty"):
        make_probe(empty.batch(4), model=cnn)


@pytest.mark.parametrize("empty", [[], {}], ids=["list", "dict"])
def test_empty_list_or_dict(empty):
    # No input at all is an empty probe too, and the message should say so.
    with pytest.raises(ValueError, match="empty"):
        make_probe(empty)


def test_mismatched_input_sizes(x, aux):
    with pytest.raises(ValueError, match="same number of samples"):
        make_probe([x[:4], aux[:3]])
    with pytest.raises(ValueError, match="same number of samples"):
        make_probe({"image": x[:4], "aux": aux[:5]})


def test_label_count_mismatch(x, y):
    with pytest.raises(ValueError, match=r"4 samples but \(3,\) labels"):
        make_probe((x[:4], y[:3]))
    with pytest.raises(ValueError, match="one label per sample"):
        make_probe((x[:4], np.int64(3)))


def test_string_inputs_rejected(tf):
    with pytest.raises(TypeError, match="numeric"):
        make_probe(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="numeric"):
        make_probe(tf.constant(["a", "b"]))
    with pytest.raises(TypeError, match="numeric"):
        make_probe([np.zeros((2, 3)), np.array(["a", "b"])])
    with pytest.raises(TypeError, match="numeric"):
        make_probe(np.array([{"a": 1}, None], dtype=object))


# --------------------------------------------------------------------------- fit_probe_to_model


def test_fit_accepts_a_matching_probe(cnn, x):
    fitted = fit_probe_to_model(make_probe(x), cnn)
    assert isinstance(fitted.x, np.ndarray)
    np.testing.assert_array_equal(fitted.x, x)
    assert tuple(cnn(fitted.x).shape) == (N, 3)


def test_fit_any_batch_size(cnn, x):
    assert fit_probe_to_model(make_probe(x[:1]), cnn).size == 1


def test_fit_open_spatial_dims(free_size_cnn):
    fitted = fit_probe_to_model(make_probe(np.zeros((2, 13, 7, 1))), free_size_cnn)
    assert fitted.x.shape == (2, 13, 7, 1)
    with pytest.raises(ValueError, match="does not fit"):
        fit_probe_to_model(make_probe(np.zeros((2, 13, 7, 3))), free_size_cnn)


def test_single_sample_without_batch_axis(cnn, x):
    probe = make_probe(x[0])  # (8, 8, 1): reads as 8 samples of 8x1
    with pytest.raises(ValueError, match=re.escape("x[None]")) as info:
        fit_probe_to_model(probe, cnn)
    message = str(info.value)
    assert "single sample" in message
    assert "(8, 8, 1)" in message
    assert "'cnn'" in message


def test_wrong_rank_too_many_axes(cnn):
    with pytest.raises(ValueError, match="does not fit") as info:
        fit_probe_to_model(make_probe(np.zeros((2, 3, 8, 8, 1))), cnn)
    assert "x[None]" not in str(info.value)


def test_wrong_spatial_size(cnn):
    with pytest.raises(ValueError, match="does not fit") as info:
        fit_probe_to_model(make_probe(np.zeros((4, 9, 9, 1), np.float32)), cnn)
    message = str(info.value)
    assert "(4, 9, 9, 1)" in message
    assert "(None, 8, 8, 1)" in message
    assert "'pixels'" in message
    assert "'cnn'" in message


def test_wrong_channels(cnn):
    with pytest.raises(ValueError, match=re.escape("(None, 8, 8, 1)")):
        fit_probe_to_model(make_probe(np.zeros((4, 8, 8, 3), np.float32)), cnn)


def test_wrong_number_of_inputs(cnn, two_inputs, x, aux):
    with pytest.raises(ValueError, match=r"'two_inputs' takes 2 input\(s\) but the probe holds 1"):
        fit_probe_to_model(make_probe(x), two_inputs)
    with pytest.raises(ValueError, match=r"takes 2 input\(s\) but the probe holds 3"):
        fit_probe_to_model(make_probe([x, aux, aux]), two_inputs)
    with pytest.raises(ValueError, match=r"'cnn' takes 1 input\(s\) but the probe holds 2"):
        fit_probe_to_model(make_probe([x, aux]), cnn)


def test_multi_input_list(two_inputs, x, aux, y):
    fitted = fit_probe_to_model(make_probe(([x.astype(np.float64), aux], y)), two_inputs)
    assert isinstance(fitted.x, list)
    assert [a.dtype for a in fitted.x] == [np.float32, np.float32]
    np.testing.assert_array_equal(fitted.y, y)
    assert tuple(two_inputs(fitted.x).shape) == (N, 1)


def test_multi_input_list_in_wrong_order(two_inputs, x, aux):
    with pytest.raises(ValueError, match="does not fit"):
        fit_probe_to_model(make_probe([aux, x]), two_inputs)


def test_multi_input_dict(two_inputs, x, aux):
    fitted = fit_probe_to_model(make_probe({"aux": aux, "image": x}), two_inputs)
    assert isinstance(fitted.x, dict)
    assert list(fitted.x) == ["image", "aux"]  # the model's input order
    np.testing.assert_array_equal(fitted.x["image"], x)
    np.testing.assert_array_equal(fitted.x["aux"], aux)


def test_dict_with_wrong_keys(two_inputs, cnn, x, aux):
    with pytest.raises(ValueError, match=r"keys \['aux', 'img'\].*'two_inputs'.*'image'"):
        fit_probe_to_model(make_probe({"img": x, "aux": aux}), two_inputs)
    with pytest.raises(ValueError, match="inputs named"):
        fit_probe_to_model(make_probe({"image": x}), two_inputs)
    with pytest.raises(ValueError, match="inputs named"):
        fit_probe_to_model(make_probe({"image": x, "aux": aux, "extra": aux}), two_inputs)
    with pytest.raises(ValueError, match=r"inputs named \['pixels'\]"):
        fit_probe_to_model(make_probe({"image": x}), cnn)


def test_dict_with_right_keys_but_wrong_shape(two_inputs, x, aux):
    with pytest.raises(ValueError, match="'aux'"):
        fit_probe_to_model(make_probe({"image": x, "aux": aux[:, :2]}), two_inputs)


def test_sequential_built_by_a_call(called_sequential, x):
    # Built on a batch of 2, without keras.Input: other batch sizes still fit.
    fitted = fit_probe_to_model(make_probe(x[:5].astype(np.float64)), called_sequential)
    assert fitted.x.shape == (5, 8, 8, 1)
    assert fitted.x.dtype == np.float32
    assert tuple(called_sequential(fitted.x).shape) == (5, 2)
    with pytest.raises(ValueError, match="does not fit"):
        fit_probe_to_model(make_probe(np.zeros((5, 9, 9, 1))), called_sequential)


def test_sequential_built_by_a_call_takes_a_dataset(tf, called_sequential, x):
    probe = make_probe(tf.data.Dataset.from_tensor_slices(x).batch(3), 4, called_sequential)
    assert probe.x.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(probe.x, x[:4])


def test_subclassed_model_returns_probe_unchanged(subclassed, x):
    probe = make_probe(x.astype(np.float64))
    assert fit_probe_to_model(probe, subclassed) is probe
    # Not checked here, even when it would not fit: checked when the probe first runs.
    odd = make_probe(np.zeros((2, 5, 5, 3), np.uint8))
    assert fit_probe_to_model(odd, subclassed) is odd


def test_unbuilt_sequential_returns_probe_unchanged(x):
    model = keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    probe = make_probe(x)
    assert fit_probe_to_model(probe, model) is probe


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_probe_with_nan_or_inf_is_rejected_before_training(bad, tmp_path):
    x, _ = models.digit_data(6)
    x[4, 3, 2, 0] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf values \(in samples \[4\]\)"):
        actlog.ActivationLogger(x, log_dir=tmp_path)
    with pytest.raises(ValueError, match="NaN or Inf"):  # every input of a multi-input probe
        make_probe({"image": x[:4], "extra": np.full((4, 3), bad, np.float32)})
    assert not any(tmp_path.iterdir())  # nothing written
    assert make_probe(x[:4]).size == 4  # the finite samples are fine


# ---- each common probe mistake gets a message that names it --------------------------------


def _input_model(shape):
    """A model taking ``shape`` (batch first, None for the batch), by its rank."""
    inputs = keras.Input(shape[1:])
    if len(shape) == 5:
        h = keras.layers.Conv3D(2, 3, padding="same")(inputs)
    elif shape[1] in (1, 3) and len(shape) == 4 and shape[-1] not in (1, 3):
        h = keras.layers.Conv2D(2, 3, padding="same", data_format="channels_first")(inputs)
    else:
        h = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    return keras.Model(inputs, keras.layers.Flatten()(h), name="m")


MISTAKES = {  # name: (probe shape, model input shape, what the message says)
    "Conv3D volume without its channel axis": (
        (8, 16, 16, 8), (None, 16, 16, 8, 1),
        "It has no channel axis: add it with x[..., None] (shape (8, 16, 16, 8, 1))."),
    "grayscale images without their channel axis": (
        (8, 28, 28), (None, 28, 28, 1), "It has no channel axis: add it with x[..., None]"),
    "an extra axis of size 1": (
        (8, 28, 28, 1, 1), (None, 28, 28, 1), "an extra axis of size 1 at the end: drop it"),
    "a single sample": ((28, 28, 1), (None, 28, 28, 1), "single sample: add the batch axis"),
    "a single sample without its channel axis": (
        (28, 28), (None, 28, 28, 1), "single sample without its channel axis: add both"),
    "channels first for a channels-last model": (
        (8, 3, 32, 32), (None, 32, 32, 3), "channels first (batch, channels, ...) but the model"),
    "channels last for a channels-first model": (
        (8, 32, 32, 3), (None, 3, 32, 32), "channels last but the model takes channels first"),
    "grayscale for RGB": ((8, 32, 32, 1), (None, 32, 32, 3), "grayscale (1 channel) but the "
                          "model takes RGB (3): repeat the channel, np.repeat(x, 3, axis=-1)"),
    "RGB for grayscale": ((8, 28, 28, 3), (None, 28, 28, 1), "RGB (3 channels) but the model "
                          "takes grayscale (1)"),
    "the wrong spatial size": (
        (8, 64, 64, 3), (None, 96, 96, 3), "spatial size is 64x64 but the model takes 96x96: "
        "resize the probe as your training data is resized, e.g. with "
        "keras.ops.image.resize(x, (96, 96))."),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_probe_mistake_gets_its_own_message(name):
    probe_shape, input_shape, says = MISTAKES[name]
    model = _input_model(input_shape)
    assert tuple(model.inputs[0].shape) == input_shape
    with pytest.raises(ValueError) as info:
        fit_probe_to_model(make_probe(np.zeros(probe_shape, np.float32)), model)
    message = str(info.value)
    assert message.startswith(f"The probe's input of shape {probe_shape} does not fit model "
                              f"'m''s input")  # fmt: skip
    assert says in message, message
    others = {other[2].split(":")[0] for key, other in MISTAKES.items() if key != name}
    assert not any(other in message for other in others if other not in says)


def test_an_integer_probe_is_cast_unscaled_and_the_train_begin_line_says_so(tmp_path, capsys):
    model = models.sequential()
    x, y = models.digit_data(16)
    images = (x * 255).astype(np.uint8)
    assert fit_probe_to_model(make_probe(x[:2]), model).notes == ()
    fitted = fit_probe_to_model(make_probe(images[:2]), model)
    assert fitted.x.dtype == np.float32 and fitted.x.max() > 1  # cast, not scaled
    (note,) = fitted.notes
    assert note.startswith("The probe is uint8; actlog casts it to float32 without scaling")
    logger = actlog.ActivationLogger(images[:2], log_dir=tmp_path, stats=False)
    model.fit(images, y, epochs=1, verbose=0, callbacks=[logger])
    assert note in capsys.readouterr().out
