"""Tests for actlog.layers: layer paths, the "conv" default, names, globs, classes and errors."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re

import keras
import pytest

import actlog
from actlog.layers import CONV_LAYER_TYPES, check_layer_spec, select_layers, walk_layers

ALL_CONV_CLASSES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
#: Recurrent convolutions (their selection is tested with TimeDistributed in test_callback.py).
CONV_LSTM_CLASSES = (keras.layers.ConvLSTM1D, keras.layers.ConvLSTM2D, keras.layers.ConvLSTM3D)


def paths(refs) -> list[str]:
    return [ref.path for ref in refs]


class MyConv(keras.layers.Conv2D):
    """A user subclass of Conv2D: "conv" and keras.layers.Conv2D must both pick it."""


# --------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def every_kind() -> keras.Model:
    """One real model holding every conv kind plus non-conv layers (1D, 2D and 3D branches)."""
    in1 = keras.Input((16, 2), name="in1")
    h1 = keras.layers.Conv1D(2, 3, name="c1d")(in1)
    h1 = keras.layers.SeparableConv1D(2, 3, name="sep1d")(h1)
    h1 = keras.layers.DepthwiseConv1D(3, name="dw1d")(h1)
    h1 = keras.layers.Conv1DTranspose(2, 3, name="tr1d")(h1)
    h1 = keras.layers.MaxPooling1D(name="pool1d")(h1)
    h1 = keras.layers.GlobalAveragePooling1D(name="gap1d")(h1)

    in2 = keras.Input((12, 12, 2), name="in2")
    h2 = keras.layers.Conv2D(2, 3, name="c2d")(in2)
    h2 = keras.layers.BatchNormalization(name="bn")(h2)
    h2 = keras.layers.ReLU(name="relu")(h2)
    h2 = keras.layers.SeparableConv2D(2, 3, name="sep2d")(h2)
    h2 = keras.layers.DepthwiseConv2D(3, name="dw2d")(h2)
    h2 = keras.layers.Conv2DTranspose(2, 3, name="tr2d")(h2)
    h2 = MyConv(2, 3, name="my_conv")(h2)
    h2 = keras.layers.MaxPooling2D(name="pool2d")(h2)
    h2 = keras.layers.AveragePooling2D(1, name="avgpool2d")(h2)
    h2 = keras.layers.Flatten(name="flat2d")(h2)

    in3 = keras.Input((6, 6, 6, 1), name="in3")
    h3 = keras.layers.Conv3D(2, 3, name="c3d")(in3)
    h3 = keras.layers.Conv3DTranspose(2, 3, name="tr3d")(h3)
    h3 = keras.layers.MaxPooling3D(name="pool3d")(h3)
    h3 = keras.layers.GlobalMaxPooling3D(name="gmp3d")(h3)

    h = keras.layers.Concatenate(name="cat")([h1, h2, h3])
    out = keras.layers.Dense(3, name="dense")(h)
    return keras.Model([in1, in2, in3], out, name="every_kind")


def make_small_backbone(name: str = "backbone") -> keras.Model:
    inp = keras.Input((8, 8, 1), name=f"{name}_in")
    h = keras.layers.Conv2D(2, 3, padding="same", name="conv_a")(inp)
    h = keras.layers.BatchNormalization(name="bn_a")(h)
    h = keras.layers.Conv2D(2, 3, padding="same", name="conv_b")(h)
    return keras.Model(inp, h, name=name)


@pytest.fixture(scope="module")
def nested_functional() -> keras.Model:
    """Sequential: stem conv, a Functional backbone used as a layer, head conv, dense."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(1, 1, padding="same", name="stem"),
            make_small_backbone(),
            keras.layers.Conv2D(2, 1, name="head"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, name="out"),
        ],
        name="outer",
    )


@pytest.fixture(scope="module")
def nested_sequential() -> keras.Model:
    """Functional outer model with a Sequential sub-model used as a layer."""
    sub = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="s_conv1"),
            keras.layers.MaxPooling2D(name="s_pool"),
            keras.layers.SeparableConv2D(4, 3, name="s_conv2"),
        ],
        name="subseq",
    )
    inp = keras.Input((8, 8, 3), name="img")
    h = keras.layers.Rescaling(1 / 255, name="rescale")(inp)
    h = sub(h)
    h = keras.layers.Conv2D(2, 1, name="after")(h)
    h = keras.layers.Flatten(name="flat")(h)
    out = keras.layers.Dense(1, name="dense")(h)
    return keras.Model(inp, out, name="func_outer")


@pytest.fixture(scope="module")
def two_levels() -> keras.Model:
    """outer (Sequential) > mid (Functional) > inner (Sequential)."""
    inner = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.layers.Conv2D(2, 3, padding="same", name="deep_conv")],
        name="inner",
    )
    mid_in = keras.Input((8, 8, 1), name="mid_in")
    h = keras.layers.Conv2D(2, 3, padding="same", name="mid_conv")(mid_in)
    h = inner(h)
    h = keras.layers.Conv2D(2, 1, name="mid_last")(h)
    mid = keras.Model(mid_in, h, name="mid")
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            mid,
            keras.layers.Conv2D(1, 1, name="top_conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(1, name="dense"),
        ],
        name="outer2",
    )


@pytest.fixture(scope="module")
def mobilenet() -> keras.Model:
    return keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), weights=None, include_top=False, name="backbone"
    )


@pytest.fixture(scope="module")
def mobilenet_in_sequential(mobilenet) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            mobilenet,
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(10, name="logits"),
        ],
        name="transfer_seq",
    )


@pytest.fixture(scope="module")
def mobilenet_in_functional(mobilenet) -> keras.Model:
    inp = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inp)
    h = mobilenet(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="transfer_func")


@pytest.fixture(scope="module")
def dense_only() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, name="d1"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(2, name="d2"),
        ],
        name="mlp",
    )


@pytest.fixture(scope="module")
def named_convs() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, name="conv2d"),
            keras.layers.Conv2D(2, 3, name="conv2d_1"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(2, name="dense"),
        ],
        name="digits_cnn",
    )


def mobilenet_conv_names(mobilenet: keras.Model) -> list[str]:
    return [layer.name for layer in mobilenet.layers if isinstance(layer, CONV_LAYER_TYPES)]


# --------------------------------------------------------------------------- CONV_LAYER_TYPES


def test_conv_layer_types_lists_every_conv_kind():
    assert set(CONV_LAYER_TYPES) == set(ALL_CONV_CLASSES + CONV_LSTM_CLASSES)
    assert len(CONV_LAYER_TYPES) == len(ALL_CONV_CLASSES + CONV_LSTM_CLASSES)
    assert actlog.CONV_LAYER_TYPES is CONV_LAYER_TYPES
    assert actlog.select_layers is select_layers


def test_conv_types_exclude_non_conv_layers():
    for cls in (
        keras.layers.Dense,
        keras.layers.MaxPooling2D,
        keras.layers.AveragePooling2D,
        keras.layers.GlobalAveragePooling2D,
        keras.layers.BatchNormalization,
        keras.layers.ReLU,
        keras.layers.Flatten,
    ):
        assert not issubclass(cls, CONV_LAYER_TYPES), cls


# --------------------------------------------------------------------------- "conv"


def test_conv_picks_every_conv_kind_and_skips_the_rest(every_kind):
    refs = select_layers(every_kind, "conv")
    expected = [layer.name for layer in every_kind.layers if isinstance(layer, ALL_CONV_CLASSES)]
    assert paths(refs) == expected
    assert set(paths(refs)) == {
        "c1d", "sep1d", "dw1d", "tr1d",
        "c2d", "sep2d", "dw2d", "tr2d", "my_conv",
        "c3d", "tr3d",
    }  # fmt: skip
    kinds = {type(ref.layer) for ref in refs}
    assert set(ALL_CONV_CLASSES) <= kinds
    for skipped in (
        "dense",
        "bn",
        "relu",
        "pool1d",
        "pool2d",
        "avgpool2d",
        "pool3d",
        "gap1d",
        "gmp3d",
        "flat2d",
        "cat",
        "in1",
        "in2",
        "in3",
    ):
        assert skipped not in paths(refs)
    # Top-level layers: the path is the name, no parents, the layer is the model's own object.
    for ref in refs:
        assert ref.parents == ()
        assert ref.layer is every_kind.get_layer(ref.path)


def test_conv_is_the_default(every_kind, nested_functional):
    assert paths(select_layers(every_kind)) == paths(select_layers(every_kind, "conv"))
    assert paths(select_layers(nested_functional)) == [
        "stem",
        "backbone/conv_a",
        "backbone/conv_b",
        "head",
    ]


def test_conv_picks_subclasses(every_kind):
    assert "my_conv" in paths(select_layers(every_kind, "conv"))
    assert isinstance(every_kind.get_layer("my_conv"), CONV_LAYER_TYPES)


def test_conv_on_unbuilt_sequential():
    model = keras.Sequential(
        [keras.layers.Conv2D(2, 3, name="a"), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    assert paths(select_layers(model, "conv")) == ["a"]


def test_conv_without_conv_layers_explains_to_name_layers(dense_only):
    with pytest.raises(ValueError, match="no convolution layer") as info:
        select_layers(dense_only, "conv")
    message = str(info.value)
    assert "'mlp'" in message
    assert "layers=[" in message
    with pytest.raises(ValueError, match="no convolution layer"):
        select_layers(dense_only)  # the default


def test_layers_can_be_named_when_there_is_no_conv(dense_only):
    assert paths(select_layers(dense_only, ["d1", "d2"])) == ["d1", "d2"]


# --------------------------------------------------------------------------- walk_layers


def test_walk_nested_functional_in_sequential(nested_functional):
    walked = list(walk_layers(nested_functional))
    assert paths(walked) == [
        "stem",
        "backbone",
        "backbone/backbone_in",
        "backbone/conv_a",
        "backbone/bn_a",
        "backbone/conv_b",
        "head",
        "gap",
        "out",
    ]
    backbone = nested_functional.get_layer("backbone")
    by_path = {ref.path: ref for ref in walked}
    assert by_path["backbone"].layer is backbone
    assert by_path["backbone"].parents == ()
    assert by_path["backbone/conv_a"].layer is backbone.get_layer("conv_a")
    assert by_path["backbone/conv_a"].parents == (backbone,)
    assert by_path["stem"].parents == ()


def test_walk_nested_sequential_in_functional(nested_sequential):
    walked = paths(walk_layers(nested_sequential))
    assert walked == [
        "img",
        "rescale",
        "subseq",
        "subseq/s_conv1",
        "subseq/s_pool",
        "subseq/s_conv2",
        "after",
        "flat",
        "dense",
    ]


def test_walk_two_levels_of_nesting(two_levels):
    walked = list(walk_layers(two_levels))
    assert paths(walked) == [
        "mid",
        "mid/mid_in",
        "mid/mid_conv",
        "mid/inner",
        "mid/inner/deep_conv",
        "mid/mid_last",
        "top_conv",
        "flat",
        "dense",
    ]
    mid = two_levels.get_layer("mid")
    inner = mid.get_layer("inner")
    by_path = {ref.path: ref for ref in walked}
    assert by_path["mid/inner/deep_conv"].parents == (mid, inner)
    assert by_path["mid/inner/deep_conv"].layer is inner.get_layer("deep_conv")
    assert by_path["mid/inner"].parents == (mid,)


def test_walk_subclassed_model_uses_its_layers():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv = keras.layers.Conv2D(2, 3, name="sub_conv")
            self.pool = keras.layers.GlobalAveragePooling2D(name="sub_gap")

        def call(self, x):
            return self.pool(self.conv(x))

    net = Net()
    assert paths(walk_layers(net)) == ["sub_conv", "sub_gap"]
    assert paths(select_layers(net)) == ["sub_conv"]


# --------------------------------------------------------------------------- nested "conv"


def test_conv_in_two_levels_of_nesting_in_model_order(two_levels):
    assert paths(select_layers(two_levels, "conv")) == [
        "mid/mid_conv",
        "mid/inner/deep_conv",
        "mid/mid_last",
        "top_conv",
    ]


def test_conv_in_nested_sequential(nested_sequential):
    assert paths(select_layers(nested_sequential, "conv")) == [
        "subseq/s_conv1",
        "subseq/s_conv2",
        "after",
    ]


@pytest.mark.parametrize("outer", ["mobilenet_in_sequential", "mobilenet_in_functional"])
def test_conv_in_mobilenet_backbone(outer, request, mobilenet):
    model = request.getfixturevalue(outer)
    refs = select_layers(model, "conv")
    names = mobilenet_conv_names(mobilenet)
    assert len(names) == 52  # Conv2D and DepthwiseConv2D of MobileNetV2 without its top
    assert paths(refs) == [f"backbone/{name}" for name in names]
    assert refs[0].path == "backbone/Conv1"
    assert refs[-1].path == "backbone/Conv_1"
    for ref in refs:
        assert ref.parents == (mobilenet,)
        assert ref.layer is mobilenet.get_layer(ref.path.split("/", 1)[1])
    # The top-level layers are not convolutions.
    assert not any(ref.path in ("gap", "logits", "rescale", "image") for ref in refs)


# --------------------------------------------------------------------------- names and paths


def test_top_level_name(named_convs):
    refs = select_layers(named_convs, "conv2d_1")
    assert paths(refs) == ["conv2d_1"]
    assert refs[0].layer is named_convs.get_layer("conv2d_1")


def test_non_conv_layer_by_name(named_convs):
    assert paths(select_layers(named_convs, "dense")) == ["dense"]
    assert paths(select_layers(named_convs, ["pool", "flatten"])) == ["pool", "flatten"]


def test_exact_path_in_nested_model(mobilenet_in_sequential, mobilenet):
    refs = select_layers(mobilenet_in_sequential, "backbone/block_1_expand")
    assert paths(refs) == ["backbone/block_1_expand"]
    assert refs[0].layer is mobilenet.get_layer("block_1_expand")
    assert refs[0].parents == (mobilenet,)


def test_bare_name_of_nested_layer_gives_its_path(mobilenet_in_functional):
    refs = select_layers(mobilenet_in_functional, "block_3_depthwise_relu")
    assert paths(refs) == ["backbone/block_3_depthwise_relu"]


def test_two_level_path_and_bare_name(two_levels):
    assert paths(select_layers(two_levels, "mid/inner/deep_conv")) == ["mid/inner/deep_conv"]
    assert paths(select_layers(two_levels, "deep_conv")) == ["mid/inner/deep_conv"]


def test_nested_model_itself_can_be_chosen(nested_functional):
    refs = select_layers(nested_functional, "backbone")
    assert paths(refs) == ["backbone"]
    assert refs[0].layer is nested_functional.get_layer("backbone")


def test_exact_path_wins_over_same_name_in_nested_model():
    inner = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.layers.Conv2D(2, 1, name="c1")], name="inner"
    )
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 1, name="c1"), inner], name="dup"
    )
    assert paths(select_layers(model, "conv")) == ["c1", "inner/c1"]
    assert paths(select_layers(model, "c1")) == ["c1"]
    assert paths(select_layers(model, "inner/c1")) == ["inner/c1"]
    assert paths(select_layers(model, "*c1")) == ["c1", "inner/c1"]


# --------------------------------------------------------------------------- globs


def test_path_glob_over_nested_model(mobilenet_in_sequential):
    refs = select_layers(mobilenet_in_sequential, "backbone/block_*_expand")
    assert paths(refs) == [f"backbone/block_{i}_expand" for i in range(1, 17)]
    # fnmatch over the whole path: "_BN" and "_relu" siblings are not matched.
    assert not any(p.endswith(("_BN", "_relu")) for p in paths(refs))


def test_bare_name_glob_matches_nested_names(mobilenet_in_functional):
    by_name = select_layers(mobilenet_in_functional, "block_*_expand")
    by_path = select_layers(mobilenet_in_functional, "backbone/block_*_expand")
    assert paths(by_name) == paths(by_path)
    assert len(by_name) == 16


def test_glob_question_mark_and_brackets(mobilenet_in_sequential):
    assert paths(select_layers(mobilenet_in_sequential, "backbone/block_[12]_expand")) == [
        "backbone/block_1_expand",
        "backbone/block_2_expand",
    ]
    assert paths(select_layers(mobilenet_in_sequential, "block_?_project")) == [
        f"backbone/block_{i}_project" for i in range(1, 10)
    ]


def test_glob_with_slash_matches_paths_only(nested_functional):
    # "*/conv_*" must not match a top-level layer by its bare name.
    assert paths(select_layers(nested_functional, "*/conv_*")) == [
        "backbone/conv_a",
        "backbone/conv_b",
    ]
    # A glob without "/" also matches nested layers by their bare names.
    assert paths(select_layers(nested_functional, "conv_?")) == [
        "backbone/conv_a",
        "backbone/conv_b",
    ]
    # "*" matches across "/" (fnmatch), so "*_a" finds nested paths too.
    assert paths(select_layers(nested_functional, "*_a")) == ["backbone/conv_a", "backbone/bn_a"]
    assert paths(select_layers(nested_functional, "s*")) == ["stem"]


def test_glob_over_top_level_names(named_convs):
    assert paths(select_layers(named_convs, "conv2d*")) == ["conv2d", "conv2d_1"]


# --------------------------------------------------------------------------- classes


def test_layer_class_includes_subclasses(every_kind):
    assert paths(select_layers(every_kind, keras.layers.Conv2D)) == ["c2d", "my_conv"]
    assert paths(select_layers(every_kind, MyConv)) == ["my_conv"]
    assert paths(select_layers(every_kind, keras.layers.DepthwiseConv1D)) == ["dw1d"]


def test_layer_class_in_nested_models(mobilenet_in_sequential, mobilenet):
    depthwise = select_layers(mobilenet_in_sequential, keras.layers.DepthwiseConv2D)
    expected = [
        f"backbone/{layer.name}"
        for layer in mobilenet.layers
        if isinstance(layer, keras.layers.DepthwiseConv2D)
    ]
    assert paths(depthwise) == expected
    assert len(depthwise) == 17
    relus = select_layers(mobilenet_in_sequential, keras.layers.ReLU)
    assert relus
    assert all(isinstance(ref.layer, keras.layers.ReLU) for ref in relus)
    assert all(ref.path.startswith("backbone/") for ref in relus)


def test_model_class_selects_nested_models(two_levels):
    assert paths(select_layers(two_levels, keras.Model)) == ["mid", "mid/inner"]


def test_non_conv_classes(every_kind):
    assert paths(select_layers(every_kind, keras.layers.BatchNormalization)) == ["bn"]
    assert paths(select_layers(every_kind, keras.layers.Dense)) == ["dense"]


def test_missing_class_raises(every_kind):
    with pytest.raises(ValueError, match=r"'every_kind' has no layer of class LSTM"):
        select_layers(every_kind, keras.layers.LSTM)


# --------------------------------------------------------------------------- mixed, dedup, order


def test_mixed_list_in_model_order(nested_functional):
    refs = select_layers(nested_functional, ["out", keras.layers.BatchNormalization, "stem"])
    assert paths(refs) == ["stem", "backbone/bn_a", "out"]


def test_mixed_list_with_globs_and_paths(mobilenet_in_functional):
    refs = select_layers(
        mobilenet_in_functional,
        ["logits", "backbone/Conv1", "block_1_*relu", keras.layers.Rescaling],
    )
    assert paths(refs) == [
        "rescale",
        "backbone/Conv1",
        "backbone/block_1_expand_relu",
        "backbone/block_1_depthwise_relu",
        "logits",
    ]


def test_duplicates_are_removed(named_convs):
    refs = select_layers(
        named_convs,
        ["conv", "conv2d_1", keras.layers.Conv2D, "conv2d*", "conv2d", "conv2d_1"],
    )
    assert paths(refs) == ["conv2d", "conv2d_1"]
    assert len({id(ref.layer) for ref in refs}) == 2


def test_duplicates_removed_across_nested_selectors(nested_functional):
    refs = select_layers(
        nested_functional,
        ["backbone/conv_a", "conv_a", "backbone/conv_*", "conv", keras.layers.Conv2D],
    )
    assert paths(refs) == ["stem", "backbone/conv_a", "backbone/conv_b", "head"]


def test_tuple_of_selectors(named_convs):
    assert paths(select_layers(named_convs, ("dense", "conv2d"))) == ["conv2d", "dense"]


# --------------------------------------------------------------------------- unknown names


def test_unknown_name_suggests_close_match_and_names_model(named_convs):
    with pytest.raises(ValueError, match=re.escape("'conv2d_1'")) as info:
        select_layers(named_convs, "conv2d_l")
    message = str(info.value)
    assert "'digits_cnn'" in message
    assert "'conv2d_l'" in message
    assert "Did you mean" in message


def test_unknown_nested_path_suggests_close_path(mobilenet_in_sequential):
    with pytest.raises(ValueError, match=re.escape("'backbone/block_1_expand'")) as info:
        select_layers(mobilenet_in_sequential, "backbone/block_1_expnd")
    assert "'transfer_seq'" in str(info.value)


def test_unknown_name_in_a_list_raises(named_convs):
    with pytest.raises(ValueError, match=r"'digits_cnn'.*'denze'"):
        select_layers(named_convs, ["conv2d", "denze"])


def test_unknown_glob_raises(nested_functional):
    with pytest.raises(ValueError, match=r"No layer of model 'outer' matches 'nothing_\*'"):
        select_layers(nested_functional, "nothing_*")


def test_unknown_name_lists_layer_paths(nested_functional):
    with pytest.raises(ValueError, match="Layer paths are: ") as info:
        select_layers(nested_functional, "zzz")
    assert "backbone/conv_a" in str(info.value)


# --------------------------------------------------------------------------- check_layer_spec


@pytest.mark.parametrize(
    "spec",
    [
        "conv",
        "conv2d",
        "backbone/block_*_expand",
        keras.layers.Conv2D,
        MyConv,
        keras.Model,
        ["conv2d", keras.layers.Dense],
        ("a", "b/c"),
    ],
)
def test_check_layer_spec_accepts(spec):
    assert check_layer_spec(spec) is None


@pytest.mark.parametrize(
    "spec",
    [3, 0, 1.5, None, [], (), b"conv", {"conv"}, [3], ["conv2d", 1], [["conv2d"]]],
)
def test_check_layer_spec_rejects_non_selectors(spec):
    with pytest.raises(TypeError, match="layers"):
        check_layer_spec(spec)


def test_check_layer_spec_empty_list_message():
    with pytest.raises(TypeError, match="non-empty list"):
        check_layer_spec([])


@pytest.mark.parametrize("cls", [int, str, object, dict, keras.optimizers.Adam])
def test_check_layer_spec_rejects_non_layer_classes(cls):
    with pytest.raises(TypeError, match=r"keras\.layers\.Layer subclass"):
        check_layer_spec(cls)
    with pytest.raises(TypeError, match=r"keras\.layers\.Layer subclass"):
        check_layer_spec(["conv", cls])


def test_select_layers_checks_the_spec_type(named_convs):
    with pytest.raises(TypeError):
        select_layers(named_convs, 1)
    with pytest.raises(TypeError):
        select_layers(named_convs, [])
    with pytest.raises(TypeError):
        select_layers(named_convs, [int])
