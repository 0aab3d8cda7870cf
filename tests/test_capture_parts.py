"""A probe whose activations are large runs through the capture in parts (issue 19): every
number the producers get is the one the whole probe in one call gives."""

import keras
import numpy as np
import pytest

import actlog
from actlog.capture import Capture, activation_bytes, part_size
from actlog.cka import conv_features
from actlog.producers import Needs
from actlog.stats import filter_sums, join_sums, sample_rows
from tests import models

layers = keras.layers


def volume_model():
    """Two Conv3D blocks with a BatchNormalization, as keras-io's 3D classifier."""
    inputs = keras.Input((6, 10, 10, 1))
    x = layers.Conv3D(4, 3, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv3D(6, 3, activation="relu", name="c2")(x)
    outputs = layers.Dense(2)(layers.GlobalAveragePooling3D()(x))
    return keras.Model(inputs, outputs)


def two_input_model():
    image, extra = keras.Input((12, 12, 2), name="image"), keras.Input((3,), name="extra")
    x = layers.Conv2D(5, 3, activation="relu", name="conv")(image)
    x = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), extra])
    return keras.Model({"image": image, "extra": extra}, layers.Dense(2)(x))


def needs(model, paths, full=False):
    refs = tuple(actlog.select_layers(model, paths))
    return [Needs(maps=refs, full_maps=full, sums=refs, features=refs, kernels=refs)]


def assert_same(parts, whole):
    assert parts.maps.keys() == whole.maps.keys() and parts.sums.keys() == whole.sums.keys()
    for path in whole.maps:
        np.testing.assert_allclose(parts.maps[path], whole.maps[path], rtol=1e-5, atol=1e-6)
    for path, sums in whole.sums.items():
        for key, value in sums.items():
            assert parts.sums[path][key].shape == value.shape, (path, key)
            np.testing.assert_allclose(parts.sums[path][key], value, rtol=1e-4, atol=1e-4)
    for path, features in whole.features.items():
        np.testing.assert_allclose(parts.features[path], features, rtol=1e-5, atol=1e-6)
    for path, kernel in whole.kernels.items():
        np.testing.assert_array_equal(parts.kernels[path], kernel)


@pytest.mark.parametrize("full", [False, True])
def test_a_probe_in_parts_gives_the_numbers_of_the_whole(full):
    model = volume_model()
    x = np.random.default_rng(0).normal(size=(8, 6, 10, 10, 1)).astype(np.float32)
    whole = Capture(model, needs(model, ["c1", "relu1", "c2"], full), samples=3, filters=4)
    parts = Capture(model, needs(model, ["c1", "relu1", "c2"], full), samples=3, filters=4,
                    part_bytes=1)  # fmt: skip
    assert (
        part_size(8, whole.bytes_per_sample) == 8 and part_size(8, parts.bytes_per_sample, 1) == 1
    )
    captured, reference = parts(x), whole(x)
    assert_same(captured, reference)
    assert captured.maps["c1"].shape == ((8, 10, 10, 4) if full else (3, 10, 10, 4))
    # ...and those are the numbers of the full maps, worked out on the host
    maps = actlog.extract(model, x, layers=["c1", "relu1", "c2"])
    for path, full_maps in maps.items():
        expected = filter_sums(full_maps)
        np.testing.assert_allclose(captured.sums[path]["max"], expected["max"], rtol=1e-5)
        np.testing.assert_allclose(
            captured.sums[path]["sum"], expected["sum"], rtol=1e-3, atol=1e-3
        )
        np.testing.assert_allclose(
            captured.sums[path]["sample"], expected["sample"], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(captured.features[path], conv_features(full_maps), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip


def test_parts_of_a_multi_input_probe_and_its_batch_statistics_check():
    model = two_input_model()
    rng = np.random.default_rng(1)
    x = {"image": rng.normal(size=(6, 12, 12, 2)).astype(np.float32),
         "extra": rng.normal(size=(6, 3)).astype(np.float32)}  # fmt: skip
    assert_same(Capture(model, needs(model, ["conv"]), part_bytes=1)(x),
                Capture(model, needs(model, ["conv"]))(x))  # fmt: skip

    volume = volume_model()
    refs = tuple(actlog.select_layers(volume, ["relu1"]))
    volume.get_layer("bn1").moving_mean.assign(np.full(4, 1e3, np.float32))  # every filter off
    checks = [Needs(sums=refs, batch_norm_checks=refs)]
    probe = np.random.default_rng(2).normal(size=(4, 6, 10, 10, 1)).astype(np.float32)
    in_parts = Capture(volume, checks, part_bytes=1)(probe).batch_stat_max["relu1"]
    per_sample = [
        Capture(volume, checks)(probe[i : i + 1]).batch_stat_max["relu1"] for i in range(4)
    ]
    np.testing.assert_allclose(in_parts, np.max(per_sample, axis=0), rtol=1e-5)
    assert (in_parts > 0).all()  # with batch statistics the filters are on


def test_rows_of_parts_stack_to_the_rows_of_the_whole():
    dims = (8, 28, 28)
    whole = sample_rows(dims, 256)
    assert len(whole) == 256 and len(np.unique(whole % (28 * 28))) > 100  # places differ by sample
    for size in (1, 2, 4):
        parts = [np.asarray(sample_rows((size, 28, 28), 256, 8, np.int32(start))) + start * 28 * 28
                 for start in range(0, 8, size)]  # fmt: skip
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    a = np.random.default_rng(3).normal(size=(8, 28, 28, 4)).astype(np.float32)
    joined = join_sums([filter_sums(a[i : i + 2], samples=8, start=i) for i in range(0, 8, 2)])
    for key, value in filter_sums(a).items():
        np.testing.assert_allclose(joined[key], value, rtol=1e-5, atol=1e-4)


def test_the_part_size_follows_the_activations_of_the_model():
    big = keras.Sequential([keras.Input((32, 64, 64, 1)), layers.Conv3D(64, 3, padding="same"),
                            layers.GlobalAveragePooling3D()])  # fmt: skip
    refs = actlog.select_layers(big, "conv")
    per_sample = activation_bytes(big, refs)
    assert per_sample == 2 * 32 * 64 * 64 * 64 * 4  # the largest output, and the read one
    assert part_size(8, per_sample) == 4  # 64 MiB per sample: 2 calls of 4 within 256 MiB
    budget = 64 << 20  # 3 samples of 20 MB fit: the largest divisor of the probe size that fits
    assert part_size(8, 20 << 20, budget) == 2 and part_size(6, 20 << 20, budget) == 3
    assert part_size(7, 20 << 20, budget) == 1 and part_size(8, 1 << 20, budget) == 8
    subclassed = models.subclassed()  # no graph: its probe runs whole
    assert activation_bytes(subclassed, actlog.select_layers(subclassed, "conv")) == 0
