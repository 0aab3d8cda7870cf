"""Diagnostics: dead and dormant filters, where they are measured, filter weights, overlays."""

import keras
import numpy as np
import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
import actlog.backend
from actlog.images import MARK_RGB, SEPARATOR_GRAY
from actlog.overlays import Geometry, upsample_map
from actlog.reader import decode_png, read_images, read_scalars
from actlog.sheet import contact_sheet
from actlog.stats import HISTOGRAM_SAMPLE, filter_sums, sample_rows, stats_from_sums
from tests import models

layers = keras.layers


def kill_filters(conv, indices, bias=-1.0):
    """Zero kernel and negative bias: relu(0 * x - 1) = 0 everywhere."""
    kernel, biases = conv.kernel.numpy(), conv.bias.numpy()
    kernel[..., indices] = 0.0
    biases[indices] = bias
    conv.kernel.assign(kernel)
    conv.bias.assign(biases)


def relu_model():
    model = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            layers.Conv2D(6, 3, activation="relu", name="conv"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    model.get_layer("conv").bias.assign(np.ones(6, np.float32))  # every filter on, to start
    return model


def test_dead_filters_made_on_purpose_are_reported_exactly():
    model = relu_model()
    kill_filters(model.get_layer("conv"), [1, 4])
    x = np.random.default_rng(0).random((8, 10, 10, 1), dtype=np.float32)
    stats = actlog.activation_stats(model, x)["conv"]
    assert stats["dead"] == [1, 4]
    assert stats["dead_fraction"] == pytest.approx(2 / 6)
    assert 1 in stats["dormant"] and 4 in stats["dormant"]
    assert stats["nan_count"] == 0 and stats["measured_at"] == "conv"
    assert 0 < stats["on_rate"] < 1 and stats["max"] > 0


def test_dormant_filter_is_not_dead():
    acts = np.ones((2, 4, 4, 3), np.float32)
    acts[..., 2] = 1e-3  # on everywhere, but 1000 times weaker than the others
    stats = actlog.layer_stats(acts, dormant_threshold=0.025)
    assert stats.dead == [] and stats.dormant == [2]
    assert actlog.layer_stats(acts, dormant_threshold=0.0).dormant == []


def test_nan_weights_are_counted_without_a_crash():
    # Measured at the linear conv: NaN survives a multiply-add on every CPU, but whether a ReLU
    # (fused into the conv by oneDNN or not) passes it on or returns 0 depends on the CPU.
    model = keras.Sequential([keras.Input((10, 10, 1)), layers.Conv2D(6, 3, name="conv"),
                              layers.ReLU(name="relu")])  # fmt: skip
    conv = model.get_layer("conv")
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    kernel[0, 0, 0, 3] = np.nan
    conv.kernel.assign(kernel)
    x = np.random.default_rng(0).random((2, 10, 10, 1), dtype=np.float32)
    stats = actlog.activation_stats(model, x, measure_at="layer")["conv"]
    assert stats["nan_count"] == 2 * 8 * 8
    assert np.isfinite(stats["mean"])
    # NaN never counts as on: a filter whose values are NaN, or 0 where a ReLU ate them, is dead.
    acts = np.ones((2, 8, 8, 6), np.float32)
    acts[..., 3] = np.nan
    acts[..., 4] = 0.0
    assert actlog.layer_stats(acts, floor=0.0).dead == [3, 4]


def linear_bn_relu(functional):
    parts = [
        layers.Conv2D(4, 3, activation=None, name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(name="relu"),
        layers.Flatten(name="flat"),
        layers.Dense(2, name="head"),
    ]
    if not functional:
        return keras.Sequential([keras.Input((8, 8, 1)), *parts], name="seq")
    x_in = keras.Input((8, 8, 1))
    h = x_in
    for layer in parts:
        h = layer(h)
    return keras.Model(x_in, h, name="func")


@pytest.mark.parametrize("functional", [False, True])
def test_linear_conv_is_measured_after_batchnorm_and_relu(functional):
    model = linear_bn_relu(functional)
    conv = model.get_layer("conv")
    conv.kernel.assign(np.abs(conv.kernel.numpy()))  # positive inputs: every conv output > 0
    bn = model.get_layer("bn")
    beta = np.full(4, 10.0, np.float32)
    beta[2] = -100.0  # after BN, filter 2 is far below 0: ReLU kills it
    bn.beta.assign(beta)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    after = actlog.activation_stats(model, x)["conv"]
    assert after["measured_at"] == "relu" and after["dead"] == [2]
    raw = actlog.activation_stats(model, x, measure_at="layer")["conv"]
    assert raw["measured_at"] == "conv" and 2 not in raw["dead"]


def test_callback_reports_dead_filters_in_scalars_grids_tables_and_a_warning(tmp_path):
    model = relu_model()
    kill_filters(model.get_layer("conv"), [1, 4])
    x = np.random.default_rng(0).random((16, 10, 10, 1), dtype=np.float32)
    y = np.zeros(16, int)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, min_tile_size=8, sample_images=True)
    with pytest.warns(RuntimeWarning, match=r"dead filters.*conv \(2/6 = 33%\)"):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    scalars = read_scalars(tmp_path)
    assert scalars["dead_filters/conv"] == {-1: pytest.approx(2 / 6), 0: pytest.approx(2 / 6),
                                            1: pytest.approx(2 / 6)}  # fmt: skip
    assert set(scalars) >= {"on_rate/conv", "mean_activation/conv"}
    grid = decode_png(read_images(tmp_path)["activations/conv"][1][0])
    # 6 tiles of 8x8 in 3 columns: tile i starts at row (i // 3) * 9, column (i % 3) * 9.
    for index in range(6):
        corner = tuple(grid[(index // 3) * 9, (index % 3) * 9])
        assert (corner == MARK_RGB) == (index in (1, 4))
    assert tuple(grid[8, 0]) == (SEPARATOR_GRAY,) * 3
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert "activation_hist/conv" in accumulator.PluginTagToContent("histograms")
    table = accumulator.Tensors("dead_filter_list/conv")[-1].tensor_proto.string_val[0].decode()
    assert "1 | -1" in table and "4 | -1" in table  # dead since before training


def test_known_kernel_gives_known_weight_tiles():
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[1, 1, 0, 0] = 2.0
    kernel[0, 0, 0, 1] = -2.0
    image = actlog.kernel_images(kernel, min_tile_size=3)[0, ..., 0]
    assert image.shape == (3, 7)
    np.testing.assert_array_equal(image[:, :3], [[128, 128, 128], [128, 255, 128],
                                                 [128, 128, 128]])  # fmt: skip
    assert image[0, 4] == 0 and image[1, 5] == 128
    assert (image[:, 3] == SEPARATOR_GRAY).all()


def test_rgb_first_layer_kernels_are_colour_tiles():
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, :, 0] = [1.0, 0.0, -1.0]
    image = actlog.kernel_images(kernel, min_tile_size=1)
    assert image.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(image[0, 0, 0], [255, 128, 0])
    np.testing.assert_array_equal(image[0, 0, 2], [128, 128, 128])


def test_callback_logs_weights(tmp_path):
    model = models.transfer_sequential()
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    name = model.layers[1].name
    logger = actlog.ActivationLogger(
        x[:1], layers=[f"{name}/Conv1", f"{name}/expanded_conv_depthwise"], log_dir=tmp_path,
        weights=True, stats=False, log_initial=False,
    )  # fmt: skip
    model.fit(x, np.zeros(4, int), epochs=1, verbose=0, callbacks=[logger])
    images = read_images(tmp_path)
    rgb = decode_png(images[f"weights/{name}/Conv1"][0][0])
    assert rgb.ndim == 3 and rgb.shape[-1] == 3  # 3 input channels: colour tiles
    assert f"weights/{name}/expanded_conv_depthwise" in images


def single_conv(strides, padding, size=21):
    x_in = keras.Input((size, size, 1))
    conv = layers.Conv2D(1, 3, strides=strides, padding=padding, use_bias=False, name="conv")
    model = keras.Model(x_in, conv(x_in))
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[1, 1, 0, 0] = 1.0  # the map copies the input pixel at the kernel's centre
    conv.kernel.assign(kernel)
    return model


@pytest.mark.parametrize(
    ("strides", "padding", "pixel"),
    [(2, "valid", (9, 13)), (2, "same", (10, 12)), (1, "valid", (5, 17)), (1, "same", (0, 20))],
)
def test_overlay_peak_is_at_the_input_pixel_that_caused_it(strides, padding, pixel):
    model = single_conv(strides, padding)
    x = np.zeros((1, 21, 21, 1), np.float32)
    x[0, pixel[0], pixel[1], 0] = 1.0
    ref = actlog.select_layers(model, "conv")[0]
    geometry = actlog.layer_geometry(model, ref, (21, 21))
    maps = actlog.extract(model, x)["conv"]
    heat = upsample_map(maps[0, :, :, 0], (21, 21), geometry)
    assert np.unravel_index(np.argmax(heat), heat.shape) == pixel


def test_geometry_composes_conv_and_pooling():
    model = models.sequential()  # conv 3x3 valid, maxpool 2, conv 3x3 valid
    refs = actlog.select_layers(model, "conv")
    assert actlog.layer_geometry(model, refs[0], (12, 12)) == Geometry((1, 1), (1.0, 1.0))
    # pool: stride 2, centre +0.5; conv_b: centre +1 cell = +2 input pixels.
    assert actlog.layer_geometry(model, refs[1], (12, 12)) == Geometry((2, 2), (3.5, 3.5))


def test_overlay_images_choose_the_most_active_filters():
    inputs = np.zeros((1, 6, 6, 1), np.float32)
    acts = np.zeros((1, 3, 3, 4), np.float32)
    acts[0, 0, 0, 2] = 5.0
    acts[0, 2, 2, 1] = 1.0
    images, chosen = actlog.overlay_images(inputs, acts, 2, Geometry((2, 2), (0.5, 0.5)),
                                           min_tile_size=1)  # fmt: skip
    assert chosen.tolist() == [[2, 1]]
    assert images.shape == (1, 96, 2 * 96 + 1, 3)  # 6x6 inputs drawn 16 times larger
    first = images[0, :, :96].astype(int).sum(axis=-1)
    row, col = np.unravel_index(np.argmax(first), first.shape)
    assert row < 32 and col < 32  # the hot cell (0, 0) covers input pixels 0-1


def test_callback_logs_overlays(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    for sample_images in (True, False):
        log_dir = tmp_path / str(sample_images)
        logger = actlog.ActivationLogger((x[:2], y[:2]), log_dir=log_dir, overlays=3,
                                         log_initial=False, sample_images=sample_images)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
        pngs = read_images(log_dir)["overlays/conv_b"][0]
        row = (96, 3 * 96 + 2, 3)  # 3 tiles of the 12x12 input, upscaled x8, per sample
        if sample_images:
            assert [decode_png(png).shape for png in pngs] == [row, row]
        else:  # one image: the two samples side by side, each under its caption
            (png,) = pngs
            sheet = contact_sheet(np.zeros((2, *row), np.uint8), ["caption"] * 2)[0]
            assert decode_png(png).shape == sheet.shape


def test_overlays_need_an_image_input(tmp_path):
    model = models.conv1d()
    x = np.zeros((4, 20, 2), np.float32)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, overlays=2)
    with pytest.raises(ValueError, match="overlays need an image input"):
        model.fit(x, np.zeros(4, int), epochs=1, verbose=0, callbacks=[logger])


@pytest.mark.parametrize("with_nan", [False, True])
def test_statistics_reduced_in_the_compiled_capture_match_numpy(with_nan):
    a = np.random.default_rng(1).normal(size=(4, 16, 16, 8)).astype(np.float32)
    a[..., 3] = -1.0  # dead behind a ReLU floor
    if with_nan:
        a[0, 0, 0, 5] = np.nan
        a[1, 2, 3, 6] = np.inf
    compiled = actlog.backend.compile_function(lambda t: filter_sums(t, keras.ops))
    sums = {key: actlog.backend.to_host(value) for key, value in compiled(a).items()}
    fast = stats_from_sums(sums, 0.025, 0.0)
    exact = actlog.layer_stats(a, 0.025, 0.0)
    assert fast.dead == exact.dead == [3]
    assert fast.dormant == exact.dormant
    assert fast.nan_count == exact.nan_count == (2 if with_nan else 0)
    assert fast.mean == pytest.approx(exact.mean, rel=1e-5)
    assert fast.max == pytest.approx(exact.max)
    assert fast.on_rate == pytest.approx(exact.on_rate)
    # the histogram sample holds values of every filter, not a stride that aliases with them
    sample = np.asarray(sums["sample"])
    assert sample.shape[1] == 8 and len(sample) >= 256


@pytest.mark.parametrize("where", ["numpy", "compiled"])
def test_the_sample_spreads_over_every_channel_sample_row_and_column(where):
    """8x112x112x64 maps, as a real backbone's first stage gives: the old even stride (392
    positions, 3.5 rows) sampled 2 of 112 columns. Channel c holds c, plus 1000 in odd columns
    for channel 0, which is on in exactly half of the positions."""
    n, size, filters = 8, 112, 64
    columns = np.arange(size)[None, None, :, None]
    a = np.broadcast_to(np.arange(filters, dtype=np.float32), (n, size, size, filters)).copy()
    a[..., 0] = np.where(columns[..., 0] % 2 == 1, 1000.0, -1.0)
    if where == "numpy":
        sums = filter_sums(a)
    else:
        compiled = actlog.backend.compile_function(lambda t: filter_sums(t, keras.ops))
        sums = {key: actlog.backend.to_host(value) for key, value in compiled(a).items()}
    sample = np.asarray(sums["sample"])
    assert sample.shape == (HISTOGRAM_SAMPLE // filters, filters)
    np.testing.assert_array_equal(sample[:, 1:], np.broadcast_to(np.arange(1, filters), (256, 63)))
    rows = sample_rows((n, size, size), HISTOGRAM_SAMPLE // filters)
    sample_of, row_of, column_of = np.unravel_index(rows, (n, size, size))
    assert len(set(sample_of)) == n
    assert len(set(row_of)) > 80 and len(set(column_of)) > 80
    np.testing.assert_array_equal(sample[:, 0] > 0, column_of % 2 == 1)
    assert 0.4 < np.mean(sample[:, 0] > 0) < 0.6  # the old stride read 0: columns 0 and 56
    assert stats_from_sums(sums, 0.025, None).on_rate == pytest.approx(63.5 / 64, abs=0.1 / 64)
