"""Activation maximization: higher activation, deterministic, compiled once, in the callback."""

import keras
import numpy as np
import pytest

import actlog
from actlog.maximize import FilterMaximizer
from actlog.reader import decode_png, read_images
from tests import models


def switched_on(model):
    """Positive kernels and biases, so every filter responds to the grey start image."""
    for name in ("conv_a", "conv_b"):
        conv = model.get_layer(name)
        conv.kernel.assign(np.abs(models.host(conv.kernel)))
        conv.bias.assign(np.full(conv.bias.shape, 0.1, np.float32))
    return model


def test_ascent_raises_each_filters_activation_and_is_deterministic():
    model = switched_on(models.sequential())
    maximizer = FilterMaximizer(model, "conv_b", filters=[0, 2, 5], steps=20)
    first, again = maximizer(seed=3), maximizer(seed=3)
    assert first.images.shape == (3, 12, 12, 1) and first.filters == [0, 2, 5]
    assert (first.end > 3 * first.start).all() and first.inactive == []
    np.testing.assert_array_equal(first.images, again.images)
    assert maximizer.trace_count == models.traces(2 * 20)  # on PyTorch one per ascent step
    assert not np.array_equal(maximizer(seed=4).images, first.images)
    assert first.images.min() >= 0.0 and first.images.max() <= 1.0


def test_the_ascent_follows_training_without_retracing():
    model = switched_on(models.sequential())
    maximizer = FilterMaximizer(model, "conv_a", steps=5)
    before = maximizer(seed=0).images
    # An update as the optimizer makes it (a step of fit may be 0 when the softmax saturates).
    kernel = model.get_layer("conv_a").kernel
    kernel.assign(models.host(kernel) + np.random.default_rng(1).uniform(0, 0.2, kernel.shape))
    assert not np.array_equal(maximizer(seed=0).images, before)
    assert maximizer.trace_count == models.traces(2 * 5)


def test_filters_that_stay_off_are_reported_and_grey():
    model = switched_on(models.sequential())
    conv = model.get_layer("conv_a")
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
    kernel[..., 1], bias[1] = 0.0, -1.0
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    result = FilterMaximizer(model, "conv_a", steps=5)(seed=0)
    assert result.inactive == [1] and result.off_at_start == [1] and result.end[1] <= 0
    with pytest.warns(RuntimeWarning, match=r"filters \[1\] of 'conv_a' never turned on"):
        images = actlog.maximize(model, "conv_a", steps=5)
    assert (images[1] == 0.5).all() and images[0].std() > 0


CENTRE_SURROUND = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32)


def edge_filter(conv, index=0, kernel=CENTRE_SURROUND, bias=-2.5):
    """Filter ``index`` of ``conv`` as a centre-surround detector with a negative bias: its
    kernel sums to 0, so any flat image (grey, even with the start image's +-1/8 noise: at most
    16 * 1/8 = 2) gives a pre-activation of at most -0.5, while a bright stroke gives +3.5."""
    weights, biases = np.array(conv.kernel.numpy()), np.array(conv.bias.numpy())
    weights[..., 0, index], biases[index] = kernel, bias
    conv.kernel.assign(weights)
    conv.bias.assign(biases)


def stroke(size=12):
    """A real input: a thin vertical bright stroke on black, like a digit 1."""
    image = np.zeros((1, size, size, 1), np.float32)
    image[0, 2:10, size // 2, 0] = 1.0
    return image


def fused_relu():
    """A Conv2D(activation="relu"): no pre-activation tensor in the model."""
    model = models.sequential()
    edge_filter(model.get_layer("conv_a"))
    return model, "conv_a", "conv_a"


def conv_then_relu_layer():
    """A linear Conv2D followed by a ReLU layer: the pre-activation is the ReLU's input."""
    x_in = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(4, 3, name="conv_lin")(x_in)
    h = keras.layers.ReLU(name="relu")(h)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h))
    model = keras.Model(x_in, out, name="conv_relu")
    edge_filter(model.get_layer("conv_lin"))
    return model, "relu", "conv_lin"


@pytest.mark.parametrize("build", [fused_relu, conv_then_relu_layer])
def test_a_filter_off_at_grey_but_on_for_real_inputs_is_ascended_on_its_preactivation(build):
    model, layer, conv_name = build()
    conv = model.get_layer(conv_name)
    weights_before = [np.array(w.numpy()) for w in model.weights]
    # (a) a real input turns the filter on; (b) the grey start image does not.
    assert actlog.extract(model, stroke(), [layer])[layer][..., 0].max() > 0
    grey = np.full((1, 12, 12, 1), 0.5, np.float32)
    assert (actlog.extract(model, grey, [layer])[layer][..., 0] == 0).all()
    maximizer = FilterMaximizer(model, layer, filters=[0, 1], steps=10)
    result = maximizer(seed=0)
    assert maximizer.has_preactivation
    assert result.start[0] == 0 and 0 in result.off_at_start  # off at the real start image too
    # (c) the ascent turned it on: not inactive, activation up, a real (not flat) image.
    assert 0 not in result.inactive and result.end[0] > 0
    assert result.images[0].std() > 0.05 and not (result.images[0] == 0.5).all()
    # The user's model is untouched: same weights, same layers, the conv's activation kept.
    assert [w.shape for w in model.weights] == [w.shape for w in weights_before]
    for variable, before in zip(model.weights, weights_before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), before)
    assert conv.activation is (keras.activations.relu if layer == conv_name else
                               keras.activations.linear)  # fmt: skip


def test_the_preactivation_follows_the_weights_without_retracing():
    model = models.sequential()
    conv = model.get_layer("conv_a")
    edge_filter(conv, kernel=np.zeros((3, 3), np.float32))  # can never turn on
    maximizer = FilterMaximizer(model, "conv_a", filters=[0], steps=10)
    assert maximizer(seed=0).inactive == [0]
    edge_filter(conv)  # now it turns on for strokes, still not at grey
    result = maximizer(seed=0)
    assert result.inactive == [] and result.off_at_start == [0] and result.end[0] > 0
    assert maximizer.trace_count == models.traces(2 * 10)


def test_a_linear_layer_has_no_separate_preactivation():
    model, _, _ = conv_then_relu_layer()
    maximizer = FilterMaximizer(model, "conv_lin", filters=[0], steps=3)
    result = maximizer(seed=0)
    assert not maximizer.has_preactivation and result.off_at_start == []
    assert result.end[0] > result.start[0]  # a linear output always has a gradient


def test_layer_inside_a_nested_backbone():
    model = models.transfer_sequential()
    path = f"{model.layers[1].name}/block_1_expand"
    images = actlog.maximize(model, path, filters=range(3), steps=3)
    assert images.shape == (3, 32, 32, 3)


def test_needs_one_fixed_size_image_input():
    with pytest.raises(ValueError, match="one input of fixed size"):
        FilterMaximizer(models.functional_two_inputs(), "conv_a")
    with pytest.raises(ValueError, match="filters 0-3"):
        FilterMaximizer(models.sequential(), "conv_a", filters=[7])


def test_callback_logs_maximized_grids_at_the_activation_steps(tmp_path):
    model = switched_on(models.sequential())
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        x[:2], log_dir=tmp_path, maximize_every_n_epochs=2, maximize_steps=5, stats=False
    )
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[logger])
    images = read_images(tmp_path)
    assert sorted(images["maximized/conv_b"]) == [-1, 1, 3]
    assert sorted(images["activations/conv_b"]) == [-1, 0, 1, 2, 3]
    grid = decode_png(images["maximized/conv_b"][3][0])
    assert grid.shape[:2] == (2 * 24 + 1, 3 * 24 + 2)  # 6 filters, 12x12 inputs upscaled x2
