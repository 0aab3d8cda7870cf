"""Activation maximization: higher activation, deterministic, compiled once, in the callback."""

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
    with pytest.warns(RuntimeWarning, match=r"filters \[1\] of 'conv_a' stayed off"):
        images = actlog.maximize(model, "conv_a", steps=5)
    assert (images[1] == 0.5).all() and images[0].std() > 0


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
