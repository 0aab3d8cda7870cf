"""Every keras.applications family through the callback with its defaults, as users run them:
``input -> augmentation -> backbone -> pooling -> head``, at a reduced input size (bench/
backbones.py runs the whole list at native size)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import keras
import numpy as np
import pytest

import actlog
import actlog.graph
from actlog.choice import choose_layers
from actlog.reader import image_tags, read_images, read_scalars
from actlog.tags import RULES, key_path, sort_tags

FAMILIES = {  # one member of each family, at the smallest input it takes
    "VGG16": 32,
    "ResNet50": 32,
    "ResNet50V2": 32,
    "InceptionV3": 75,
    "InceptionResNetV2": 75,
    "Xception": 71,
    "MobileNet": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "DenseNet121": 32,
    "NASNetMobile": 32,
    "EfficientNetB0": 32,
    "EfficientNetV2B0": 32,
    "ConvNeXtTiny": 32,
}


def transfer_model(name: str, size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    backbone = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(size, size, 3)
    )
    inputs = keras.Input((size, size, 3))
    h = keras.layers.RandomFlip(name="flip")(inputs)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(h))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(h))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


#: Families Keras itself cannot build on a backend (keras.applications raises ValueError).
NOT_IN_KERAS = {("NASNetMobile", "torch"): "Keras 3 has no NASNet on the torch backend"}


def family(name: str) -> pytest.param:
    reason = NOT_IN_KERAS.get((name, keras.backend.backend()))
    return pytest.param(name, marks=pytest.mark.skipif(reason is not None, reason=str(reason)))


@pytest.mark.parametrize("name", [family(name) for name in sorted(FAMILIES)])
def test_every_family_works_with_the_defaults(name, tmp_path, capsys):
    size = FAMILIES[name]
    model = transfer_model(name, size)
    x = np.random.default_rng(0).random((4, size, size, 3), dtype=np.float32)
    convs = actlog.select_layers(model, "conv")
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dead filters of random weights
        model.fit(x, np.zeros(4, int), epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    # a readable choice, in model order, and one line saying so
    chosen = logger.layer_paths
    assert 1 <= len(chosen) <= 16
    order = [ref.path for ref in convs]
    assert chosen == sorted(chosen, key=order.index)
    line = capsys.readouterr().out
    assert f"actlog: logging {len(chosen)} of {len(convs)} conv layers" in line
    # one Images card per logged layer and kind (grid, filter-health timeline), in model order
    # (whatever the names), at both steps
    images = read_images(tmp_path)
    tags = image_tags(tmp_path)  # as TensorBoard sorts them
    for kind in ("activations/", "filter_health/"):
        keys = [tag.removeprefix(kind) for tag in tags if tag.startswith(kind)]
        assert [key_path(key) for key in keys] == chosen, kind
    assert len(tags) == 2 * len(chosen)
    assert all(sort_tags(sorted(tags), rule) == tags for rule in RULES)
    assert all(sorted(steps) == [-1, 0] for steps in images.values())
    assert all(len(pngs) == 1 for steps in images.values() for pngs in steps.values())
    # the event stays within the budget
    size_mb = sum(len(png) for steps in images.values() for png in steps[0]) / 1e6
    assert size_mb <= 5.0
    # dead counts only where a rectifier gives filters a floor to die at
    stats = actlog.activation_stats(model, x, layers=chosen)
    scalars = read_scalars(tmp_path)
    for path in chosen:
        assert (f"dead_filters/{path}" in scalars) == (stats[path]["floor"] is not None), path


def test_squeeze_excitation_convs_do_not_hide_the_stages():
    """EfficientNet's 1x1-pixel squeeze-and-excitation convs are left out, and the rest is
    chosen one per resolution stage (not an even spread)."""
    model = transfer_model("EfficientNetB0", 64)
    graph = actlog.graph.model_graph(model)
    choice = choose_layers(graph, actlog.select_layers(model, "conv"), 16)
    assert choice.how == "one per resolution stage"
    sizes = [tuple(graph.output(ref.layer).shape[1:3]) for ref in choice.layers]
    assert sizes == sorted(set(sizes), reverse=True)  # one per size, from large to small
    assert (1, 1) not in sizes


def augmentation() -> keras.Sequential:
    return keras.Sequential([keras.layers.RandomFlip(), keras.layers.RandomRotation(0.1)],
                            name="augment")  # fmt: skip


def nested_model(name: str, size: int, variant: str) -> tuple[keras.Model, keras.Model]:
    """keras-io's from-scratch patterns: ``Backbone(include_top=True, input_shape=...)`` called
    on augmented inputs as the model's last layer ("top"), or built on them with
    ``input_tensor`` ("tensor"). Returns the model and the backbone."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = augmentation()(inputs)
    family = getattr(keras.applications, name)
    if variant == "top":
        backbone = family(include_top=True, weights=None, classes=7, input_shape=(size, size, 3))
        return keras.Model(inputs, backbone(x)), backbone
    backbone = family(include_top=False, weights=None, input_tensor=x)
    pooled = keras.layers.GlobalAveragePooling2D()(backbone.output)
    return keras.Model(inputs, keras.layers.Dense(7)(pooled)), backbone


@pytest.mark.parametrize("variant", ["top", "tensor"])
@pytest.mark.parametrize("name", [family(name) for name in sorted(FAMILIES)])
def test_nested_and_input_tensor_backbones_know_every_conv_size(name, variant):
    """Every conv layer's output size is known (a backbone called last, after augmentation,
    traced through), so the default choice is one per resolution stage with no 1x1 maps, and
    what is extracted is the backbone's own output."""
    size = FAMILIES[name]
    model, backbone = nested_model(name, size, variant)
    graph = actlog.graph.model_graph(model)
    assert graph.traced, graph.reason
    refs = actlog.select_layers(model, "conv")
    shapes = [tuple(graph.output(ref.layer).shape) for ref in refs]
    assert all(None not in shape[1:] for shape in shapes)
    choice = choose_layers(graph, refs, 16)
    assert choice.how in ("one per resolution stage", "every conv layer")
    chosen = [tuple(graph.output(ref.layer).shape[1:-1]) for ref in choice.layers]
    assert all(set(shape) != {1} for shape in chosen)  # no squeeze-and-excitation gate
    x = np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)
    last = choice.layers[-1]
    maps = actlog.extract(model, x, layers=[last.path])
    if variant == "top":
        inner = backbone.get_layer(last.path.split("/", 1)[1])
        direct = keras.Model(backbone.inputs, inner.output)(x, training=False)
    else:  # the augmentation is in this graph: off, as in inference (its call defaults to on)
        direct = keras.Model(model.inputs, last.layer.output)(x, training=False)
    direct = keras.ops.convert_to_numpy(direct)
    # the same values, to the rounding of two compilations of a deep network (ConvNeXt's layer
    # norms amplify it to 0.3%); another layer or input would differ by the order of 1
    assert np.linalg.norm(maps[last.path] - direct) <= 1e-2 * np.linalg.norm(direct)


def test_the_keras_io_efficientnet_from_scratch_logs_one_layer_per_stage(tmp_path, capsys):
    model, _ = nested_model("EfficientNetB0", 64, "top")
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 64, 64, 3), dtype=np.float32)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, stats=False)
    model.fit(x, np.zeros(4, int), epochs=1, verbose=0, callbacks=[logger])
    line = capsys.readouterr().out
    assert "(one per resolution stage: efficientnetb0/" in line
    assert not any("_se_" in path for path in logger.layer_paths)
