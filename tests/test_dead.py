"""Dead means dead: only a filter behind a rectifier can be dead, on any graph (op nodes too)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import keras
import numpy as np
import pytest

import actlog
from actlog.layers import walk_layers
from actlog.reader import read_images, read_scalars

layers = keras.layers
X = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)


def conv_then(activation_layer, bias=-100.0):
    """conv (linear, filter 1 pushed far below 0) -> activation_layer -> head."""
    x_in = keras.Input((8, 8, 1))
    h = layers.Conv2D(3, 3, activation=None, name="conv")(x_in)
    h = activation_layer(h)
    out = layers.Dense(2)(layers.Flatten()(h))
    model = keras.Model(x_in, out)
    conv = model.get_layer("conv")
    conv.kernel.assign(np.abs(conv.kernel.numpy()))
    conv.bias.assign(np.array([1.0, bias, 1.0], np.float32))
    return model


@pytest.mark.parametrize(
    "activation, dead",
    [
        (layers.ReLU(name="act"), [1]),
        (layers.ReLU(6.0, name="act"), [1]),
        (layers.Activation("relu6", name="act"), [1]),
        (layers.Activation("hard_swish", name="act"), [1]),
        (layers.LeakyReLU(name="act"), []),
        (layers.ReLU(negative_slope=0.1, name="act"), []),
        (layers.Activation("swish", name="act"), []),
        (layers.Activation("tanh", name="act"), []),
        (layers.ELU(name="act"), []),
    ],
)
def test_dead_only_behind_a_rectifier(activation, dead):
    stats = actlog.activation_stats(conv_then(activation), X)["conv"]
    assert stats["measured_at"] == "act"
    assert stats["dead"] == dead
    if dead:
        assert stats["floor"] == 0.0 and stats["dead_fraction"] == pytest.approx(1 / 3)
    else:
        assert stats["floor"] is None and stats["dead_fraction"] is None
        assert 1 in stats["dormant"] or stats["on_rate"] < 1  # still measured, just not "dead"


def resnet_block():
    """A linear projection conv whose output goes through BN into an Add, then a ReLU: it has
    no dead state of its own (its negative outputs are a live, linear signal)."""
    x_in = keras.Input((8, 8, 1))
    main = layers.Conv2D(2, 3, padding="same", activation="relu", name="conv_main")(x_in)
    main = layers.Conv2D(2, 3, padding="same", name="conv_3")(main)
    main = layers.BatchNormalization(name="bn_3")(main)
    short = layers.Conv2D(2, 1, name="conv_0")(x_in)
    h = layers.ReLU(name="out")(layers.Add(name="merge")([main, short]))
    plus = layers.Conv2D(2, 1, name="conv_op")(h) + 3.0  # a conv into a plain op, not a layer
    out = layers.Dense(2)(layers.Flatten()(plus))
    model = keras.Model(x_in, out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    for name in ("conv_0", "conv_3", "conv_op"):
        conv = model.get_layer(name)
        conv.kernel.assign(-np.abs(conv.kernel.numpy()))  # every output negative
    return model


def test_linear_convs_into_merges_and_ops_have_no_dead_state():
    model = resnet_block()
    stats = actlog.activation_stats(model, X)
    for name in ("conv_0", "conv_3", "conv_op"):
        assert stats[name]["measured_at"] == name and stats[name]["floor"] is None, name
        assert stats[name]["dead"] == [] and stats[name]["on_rate"] == 0.0, name


def test_callback_frames_and_warns_only_for_rectified_layers(tmp_path):
    model = resnet_block()
    y = np.zeros(len(X), int)
    logger = actlog.ActivationLogger(X[:2], log_dir=tmp_path, min_tile_size=8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    messages = [str(w.message) for w in caught if "dead filters" in str(w.message)]
    assert not any(name in m for m in messages for name in ("conv_0", "conv_3", "conv_op"))
    scalars = read_scalars(tmp_path)
    images = read_images(tmp_path)
    for name in ("conv_0", "conv_3", "conv_op"):
        assert f"dead_filters/{name}" not in scalars, name
        assert f"dormant_filters/{name}" in scalars and f"on_rate/{name}" in scalars, name
        assert f"activations/{name}" in images, name
    assert "dead_filters/conv_main" in scalars


def test_warning_names_how_many_and_the_worst_few(tmp_path):
    stats_producer = actlog.producers.stats.StatsProducer
    producer = stats_producer([], [], 1, 0.025)
    for index, dead in enumerate([1, 2, 3, 4, 0]):
        acts = np.ones((1, 2, 2, 4), np.float32)
        acts[..., :dead] = -1.0
        producer.latest[f"layer{index}"] = actlog.layer_stats(acts)
    producer.latest["linear"] = actlog.layer_stats(-np.ones((1, 2, 2, 4)), floor=None)
    summary = producer.dead_summary(0.5)
    assert summary.startswith("actlog: at the end of training 3 of 5 rectified layers")
    assert "layer3 (4/4 = 100%), layer2 (3/4 = 75%), layer1 (2/4 = 50%)" in summary
    assert "dead_filter_list/<layer>" in summary and "linear" not in summary
    assert summary.count("\n") == 0


def test_mobilenet_v3_works_with_the_defaults(tmp_path):
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), weights=None, include_top=False, include_preprocessing=False
    )
    model = keras.Sequential([keras.Input((32, 32, 3)), backbone, layers.GlobalAveragePooling2D(),
                              layers.Dense(2)])  # fmt: skip
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    stats = actlog.activation_stats(model, x)
    by_path = {ref.path: ref.layer for ref in walk_layers(model)}
    hard_swish = [
        path for path, s in stats.items()
        if getattr(by_path[s["measured_at"]], "activation", None) is keras.activations.hard_silu
    ]  # fmt: skip
    assert hard_swish and all(stats[p]["floor"] == 0.0 for p in hard_swish)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, np.zeros(4, int), epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    assert any(tag.startswith("activations/") for tag in read_images(tmp_path))


def test_a_channels_first_layer_is_measured_per_channel_after_its_activation(tmp_path):
    # TensorFlow's CPU kernels run no channels_first convolution; padding is the same case: a
    # channels_first layer whose ReLU (which has no data_format) is where it is measured.
    inputs = keras.Input((2, 6, 6))
    h = keras.layers.ZeroPadding2D(1, data_format="channels_first", name="cf")(inputs)
    h = keras.layers.ReLU(name="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    x = np.ones((4, 2, 6, 6), np.float32)
    x[:, 1] = -1.0  # channel 1 negative everywhere: dead behind the ReLU; channel 0 alive
    stats = actlog.activation_stats(model, x, layers=["cf"])["cf"]
    assert stats["measured_at"] == "relu"
    assert stats["dead"] == [1] and stats["dead_fraction"] == 0.5  # 2 filters, not 8 columns
    logger = actlog.ActivationLogger(x, layers=["cf"], log_dir=tmp_path, verbose=0)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0, callbacks=[logger])
    assert logger.latest_stats["cf"].dead == [1] and logger.latest_stats["cf"].filters == 2


def test_a_filter_live_in_training_is_not_called_dead(tmp_path, recwarn):
    """conv -> BatchNormalization -> ReLU after a few steps on inputs with a large mean: the
    moving statistics (momentum 0.99) still sit near their start, so inference puts many
    filters at the floor that batch statistics, as training normalizes, keep live. Dead means
    at the floor both ways; each count against the slow reference computed here by hand."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(32, 3, name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = (10.0 + rng.random((32, 10, 10, 1))).astype(np.float32)
    y = rng.integers(0, 3, 32)
    logger = actlog.ActivationLogger(x[:8], log_dir=tmp_path, layers=["conv"], verbose=0)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[logger])
    assert logger.extractor is not None and logger.extractor.check is not None
    assert logger.extractor.check.deferred  # run on the writer, against a copy of the weights
    assert "batch-statistics check" in logger.background_seconds  # counted only on the writer

    bn = model.get_layer("bn")
    moving = [keras.ops.convert_to_numpy(v).copy() for v in (bn.moving_mean, bn.moving_variance)]
    conv = actlog.extract(model, x[:8], layers=["conv"])["conv"].astype(np.float64)
    gamma, beta = (keras.ops.convert_to_numpy(v) for v in (bn.gamma, bn.beta))
    flat = conv.reshape(-1, conv.shape[-1])

    def dead(mean, var):
        return {int(i) for i in np.flatnonzero(
            (gamma * (flat - mean) / np.sqrt(var + bn.epsilon) + beta).max(0) <= 0)}

    in_inference = dead(*moving)
    in_training = dead(flat.mean(0), flat.var(0))
    assert len(in_inference) >= 4 and len(in_inference - in_training) >= 4  # the case at hand
    scalars = read_scalars(tmp_path)
    assert scalars["dead_filters_inference/conv"][1] == pytest.approx(len(in_inference) / 32)
    both = in_inference & in_training
    assert scalars["dead_filters/conv"][1] == pytest.approx(len(both) / 32)
    assert logger.latest_stats["conv"].dead == sorted(both)
    assert logger.latest_stats["conv"].dead_inference == sorted(in_inference)
    warned = [str(w.message) for w in recwarn.list if "dead filters" in str(w.message)]
    assert bool(warned) == (len(both) / 32 >= 0.1)  # never for filters live in training
    # the check left the moving statistics as they were
    logger.set_model(model)
    logger.on_epoch_end(2)
    logger.on_train_end()
    assert all(np.array_equal(before, keras.ops.convert_to_numpy(v)) for before, v in
               zip(moving, (bn.moving_mean, bn.moving_variance), strict=True))  # fmt: skip
