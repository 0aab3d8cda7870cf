"""The view's document (actlog.view.metadata): one per event, in TensorBoard under actlog's own
plugin name, and true of the model: its numbers against the slow, obvious reference, its tile
layout against the logged pixels, its logs against Keras's History."""

import json
import math

import keras
import numpy as np
import pytest

import actlog
from actlog.reader import decode_png, read_images, read_scalars
from actlog.view import data, metadata, tiles
from tests import models
from tests.viewrun import documents, layer_doc, logged_grid, logged_tile, rgb, train


@pytest.fixture(scope="module", params=[False, True], ids=["sheet", "sample_images"])
def run(request, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("doc") / "actlog"
    model, logger, history, x, _ = train(run_dir, epochs=3, weights=True, overlays=2,
                                         maximize_every_n_epochs=2,
                                         sample_images=request.param)  # fmt: skip
    return run_dir, model, logger, history, x, request.param


def test_every_event_writes_one_document_under_actlogs_own_plugin(run):
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    run_dir, *_ = run
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert accumulator.PluginTagToContent(metadata.PLUGIN_NAME) == {metadata.EVENT_TAG: b"1"}
    docs = documents(run_dir)
    assert sorted(docs) == [actlog.INITIAL_STEP, 0, 1, 2]
    assert sorted(read_images(run_dir)["activations/conv_a"]) == sorted(docs)
    for step, document in docs.items():
        assert document["version"] == metadata.CONTENT_VERSION and document["step"] == step
        assert [layer["path"] for layer in document["layers"]] == ["conv_a", "conv_b"]


def test_the_numbers_are_those_of_the_whole_layer(run):
    """At the last event the weights are those after training: the slow reference is the
    model's own output on the probe, every position of every sample."""
    run_dir, model, _, _, x, _ = run
    document = documents(run_dir)[2]
    maps = actlog.extract(model, x)
    for path in ("conv_a", "conv_b"):
        layer = layer_doc(document, path)
        a = maps[path].astype(np.float64)
        flat = a.reshape(-1, a.shape[-1])
        assert layer["filters"]["dead"] == [int(i) for i in np.flatnonzero(flat.max(0) <= 0)]
        mean_abs = np.abs(flat).mean(0)
        dormant = np.flatnonzero(mean_abs / mean_abs.mean() <= 0.025)
        assert layer["filters"]["dormant"] == [int(i) for i in dormant]
        on_rate = (flat > 0).mean(0) * 1000  # every position: fewer than the sample's 16,384
        assert np.abs(np.array(layer["filters"]["on_rate"]) - on_rate).max() <= 1
        np.testing.assert_allclose(layer["filters"]["max"], flat.max(0), rtol=1e-3, atol=1e-6)
        assert layer["class"] == "Conv2D" and layer["shape"] == [None, *a.shape[1:]]
        assert layer["measured_at"] == path and layer["dead_applies"] is True


def test_the_logs_are_those_of_keras(run):
    run_dir, _, _, history, _, _ = run
    docs = documents(run_dir)
    assert docs[actlog.INITIAL_STEP]["logs"] == {}
    for epoch in range(3):
        logs = docs[epoch]["logs"]
        assert set(logs) == set(history.history)
        for name, values in history.history.items():
            assert logs[name] == pytest.approx(values[epoch], rel=1e-6)


def test_the_convergence_is_that_of_the_scalars(run):
    run_dir, *_ = run
    docs, scalars = documents(run_dir), read_scalars(run_dir)
    for step in (0, 1, 2):
        for path in ("conv_a", "conv_b"):
            logged = layer_doc(docs[step], path)["convergence"]
            assert logged["previous"] == pytest.approx(scalars[f"convergence/{path}"][step])
            assert logged["first"] == pytest.approx(scalars[f"convergence_to_first/{path}"][step])
    assert layer_doc(docs[actlog.INITIAL_STEP], "conv_a")["convergence"]["previous"] is None


def test_the_layout_finds_every_tile_in_the_logged_pixels(run):
    """Each filter's tile cut by the logged layout is that filter's map, normalized on its own
    (normalize="filter") and upscaled by a whole factor, as computed here from the model."""
    run_dir, model, _, _, x, sample_images = run
    document = documents(run_dir)[2]
    maps = actlog.extract(model, x)
    for path in ("conv_a", "conv_b"):
        layer = layer_doc(document, path)
        layout, dead = layer["grid"], set(layer["filters"]["dead"])
        assert layout["per_sample"] is sample_images and len(layout["origins"]) == len(x)
        assert layout["count"] == layout["total"] == maps[path].shape[-1]
        for sample in range(len(x)):
            grid = logged_grid(run_dir, document, path, 2, sample)
            assert grid.shape[:2] == tiles.sample_box(layout, sample)[3:]
            for index in range(layout["count"]):
                tile = logged_tile(grid, layout, index)
                if index in dead:  # framed in red, inside: a constant map is black
                    assert (tile[0] == [255, 40, 40]).all() and (tile[1:-1, 1:-1] == 0).all()
                    continue
                m = maps[path][sample, :, :, index].astype(np.float64)
                unit = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else 0 * m
                factor = layout["height"] // m.shape[0]
                expected = np.kron(np.floor(unit * 255 + 0.5), np.ones((factor, factor)))
                assert layout["width"] == m.shape[1] * factor
                assert np.abs(tile[..., 0].astype(int) - expected).max() <= 1


def test_weights_overlays_and_maximized_layouts_find_their_tiles(run):
    run_dir, model, _, _, x, _ = run
    docs = documents(run_dir)
    images = read_images(run_dir)
    maps = actlog.extract(model, x)
    for path in ("conv_a", "conv_b"):
        layouts = layer_doc(docs[2], path)["layouts"]
        kernel = actlog.layer_kernel(model.get_layer(path))  # (3, 3, inputs, filters)
        weights = rgb(decode_png(images[f"weights/{path}"][2][0]))
        mean = kernel.mean(axis=2)
        scale = np.abs(mean).max()
        for index in range(kernel.shape[-1]):
            tile = logged_tile(weights, layouts["weights"], index)[..., 0].astype(int)
            factor = layouts["weights"]["height"] // 3
            expected = np.kron(np.floor((0.5 + 0.5 * mean[..., index] / scale) * 255 + 0.5),
                               np.ones((factor, factor)))  # fmt: skip
            assert np.abs(tile - expected).max() <= 1
        overlays = layouts["overlays"]
        top = np.argsort(-maps[path].mean(axis=(1, 2)), axis=-1, kind="stable")[:, :2]
        assert overlays["filters"] == top.tolist()
        maximized = layer_doc(docs[1], path)["layouts"]["maximized"]  # logged at -1, 1
        assert maximized["filters"] == list(range(kernel.shape[-1]))
        assert "maximized" not in layer_doc(docs[2], path).get("layouts", {})


def test_a_document_with_nan_is_valid_json(tmp_path):
    """JSON has no NaN (a browser's JSON.parse rejects it): NaN and infinities are null. The NaN
    is put in a linear conv (a fused conv + ReLU maps NaN to 0 on some CPUs)."""
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, name="lin"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])  # fmt: skip
    x, _ = models.digit_data(16)
    conv = model.get_layer("lin")
    kernel = conv.kernel.numpy()
    kernel[..., 0] = np.nan
    conv.kernel.assign(kernel)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, layers=["lin"], verbose=0)
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_train_end()
    (document,) = documents(tmp_path).values()
    text = metadata.encode(document)

    def no_constant(name):
        raise AssertionError(f"{name} in the document")

    json.loads(text, parse_constant=no_constant)
    numbers = layer_doc(document, "lin")["filters"]
    assert numbers["max"][0] is None and numbers["on_rate"][0] is None
    assert None not in numbers["max"][1:]


def test_encode_and_decode():
    document = {"version": 1, "a": [1.5, math.nan, math.inf], "b": {"c": -math.inf}}
    assert metadata.decode(metadata.encode(document)) == {"version": 1, "a": [1.5, None, None],
                                                          "b": {"c": None}}  # fmt: skip
    with pytest.raises(ValueError, match="newer than this actlog reads"):
        metadata.decode(b'{"version": 99}')
    with pytest.raises(ValueError, match="JSON object"):
        metadata.decode(b"[1]")
    assert metadata.permille([0.5, 0.0004, math.nan]) == [500, 0, None]
    assert metadata.rounded([123456.0, 0.000123456, -math.inf]) == [123500.0, 0.0001235, None]


def test_the_run_index_answers_from_the_documents(run):
    run_dir, *_ = run
    index = data.RunIndex()
    docs = documents(run_dir)
    for step, document in docs.items():
        assert index.add(step, metadata.encode(document), version=step)
    assert not index.add(5, b'{"version": 99}') and index.steps == sorted(docs)
    overview = index.overview()
    assert overview["steps"] == [-1, 0, 1, 2]
    conv_a = overview["layers"][0]
    assert conv_a["path"] == "conv_a" and conv_a["filters"] == 4
    dead = [len(layer_doc(docs[s], "conv_a")["filters"]["dead"]) for s in overview["steps"]]
    assert conv_a["series"]["dead"] == dead
    assert conv_a["grids"] == [[-1, layer_doc(docs[-1], "conv_a")["grid"]]]  # never changed
    filters = index.filters("conv_a")
    assert filters["on_rate"][-1] == layer_doc(docs[2], "conv_a")["filters"]["on_rate"]
    one = index.filter("conv_a", 1)
    assert one["on_rate"][-1] == filters["on_rate"][-1][1] / 1000
    with pytest.raises(KeyError):
        index.filters("nope")
    with pytest.raises(IndexError):
        index.filter("conv_a", 4)
