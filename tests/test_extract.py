"""The feature extractor on every model kind, checked against values computed another way."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import actlog
from actlog.extract import FeatureExtractor, FeatureMapError
from actlog.layers import select_layers
from tests import models

ATOL = 1e-5


def run_layers(layer_list, x):
    for layer in layer_list:
        x = layer(x)
    return keras.ops.convert_to_numpy(x)


def test_sequential_maps_match_layer_by_layer_computation():
    model = models.sequential()
    x, _ = models.digit_data(5)
    maps = actlog.extract(model, x)
    assert list(maps) == ["conv_a", "conv_b"]
    np.testing.assert_allclose(maps["conv_a"], run_layers(model.layers[:1], x), atol=ATOL)
    np.testing.assert_allclose(maps["conv_b"], run_layers(model.layers[:3], x), atol=ATOL)
    assert maps["conv_b"].shape == (5, 3, 3, 6)


def test_sequential_without_input_after_fit_accepts_other_batch_sizes():
    model = models.sequential(with_input=False)
    x, y = models.digit_data(16)
    with pytest.raises(ValueError, match="not built"):
        actlog.extract(model, x)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    maps = actlog.extract(model, x[:3])
    np.testing.assert_allclose(maps["conv_b"], run_layers(model.layers[:3], x[:3]), atol=ATOL)


def test_functional_two_inputs_list_and_dict():
    model = models.functional_two_inputs()
    x, _ = models.digit_data(4)
    extra = np.ones((4, 3), np.float32)
    by_list = actlog.extract(model, [x, extra])
    by_dict = actlog.extract(model, {"image": x, "extra": extra})
    conv_a, conv_b = model.get_layer("conv_a"), model.get_layer("conv_b")
    expected_b = keras.ops.convert_to_numpy(conv_b(conv_a(x)))
    np.testing.assert_allclose(by_list["conv_b"], expected_b, atol=ATOL)
    np.testing.assert_allclose(by_dict["conv_b"], expected_b, atol=ATOL)


def test_backbone_inside_sequential_every_conv_layer():
    model = models.transfer_sequential()
    backbone = model.layers[1]
    x = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    maps = actlog.extract(model, x)
    conv_paths = [r.path for r in select_layers(model, "conv")]
    assert list(maps) == conv_paths and len(conv_paths) == 52
    assert all(p.startswith(backbone.name + "/") for p in conv_paths)
    rescaled = model.layers[0](x)
    for name in ["Conv1", "block_3_depthwise", "Conv_1"]:
        reference = keras.Model(backbone.inputs[0], backbone.get_layer(name).output)
        np.testing.assert_allclose(
            maps[f"{backbone.name}/{name}"],
            keras.ops.convert_to_numpy(reference(rescaled)),
            atol=1e-4,
        )


def test_backbone_inside_functional_with_glob():
    backbone = models.mobilenet_backbone()
    inputs = keras.Input((32, 32, 3))
    h = backbone(keras.layers.Rescaling(1 / 255.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32) * 255
    maps = actlog.extract(model, x, layers=[f"{backbone.name}/block_*_expand_relu"])
    assert len(maps) == 16  # block_1 ... block_16
    name = "block_5_expand_relu"
    reference = keras.Model(backbone.inputs[0], backbone.get_layer(name).output)
    np.testing.assert_allclose(
        maps[f"{backbone.name}/{name}"],
        keras.ops.convert_to_numpy(reference(x / 255.0)),
        atol=1e-4,
    )


def test_two_levels_of_nesting():
    model = models.two_level_nested()
    x, _ = models.digit_data(3)
    maps = actlog.extract(model, x, layers="conv")
    assert list(maps) == ["stem", "middle/block/inner_conv", "middle/mid_conv"]
    middle = model.get_layer("middle")
    block = middle.layers[0]
    stem_out = model.get_layer("stem")(x)
    inner = block.get_layer("inner_conv")(stem_out)
    np.testing.assert_allclose(maps["middle/block/inner_conv"], models.host(inner), atol=ATOL)
    mid = models.host(middle.layers[1](inner))
    np.testing.assert_allclose(maps["middle/mid_conv"], mid, atol=ATOL)


def test_subclassed_model_records_calls_and_leaves_model_untouched():
    model = models.subclassed()
    x, _ = models.digit_data(4)
    model(x[:1])
    before = model.predict_on_batch(x)
    extractor = FeatureExtractor(model, select_layers(model, "conv"))
    maps = extractor(x)
    assert extractor.method == "recorder"
    expected = models.host(model.conv_b(model.conv_a(x)))
    np.testing.assert_allclose(maps["conv_b"], expected, atol=ATOL)
    assert all("call" not in vars(layer) for layer in model.layers)
    np.testing.assert_allclose(model.predict_on_batch(x), before, atol=ATOL)


def test_layer_inside_a_subclassed_nested_model_falls_back_to_recording():
    inner = models.Subclassed(name="inner_sub")
    x_in = keras.Input((12, 12, 1))
    model = keras.Model(x_in, inner(x_in), name="wrapper")
    x, _ = models.digit_data(2)
    extractor = FeatureExtractor(model, select_layers(model, ["inner_sub/conv_a"]))
    maps = extractor(x)
    assert extractor.method == "recorder"
    np.testing.assert_allclose(maps["inner_sub/conv_a"], models.host(inner.conv_a(x)), atol=ATOL)


def test_compiled_once_and_follows_weight_updates():
    model = models.sequential()
    x, y = models.digit_data(8)
    extractor = FeatureExtractor(model, select_layers(model, "conv"))
    first = extractor(x)["conv_a"]
    model.fit(x, y, epochs=2, verbose=0)
    second = extractor(x)["conv_a"]
    extractor(x)
    assert extractor.trace_count == models.traces(3)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, run_layers(model.layers[:1], x), atol=ATOL)


def test_channels_first_layer_is_returned_channels_last():
    # TensorFlow's CPU kernels run no channels_first convolution; padding is the same case.
    inputs = keras.Input((3, 8, 8))
    out = keras.layers.ZeroPadding2D(1, data_format="channels_first", name="cf")(inputs)
    model = keras.Model(inputs, out)
    x = np.random.default_rng(3).random((2, 3, 8, 8), dtype=np.float32)
    maps = actlog.extract(model, x, layers="cf")
    expected = np.moveaxis(keras.ops.convert_to_numpy(model(x)), 1, -1)
    assert maps["cf"].shape == (2, 10, 10, 3)
    np.testing.assert_allclose(maps["cf"], expected, atol=ATOL)


def test_non_conv_feature_map_layers_can_be_named():
    model = models.sequential()
    x, _ = models.digit_data(2)
    maps = actlog.extract(model, x, layers=["pool", keras.layers.Conv2D])
    assert list(maps) == ["conv_a", "pool", "conv_b"]
    assert maps["pool"].shape == (2, 5, 5, 4)


def test_a_layer_that_is_not_a_feature_map_is_rejected():
    model = models.sequential()
    with pytest.raises(FeatureMapError, match=r"'head' \(Dense\) outputs shape \(None, 3\)"):
        FeatureExtractor(model, select_layers(model, ["head"]))
    sub = models.subclassed()
    x, _ = models.digit_data(2)
    sub(x)
    with pytest.raises(FeatureMapError, match="not a feature map"):
        FeatureExtractor(sub, select_layers(sub, ["flat"]))(x)


def test_conv1d_and_conv3d_maps():
    x1 = np.random.default_rng(4).random((2, 20, 2), dtype=np.float32)
    assert actlog.extract(models.conv1d(), x1)["c1"].shape == (2, 18, 3)
    x3 = np.random.default_rng(5).random((2, 4, 6, 6, 1), dtype=np.float32)
    assert actlog.extract(models.conv3d(), x3)["c3"].shape == (2, 2, 4, 4, 2)
