"""ActivationLogger end to end: real tiny models trained with fit, event files read back with
TensorBoard's own loader."""

import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import actlog
from actlog.images import NONFINITE_RGB, render_grids
from actlog.reader import (
    decode_png,
    read_descriptions,
    read_image_events,
    read_images,
    read_scalars,
)
from actlog.runs import event_run_dirs
from actlog.sheet import contact_sheet, label_strip_height
from tests import models


def fit(model, x, y, callbacks, epochs=2, **kwargs):
    kwargs.setdefault("batch_size", 8)
    return model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs)


def test_grids_for_every_conv_layer_at_every_epoch(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(32)
    probe_x, probe_y = x[:3], y[:3]
    logger = actlog.ActivationLogger(
        probe=(probe_x, probe_y), log_dir=tmp_path / "actlog", sample_images=True
    )
    fit(model, x, y, [logger], epochs=3, validation_data=(x[:8], y[:8]))

    images = read_images(tmp_path / "actlog")
    assert sorted(images) == ["activations/conv_a", "activations/conv_b",
                              "filter_health/conv_a", "filter_health/conv_b"]  # fmt: skip
    for tag, steps in images.items():
        assert sorted(steps) == [actlog.INITIAL_STEP, 0, 1, 2]
        shown = 3 if tag.startswith("activations/") else 1  # a timeline: one image per layer
        assert all(len(pngs) == shown for pngs in steps.values())
    # conv_a: 4 maps of 10x10 upscaled x2 in a 2x2 grid; conv_b: 6 maps of 3x3 x6 in 3x2.
    assert decode_png(images["activations/conv_a"][0][0]).shape[:2] == (41, 41)
    assert decode_png(images["activations/conv_b"][0][0]).shape[:2] == (37, 56)
    # The last logged images are exactly the trained model's maps, rendered, dead filters framed.
    final = actlog.extract(model, probe_x)
    for path in ("conv_a", "conv_b"):
        dead = actlog.layer_stats(final[path]).dead
        expected = render_grids(final[path], marked=dead)[0].images
        for sample, png in enumerate(images[f"activations/{path}"][2]):
            pixels = decode_png(png)
            np.testing.assert_array_equal(pixels.reshape(expected[sample].shape), expected[sample])
    description = read_descriptions(tmp_path / "actlog")["activations/conv_a"]
    assert f"probe 1: label {probe_y[1]}" in description
    assert "filters 0-3 of 4" in description
    assert logger.extractor.trace_count == models.traces(4)  # one capture per logged step


def test_by_default_one_image_per_layer_with_the_samples_side_by_side(tmp_path, capsys):
    model = models.sequential()
    x, y = models.digit_data(32)
    probe_x, probe_y = x[:3], y[:3]
    logger = actlog.ActivationLogger(probe=(probe_x, probe_y), log_dir=tmp_path)
    fit(model, x, y, [logger], epochs=2)
    line = capsys.readouterr().out
    assert "actlog: logging 2 of 2 conv layers (every conv layer: conv_a, conv_b)" in line
    assert "At most 5 MB per event (4 images" in line and "500 MB per 100 epochs" in line
    assert 'the "actlog" tab, or Images with "Show actual image size"' in line
    images = read_images(tmp_path)
    final = actlog.extract(model, probe_x)
    captions = [f"probe {i}: label {label}" for i, label in enumerate(probe_y)]
    for path in ("conv_a", "conv_b"):
        (png,) = images[f"activations/{path}"][1]  # one image: one TensorBoard card
        grids = render_grids(final[path], marked=actlog.layer_stats(final[path]).dead)[0]
        expected = contact_sheet(grids.images, captions)[0]
        pixels = decode_png(png)
        np.testing.assert_array_equal(pixels.reshape(expected.shape), expected)
    # the captions are drawn above each sample: a strip of black with white text
    strip = label_strip_height()
    assert pixels[:strip].max() > 200 and pixels[:strip].min() == 0


def test_every_n_epochs_and_no_initial_image(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        x[:2], log_dir=tmp_path, every_n_epochs=2, log_initial=False, layers="conv_a"
    )
    fit(model, x, y, [logger], epochs=5)
    assert sorted(read_images(tmp_path)["activations/conv_a"]) == [1, 3]


def test_training_is_unchanged_by_the_logger(tmp_path):
    x, y = models.digit_data(32)
    probe = x[:4].copy()
    probe_before = probe.copy()

    def train(callbacks):
        keras.utils.set_random_seed(7)
        model = models.sequential()
        config = model.get_config()
        optimizer, loss = model.optimizer, model.loss
        history = fit(model, x, y, callbacks, epochs=2, shuffle=False)
        assert model.get_config() == config
        assert model.optimizer is optimizer and model.loss == loss
        assert [layer.name for layer in model.layers] == [
            "conv_a", "pool", "conv_b", "flat", "head"
        ]  # fmt: skip
        return model.get_weights(), history.history["loss"]

    with_logger = train([actlog.ActivationLogger(probe, log_dir=tmp_path)])
    without = train([])
    for a, b in zip(with_logger[0], without[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert with_logger[1] == without[1]
    np.testing.assert_array_equal(probe, probe_before)


def test_runs_beside_keras_tensorboard_callback(tf, tmp_path):  # Keras's callback needs TF
    model = models.sequential()
    x, y = models.digit_data(16)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tmp_path)),
        actlog.ActivationLogger(x[:2], log_dir=tmp_path / "actlog"),
    ]
    fit(model, x, y, callbacks, epochs=2, validation_data=(x[:4], y[:4]))
    assert sorted(event_run_dirs(tmp_path)) == ["actlog", "train", "validation"]
    assert sorted(read_images(tmp_path / "actlog")["activations/conv_b"]) == [-1, 0, 1]
    assert "epoch_loss" in read_scalars(tmp_path / "train")


def test_sequential_without_input_logs_initial_image_after_first_batch(tmp_path):
    model = models.sequential(with_input=False)
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path)
    fit(model, x, y, [logger], epochs=2)
    assert sorted(read_images(tmp_path)["activations/conv_a"]) == [-1, 0, 1]
    assert logger.extractor.trace_count == models.traces(3)


def test_subclassed_model(tmp_path):
    model = models.subclassed()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path)
    fit(model, x, y, [logger], epochs=2)
    assert logger.extractor.method == "recorder"
    assert logger.extractor.trace_count == models.traces(3)
    images = read_images(tmp_path)
    assert sorted(images) == ["activations/conv_a", "activations/conv_b",
                              "filter_health/conv_a", "filter_health/conv_b"]  # fmt: skip
    assert sorted(images["activations/conv_b"]) == [-1, 0, 1]
    assert all("call" not in vars(layer) for layer in model.layers)


def test_backbone_inside_sequential(tmp_path):
    model = models.transfer_sequential()
    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 3, 8)
    name = model.layers[1].name
    logger = actlog.ActivationLogger(
        x[:2], layers=[f"{name}/Conv1", f"{name}/block_1_*"], log_dir=tmp_path
    )
    fit(model, x, y, [logger], epochs=1)
    tags = read_images(tmp_path)  # the layer names do not sort: tags carry positions
    assert f"activations/{name}/Conv1" in tags
    assert f"activations/{name}/block_1_expand" in tags
    assert logger.layer_paths[0] == f"{name}/Conv1"


def test_multi_input_dict_probe(tmp_path):
    model = models.functional_two_inputs()
    x, y = models.digit_data(16)
    extra = np.zeros((16, 3), np.float32)
    logger = actlog.ActivationLogger({"image": x[:2], "extra": extra[:2]}, log_dir=tmp_path)
    fit(model, [x, extra], y, [logger], epochs=1)
    assert sorted(read_images(tmp_path)) == ["activations/conv_a", "activations/conv_b",
                                             "filter_health/conv_a", "filter_health/conv_b"]


def test_dataset_probe_takes_probe_size_samples(tf, tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    logger = actlog.ActivationLogger(dataset, log_dir=tmp_path, probe_size=5, layers="conv_a",
                                     sample_images=True)  # fmt: skip
    fit(model, dataset, None, [logger], epochs=1, batch_size=None)
    steps = read_images(tmp_path)["activations/conv_a"]
    assert [len(pngs) for pngs in steps.values()] == [5, 5]
    assert f"probe 4: label {y[4]}" in read_descriptions(tmp_path)["activations/conv_a"]


def test_conv1d_strips_and_conv3d_projection(tmp_path):
    rng = np.random.default_rng(0)
    x1, y = rng.random((8, 20, 2), dtype=np.float32), rng.integers(0, 3, 8)
    fit(models.conv1d(), x1, y,
        [actlog.ActivationLogger(x1[:2], log_dir=tmp_path / "1d", sample_images=True)])
    strips = decode_png(read_images(tmp_path / "1d")["activations/c1"][0][0])
    assert strips.shape[:2] == (3 * 8 + 2, 18 * 4)
    x3 = rng.random((8, 4, 6, 6, 1), dtype=np.float32)
    fit(models.conv3d(), x3, y,
        [actlog.ActivationLogger(x3[:2], log_dir=tmp_path / "3d", sample_images=True)])
    assert sorted(read_images(tmp_path / "3d")["activations/c3"]) == [-1, 0, 1]


class ScaleFirstConv(keras.callbacks.Callback):
    """Doubles conv_a's kernel and bias before epoch 1: relu(2z) = 2 relu(z)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            conv = self.model.get_layer("conv_a")
            conv.kernel.assign(conv.kernel * 2.0)
            conv.bias.assign(conv.bias * 2.0)


@pytest.mark.parametrize(("mode", "brighter"), [("fixed", True), ("filter", False)])
def test_fixed_normalization_shows_doubled_activation_brighter(tmp_path, mode, brighter):
    model = models.sequential()
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        x[:2], layers="conv_a", normalize=mode, log_dir=tmp_path, log_initial=False, stats=False
    )
    fit(model, x, y, [ScaleFirstConv(), logger], epochs=2)
    steps = read_images(tmp_path)["activations/conv_a"]
    before = decode_png(steps[0][0]).astype(int)
    after = decode_png(steps[1][0]).astype(int)
    if brighter:
        assert after.sum() > before.sum() and (after >= before).all()
    else:
        np.testing.assert_allclose(after, before, atol=1)


def test_nan_activations_are_counted_not_fatal(tmp_path):
    # The NaN goes into a conv with no activation: a fused conv + ReLU maps NaN to 0 on some
    # CPUs (oneDNN on AVX-512) and not on others, and this test must not depend on the CPU.
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(4, 3, name="conv_a"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = models.digit_data(16)
    conv = model.get_layer("conv_a")
    kernel = conv.kernel.numpy()
    kernel[0, 0, 0, 1] = np.nan  # filter 1 is NaN everywhere
    conv.kernel.assign(kernel)
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", log_dir=tmp_path, sample_images=True,
                                     measure_at="layer")  # the statistics too, before the ReLU
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        fit(model, x, y, [logger], epochs=1)
    # Step -1 is before any weight update: exactly filter 1 is NaN there, on any machine.
    image = decode_png(read_images(tmp_path)["activations/conv_a"][actlog.INITIAL_STEP][0])
    assert image.shape[-1] == 3
    assert tuple(image[1, 22]) == NONFINITE_RGB  # filter 1: top row, second tile
    assert tuple(image[1, 1]) != NONFINITE_RGB  # filter 0 is finite
    assert read_scalars(tmp_path)["nonfinite/conv_a"][actlog.INITIAL_STEP] == 2 * 10 * 10


class CountBatches(keras.callbacks.Callback):
    batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        CountBatches.batches += 1


def fails_before_training(logger_kwargs, match, model=None, x=None):
    model = model or models.sequential()
    x = x if x is not None else models.digit_data(16)[0]
    y = np.zeros(len(x), int)
    CountBatches.batches = 0
    weights = [w.copy() for w in model.get_weights()]
    logger = actlog.ActivationLogger(**logger_kwargs)
    with pytest.raises((ValueError, TypeError, PermissionError), match=match):
        fit(model, x, y, [CountBatches(), logger], epochs=1)
    assert CountBatches.batches == 0
    for a, b in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_errors_at_train_begin_before_the_first_step(tmp_path):
    x, _ = models.digit_data(4)
    log = str(tmp_path / "ok")
    fails_before_training({"probe": x[:, :10], "log_dir": log}, r"\(None, 12, 12, 1\)")
    fails_before_training({"probe": x[0], "log_dir": log}, r"x\[None\]")
    fails_before_training({"probe": x, "layers": ["conv_aa"], "log_dir": log}, "conv_a")
    fails_before_training({"probe": x, "layers": ["head"], "log_dir": log}, "not a feature map")
    no_conv = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(3)])  # fmt: skip
    no_conv.compile("adam", "sparse_categorical_crossentropy")
    fails_before_training({"probe": x, "log_dir": log}, "no convolution layer", model=no_conv)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    fails_before_training({"probe": x, "log_dir": blocker / "sub"}, "Cannot write")


def test_errors_in_the_constructor(tmp_path):
    x, _ = models.digit_data(4)
    cases = [
        ({"probe": x[:0]}, ValueError, "empty"),
        ({"probe": np.array(["a", "b"])}, TypeError, "numeric"),
        ({"probe": x, "every_n_epochs": 0}, ValueError, "every_n_epochs"),
        ({"probe": x, "normalize": "global"}, ValueError, "filter, layer, fixed"),
        ({"probe": x, "cmap": "viridiss"}, ValueError, "viridis"),
        ({"probe": x, "layers": 3}, TypeError, "layers"),
        ({"probe": (x, np.zeros(3))}, ValueError, "labels"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            actlog.ActivationLogger(log_dir=tmp_path, **kwargs)


def test_repeated_and_resumed_fits_append_without_duplicate_steps(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", log_dir=tmp_path, stats=False)
    fit(model, x, y, [logger], epochs=2)  # steps -1, 0, 1
    fit(model, x, y, [logger], epochs=2)  # a second fit from epoch 0: steps 2, 3
    fit(model, x, y, [logger], epochs=7, initial_epoch=5)  # resumed at epoch 5: steps 5, 6
    steps = [event.step for event in read_image_events(tmp_path)["activations/conv_a"]]
    assert steps == [actlog.INITIAL_STEP, 0, 1, 2, 3, 5, 6]
    # the same run, nothing rebuilt or retraced: one capture per logged step
    assert logger.extractor.trace_count == models.traces(len(steps))
    assert event_run_dirs(tmp_path) == ["."]


def test_conv_lstm_and_time_distributed_convs_are_conv_layers(tmp_path):
    frames = keras.Input((3, 8, 8, 1))
    h = keras.layers.TimeDistributed(keras.layers.Conv2D(2, 3, activation="relu"), name="td")(
        frames
    )
    h = keras.layers.ConvLSTM2D(3, 3, return_sequences=True, name="lstm2d")(h)
    h = keras.layers.ConvLSTM2D(2, 3, name="lstm2d_last")(h)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(frames, out)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((4, 3, 8, 8, 1), dtype=np.float32)
    assert [ref.path for ref in actlog.select_layers(model, "conv")] == ["td", "lstm2d",
                                                                         "lstm2d_last"]  # fmt: skip
    maps = actlog.extract(model, x[:1])
    assert maps["td"].shape == (1, 3, 6, 6, 2) and maps["lstm2d"].shape == (1, 3, 4, 4, 3)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, min_tile_size=4, sample_images=True)
    model.fit(x, np.zeros(4, int), epochs=1, verbose=0, callbacks=[logger])
    images = read_images(tmp_path)
    # time projected by its maximum: each grid is a grid of 2-D tiles, like a plain Conv2D's
    td = decode_png(images["activations/td"][0][0])
    expected, _ = render_grids(maps["td"].max(axis=1), min_tile_size=4)
    assert td.shape[:2] == expected.images.shape[1:3]
    assert decode_png(images["activations/lstm2d_last"][0][0]).shape[:2] == render_grids(
        maps["lstm2d_last"], min_tile_size=4)[0].images.shape[1:3]  # fmt: skip
    stats = actlog.activation_stats(model, x)
    assert stats["td"]["floor"] == 0.0  # the wrapped conv's own ReLU
    assert stats["lstm2d"]["floor"] is None  # tanh: no dead state


def test_every_option_reaches_the_logger_options_under_its_own_name():
    """The constructor hands its options to LoggerOptions in field order: each must land in
    the field of its own name (a new option in the wrong place would shift the others)."""
    import dataclasses
    import inspect

    from actlog.options import LoggerOptions

    names = [field.name for field in dataclasses.fields(LoggerOptions)]
    parameters = inspect.signature(actlog.ActivationLogger).parameters
    assert [p for p in parameters if p not in ("probe", "sinks", "model")] == names
    given = {"every_n_epochs": 3, "max_filters": 5, "probe_size": 4, "min_tile_size": 7,
             "max_image_size": 99, "max_pending": 6, "dormant_threshold": 0.5,
             "dead_warn_fraction": 0.25, "maximize_every_n_epochs": 9, "maximize_steps": 11,
             "max_layers": 12, "max_event_mb": 1.5, "verbose": 0, "timeline": False,
             "convergence": False, "weights": True, "log_initial": False}  # fmt: skip
    logger = actlog.ActivationLogger(models.digit_data(2)[0], **given)
    for name, value in given.items():
        assert getattr(logger.options, name) == value, name


def test_volumes_leave_the_device_projected_with_their_nan(tmp_path):
    """A Conv3D's maps are projected over depth inside the capture (a volume never leaves the
    device whole): what the producers get is the host projection of the full output, a NaN
    anywhere along depth kept as NaN; the logged grid is the one the full volume would give."""
    from actlog.capture import Capture
    from actlog.images import render_grids
    from actlog.producers import Needs

    model = keras.Sequential([keras.Input((6, 8, 8, 1)),
                              keras.layers.Conv3D(3, 3, padding="same", name="lin3"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])  # fmt: skip
    x = np.random.default_rng(0).random((2, 6, 8, 8, 1), dtype=np.float32)
    refs = actlog.select_layers(model, ["lin3"])
    captured = Capture(model, [Needs(maps=tuple(refs))])(x)
    full = actlog.extract(model, x, layers=["lin3"])["lin3"]
    assert captured.maps["lin3"].shape == (2, 8, 8, 3)  # the depth axis is gone
    np.testing.assert_allclose(captured.maps["lin3"], full.max(axis=1), rtol=1e-5, atol=1e-6)
    with_nan = x.copy()
    with_nan[0, 4, 3, 3, 0] = np.nan  # reaches depth 3..5, rows 2..4, columns 2..4
    projected = Capture(model, [Needs(maps=tuple(refs))])(with_nan).maps["lin3"]
    assert np.isnan(projected[0, 2:5, 2:5]).all() and np.isfinite(projected[1]).all()
    assert np.count_nonzero(np.isnan(projected)) == 3 * 3 * 3
    logger = actlog.ActivationLogger(x, layers=["lin3"], log_dir=tmp_path, sample_images=True,
                                     stats=False, convergence=False, verbose=0)  # fmt: skip
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_train_end()
    expected, _ = render_grids(full, min_tile_size=16)
    logged = read_images(tmp_path)["activations/lin3"][-1]
    for sample, png in enumerate(logged):
        pixels = decode_png(png).reshape(expected.images[sample].shape).astype(int)
        assert np.abs(pixels - expected.images[sample]).max() <= 1


def test_a_fit_longer_than_tensorboard_keeps_says_how_to_keep_every_step(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="actlog")
    model = models.sequential()
    x, _ = models.digit_data(4)
    lines = {}
    for epochs in (1000, 2000):  # 1001 events (step -1 too) with every_n_epochs=1; then 1001
        logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / str(epochs), verbose=0,
                                         every_n_epochs=epochs // 1000)  # fmt: skip
        logger.set_model(model)
        logger.set_params({"epochs": epochs, "steps": 1, "verbose": 0})
        logger.on_train_begin()
        logger.on_train_end()
        (lines[epochs],) = [r.getMessage() for r in caplog.records
                            if r.getMessage().startswith("actlog: logging")]  # fmt: skip
        caplog.clear()
    for line in lines.values():
        assert ("This fit logs 1,001 events; TensorBoard keeps 1000 per image tag (a random "
                "sample of the rest): start it with --samples_per_plugin images=0") in line
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "short", verbose=0)
    logger.set_model(model)
    logger.set_params({"epochs": 999, "steps": 1, "verbose": 0})
    logger.on_train_begin()
    logger.on_train_end()
    assert not any("samples_per_plugin" in r.getMessage() for r in caplog.records)
