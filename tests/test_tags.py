"""Tag names: TensorBoard's sort, ported, and the layer keys that keep cards in model order,
checked on real training runs read back through TensorBoard's own loader."""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
from actlog.cli import main
from actlog.layers import walk_layers
from actlog.reader import image_tags, read_image_series, read_images, read_scalars
from actlog.tags import (
    RULES,
    compare_tags,
    find_tag,
    in_order,
    key_path,
    layer_keys,
    natural_key,
    sort_tags,
)
from tests import models

# ---------------------------------------------------------------- TensorBoard's sort, ported

#: (input, sorted) from TensorBoard's tests of both comparators: ``tensorboard/components/
#: vz_sorting/test/sortingTests.ts`` (the Images tab) and ``tensorboard/webapp/metrics/
#: utils_test.ts`` (Time Series).
COMMON_CASES = [
    (["a", "b"], ["a", "b"]),
    (["a", "B"], ["B", "a"]),
    (["03", "1"], ["1", "03"]),
    (["a03", "a1"], ["a1", "a03"]),
    (["a03", "b1"], ["a03", "b1"]),
    (["x0a03", "x0a1"], ["x0a1", "x0a03"]),
    (["a/b/03", "a/b/1"], ["a/b/1", "a/b/03"]),
    (["a0.1", "a0.01"], ["a0.01", "a0.1"]),
    (["a1e9", "a9e8"], ["a9e8", "a1e9"]),
    (["a1e+9", "a9e+8"], ["a9e+8", "a1e+9"]),
    (["a1e+5", "a9e-6"], ["a9e-6", "a1e+5"]),
    (["a1.0e9", "a9.0e8"], ["a9.0e8", "a1.0e9"]),
    (["a1.0e+9", "a9.0e+8"], ["a9.0e+8", "a1.0e+9"]),
    (["a+/a", "a/a", "ab/a"], ["a/a", "a+/a", "ab/a"]),
    (["a+/a", "a/a", "ab/c", "ab/a"], ["a/a", "a+/a", "ab/a", "ab/c"]),
    (["a+0a", "a0a", "ab0a"], ["a0a", "a+0a", "ab0a"]),
    (["a", "//", "/", ""], ["", "/", "//", "a"]),
    (["0.2", "0.03"], ["0.03", "0.2"]),
    (["0..2", "0..03"], ["0..2", "0..03"]),
    ([".2", ".03"], [".2", ".03"]),
]
#: Only in sortingTests.ts: the Polymer comparator also breaks at "_"; Time Series does not.
UNDERSCORE_CASES = [
    (["a+_a", "a_a", "ab_a"], ["a_a", "a+_a", "ab_a"]),
    (["a+/a", "a_a", "ab_a"], ["a_a", "a+/a", "ab_a"]),
]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(("tags", "expected"), COMMON_CASES)
def test_sort_matches_tensorboards_tests(rule, tags, expected):
    for order in itertools.permutations(tags):  # whatever order the server lists them in
        assert sort_tags(order, rule) == expected


@pytest.mark.parametrize(("tags", "expected"), UNDERSCORE_CASES)
def test_only_the_images_rule_breaks_at_underscores(tags, expected):
    for order in itertools.permutations(tags):
        assert sort_tags(order, "images") == expected
    assert sort_tags(tags, "time_series") == sorted(tags)  # "+" < "_": plain characters


def test_the_two_rules_read_numbers_as_javascript_does():
    # parseFloat reads "1e" as 1; Number gives NaN, which is neither less nor greater
    assert compare_tags("a1e", "a0", "images") == 1
    assert compare_tags("a1e", "a0", "time_series") == 0
    assert compare_tags("x1", "x01") == 0  # equal values: equal, in both
    assert compare_tags("x1", "x01", "images") == 0
    # characters compare by UTF-16 code unit, as JavaScript strings do: an astral character
    # (surrogates 0xD800-0xDFFF) sorts before U+FF10, though its code point is larger
    assert compare_tags("\U0001f600", "\uff10") == -1
    assert sorted(["b10", "b9", "a"], key=natural_key) == ["a", "b9", "b10"]
    with pytest.raises(ValueError, match="time_series, images"):
        compare_tags("a", "b", "plain")


def test_mobilenet_names_are_out_of_order_and_prefixes_fix_it():
    names = ["Conv1", "block_1_expand_relu", "block_16_project", "Conv_1"]
    assert in_order(names[:3]) and not in_order(names)
    for rule in RULES:
        assert sort_tags(names, rule) == ["Conv1", "Conv_1", "block_1_expand_relu",
                                          "block_16_project"]  # fmt: skip
    prefixed = ["001 Conv1", "012 block_1_expand_relu", "149 block_16_project", "151 Conv_1"]
    assert in_order(prefixed)
    assert in_order([f"activations/{key}" for key in prefixed])


# ---------------------------------------------------------------- keys of real models


def out_of_order_model() -> keras.Model:
    """A functional model whose first conv is named after its second."""
    image = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu", name="b_conv")(image)
    h = keras.layers.Conv2D(3, 3, activation="relu", name="a_conv")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    model = keras.Model(image, keras.layers.Dense(3, name="head")(h), name="named_backwards")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_layer_keys_keep_ordered_paths_and_prefix_positions_otherwise():
    ordered = models.sequential()
    refs = actlog.select_layers(ordered, "conv")
    assert layer_keys(ordered, refs) == {"conv_a": "conv_a", "conv_b": "conv_b"}
    backwards = out_of_order_model()
    every = [ref.path for ref in walk_layers(backwards)]
    assert every == ["image", "b_conv", "a_conv", "pool", "head"]  # 5 layers: width 1
    refs = actlog.select_layers(backwards, "conv")
    assert layer_keys(backwards, refs) == {"b_conv": "1 b_conv", "a_conv": "2 a_conv"}
    # the position is among all layers: the same whichever layers are logged
    assert layer_keys(backwards, refs[1:]) == {"a_conv": "a_conv"}  # one layer: in order
    assert key_path("2 a_conv") == "a_conv" and key_path("a_conv") == "a_conv"
    tags = ["activations/1 b_conv", "activations/2 a_conv", "weights/2 a_conv"]
    assert find_tag(tags, "activations/a_conv") == "activations/2 a_conv"
    assert find_tag(tags, "weights/a_conv") == "weights/2 a_conv"
    assert find_tag(tags, "weights/b_conv") is None
    assert find_tag(tags, "activations/2 a_conv") == "activations/2 a_conv"


# ---------------------------------------------------------------- real runs, read back


def every_tag(run_dir: Path) -> dict[str, list[str]]:
    """Plugin -> the tags of a run, through TensorBoard's own loader."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    plugins = ("images", "scalars", "histograms", "text")
    return {name: sorted(accumulator.PluginTagToContent(name)) for name in plugins}


@pytest.fixture(scope="module")
def backwards_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real epoch of the out-of-order model, logging grids, statistics and weights."""
    root = tmp_path_factory.mktemp("tags") / "actlog"
    keras.utils.set_random_seed(0)
    model = out_of_order_model()
    x, y = models.digit_data(8)
    logger = actlog.ActivationLogger(
        (x[:2], y[:2]), log_dir=root, weights=True, overlays=1, verbose=0
    )
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    return root


def test_out_of_order_names_get_one_key_per_layer_in_every_tag(backwards_run):
    tags = image_tags(backwards_run)  # in TensorBoard's order
    activations = [tag for tag in tags if tag.startswith("activations/")]
    assert activations == ["activations/1 b_conv", "activations/2 a_conv"]
    for rule in RULES:
        assert sort_tags(reversed(activations), rule) == activations
    # the plain names would have shown a_conv first
    assert sort_tags(["activations/b_conv", "activations/a_conv"])[0] == "activations/a_conv"
    # every per-layer tag of every kind carries the same key for the same layer
    kinds: dict[str, set[str]] = {}
    run_wide = set()  # the tags of no single layer
    for plugin_tags in every_tag(backwards_run).values():
        for tag in plugin_tags:
            kind, key = tag.split("/", 1)
            if kind in ("convergence_settled", "actlog"):
                run_wide.add(tag)
                continue
            kinds.setdefault(kind, set()).add(key)
    assert set(kinds) == {"activations", "weights", "overlays", "on_rate", "mean_activation",
                          "dormant_filters", "activation_hist", "dead_filters",
                          "dead_filter_list", "convergence", "convergence_to_first",
                          "filter_health"}  # fmt: skip
    assert run_wide == {"convergence_settled/all", "actlog/options"}
    assert all(keys == {"1 b_conv", "2 a_conv"} for keys in kinds.values()), kinds


def test_the_reader_finds_prefixed_tags_by_layer_path(backwards_run):
    images = read_images(backwards_run)
    assert list(images) == image_tags(backwards_run)
    assert images["activations/a_conv"] is images["activations/2 a_conv"]
    assert "weights/b_conv" in images and "weights/c_conv" not in images
    series = read_image_series(backwards_run, "activations/a_conv")
    assert [step for step, _ in series] == [-1, 0]
    bare = read_image_series(backwards_run, "a_conv")
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(series, bare, strict=True))
    scalars = read_scalars(backwards_run)
    assert sorted(scalars["dead_filters/b_conv"]) == [-1, 0]
    with pytest.raises(KeyError, match="No image tag 'nope'"):
        read_image_series(backwards_run, "nope")


def test_a_tensorboard_server_serves_the_prefixed_tags(backwards_run):
    from tests.tbserver import tensorboard_server

    written = read_images(backwards_run)
    with tensorboard_server(backwards_run.parent, expect_runs=["actlog"], fast_start=True) as tb:
        served = tb.tags()["actlog"]
        assert set(served) == set(written)
        for tag in ("activations/1 b_conv", "weights/2 a_conv"):  # spaces in URLs and names
            assert tb.images_by_step("actlog", tag) == {
                step: pngs[0] for step, pngs in written[tag].items()}


def test_animate_takes_a_bare_layer_path_on_a_prefixed_run(backwards_run, capsys):
    out = backwards_run.parent / "gifs"
    for name in ("a_conv", "activations/a_conv", "activations/2 a_conv"):
        target = out / f"{name.replace('/', '_').replace(' ', '_')}.gif"
        assert main(["animate", str(backwards_run), "--tag", name, "--out", str(target)]) == 0
        assert capsys.readouterr().out.split() == [str(target)]
        with Image.open(target) as gif:
            assert gif.n_frames == 2  # steps -1 and 0
    every = out / "all.gif"
    assert main(["animate", str(backwards_run), "--out", str(every)]) == 0
    # one GIF per layer, in model order, named after the tag with / and spaces as _
    assert capsys.readouterr().out.split() == [
        str(out / "all_activations_1_b_conv.gif"), str(out / "all_activations_2_a_conv.gif")]
    assert main(["animate", str(backwards_run), "--tag", "c_conv", "--out", str(every)]) == 2
    assert "No image tag 'c_conv'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:actlog. at the end of training:RuntimeWarning")
def test_ordered_names_keep_plain_tags(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(8)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, weights=True, verbose=0)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    assert image_tags(tmp_path) == ["activations/conv_a", "activations/conv_b",
                                    "filter_health/conv_a", "filter_health/conv_b",
                                    "weights/conv_a", "weights/conv_b"]  # fmt: skip
    assert {"dead_filters/conv_a", "on_rate/conv_b"} <= set(read_scalars(tmp_path))


def test_nested_mobilenet_v2_cards_in_model_order(tmp_path):
    size = 64
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(size, size, 3), alpha=0.35
    )
    inputs = keras.Input((size, size, 3))
    h = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(h))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((4, size, size, 3), dtype=np.float32)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, stats=False, verbose=0)
    model.fit(x, np.zeros(4, int), epochs=1, batch_size=4, verbose=0, callbacks=[logger])
    chosen = logger.layer_paths
    assert chosen[-1] == f"{backbone.name}/Conv_1" and not in_order(chosen)
    tags = image_tags(tmp_path)
    assert len(tags) == len(chosen)  # one Images card per logged layer ...
    for rule in RULES:  # ... in model order, in both dashboards
        assert sort_tags(sorted(tags), rule) == tags
    assert [key_path(tag.removeprefix("activations/")) for tag in tags] == chosen
    positions = [int(tag.removeprefix("activations/").split(" ")[0]) for tag in tags]
    every = [ref.path for ref in walk_layers(model)]
    assert positions == [every.index(path) for path in chosen]
    assert all(f"activations/{path}" in read_images(tmp_path) for path in chosen)


@pytest.mark.filterwarnings("ignore:actlog. at the end of training:RuntimeWarning")
def test_every_sink_gets_the_same_keys(tmp_path, wandb_root):
    from tests.test_wandb import written_run
    from tests.wandbread import metric_definitions, run_config, run_file

    model = out_of_order_model()
    x, y = models.digit_data(8)
    sink = actlog.WandbSink(project="actlog-test", dir=str(wandb_root))
    logger = actlog.ActivationLogger(
        (x[:2], y[:2]), log_dir=tmp_path / "actlog", sinks=["tensorboard", sink], animate=True,
        verbose=0,
    )
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[logger])
    run_dir, rows = written_run(wandb_root)
    logged = {key for row in rows for key in row if "/" in key and key != "actlog/step"}
    written = {tag for tags in every_tag(tmp_path / "actlog").values() for tag in tags}
    # the same tags in W&B as in TensorBoard, spaces and all (the options: W&B's run config)
    assert written - {"actlog/options"} <= logged
    assert run_config(run_file(run_dir))["actlog"] == logger.options.params()
    assert logger.options.params()["animate"] is True
    assert {"animations/1 b_conv", "animations/2 a_conv"} <= logged
    bound = {m["name"]: m["step_metric"] for m in metric_definitions(run_file(run_dir))}
    assert bound["activations/1 b_conv"] == "actlog/step"
    # the GIFs on disk are named after the layer path
    for layer in ("b_conv", "a_conv"):
        with Image.open(tmp_path / "actlog" / "animations" / f"{layer}.gif") as gif:
            assert gif.n_frames == 3  # steps -1, 0, 1
