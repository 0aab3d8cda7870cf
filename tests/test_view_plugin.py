"""The actlog tab's plugin on a real TensorBoard server (127.0.0.1): found through its entry
point, active only where actlog wrote, every step served whatever --samples_per_plugin says and
with either loader, and what is there served from a truncated or growing run."""

import argparse
import base64
import logging
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter

import actlog
from actlog.reader import decode_png, read_images
from actlog.view import plugin as view_plugin
from tests import models
from tests.tbserver import TensorBoardHTTPError, tensorboard_server
from tests.viewrun import documents, layer_doc, logged_grid, logged_tile, rgb, train

ROUTES = "/data/plugin/actlog"
EPOCHS = 11  # 12 events: more than the 3 images per tag the server is told to keep


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """Two actlog runs (two learning rates) and a run of scalars only, as Keras's TensorBoard
    callback writes them (through TensorBoard's own writer: no TensorFlow needed)."""
    root = tmp_path_factory.mktemp("view")
    train(root / "lr_small", epochs=EPOCHS, learning_rate=1e-3, weights=True)
    train(root / "lr_large", epochs=3, learning_rate=5e-2, seed=1)
    writer = EventFileWriter(str(root / "keras" / "train"))
    for epoch, loss in enumerate([1.1, 0.7]):
        writer.add_event(event_pb2.Event(step=epoch, wall_time=time.time(),
                                         summary=scalar_pb("epoch_loss", loss)))  # fmt: skip
    writer.close()
    return root


def test_the_plugin_imports_neither_tensorflow_nor_keras():
    code = ("import sys, actlog.view.plugin; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_entry_point_names_the_loader():
    from importlib import metadata

    (entry,) = [e for e in metadata.entry_points(group="tensorboard_plugins") if e.name == "actlog"]
    assert entry.load() is view_plugin.ActlogLoader


@pytest.mark.parametrize("load_fast", [False, True], ids=["python_loader", "rust_data_server"])
def test_every_step_is_served_whatever_samples_per_plugin_says(logdir, load_fast):
    run_dir = logdir / "lr_small"
    written = read_images(run_dir)
    docs = documents(run_dir)
    with tensorboard_server(logdir, samples_images=3, fast_start=True, load_fast=load_fast,
                            expect_runs=["lr_small", "lr_large"]) as server:  # fmt: skip
        listing = server.get_json("/data/plugins_listing")["actlog"]
        assert listing["enabled"] is True and listing["tab_name"] == "actlog"
        assert listing["loading_mechanism"] == {
            "type": "IFRAME", "module_path": "/data/plugin/actlog/static/index.js"}
        runs = server.get_json(f"{ROUTES}/runs")
        assert runs == [{"run": "lr_large", "last_step": 2},
                        {"run": "lr_small", "last_step": EPOCHS - 1}]  # fmt: skip
        overview = server.get_json(f"{ROUTES}/run", {"run": "lr_small"})
        assert overview["steps"] == sorted(docs) == list(range(-1, EPOCHS))
        conv_b = overview["layers"][1]
        assert conv_b["images"]["activations"] == overview["steps"]
        assert conv_b["tags"]["weights"] == "weights/conv_b"
        for step in overview["steps"]:
            png = server.get_bytes(f"{ROUTES}/image", {"run": "lr_small", "step": step,
                                                        "tag": "activations/conv_b"})  # fmt: skip
            assert png == written["activations/conv_b"][step][0]
        # the images plugin's sampling is TensorBoard's: raised for the stock Images tab too
        assert len(server.images("lr_small", "activations/conv_b")) == EPOCHS + 1
        assert "keeping 1000 images per tag rather than the 3 asked" in server.log_text()


def test_filters_filter_and_filmstrip_routes_answer_from_what_was_logged(logdir):
    run_dir = logdir / "lr_small"
    docs = documents(run_dir)
    with tensorboard_server(logdir, fast_start=True, expect_runs=["lr_small"]) as server:
        filters = server.get_json(f"{ROUTES}/filters", {"run": "lr_small", "layer": "conv_a"})
        assert filters["steps"] == sorted(docs)
        for row, step in enumerate(filters["steps"]):
            logged = layer_doc(docs[step], "conv_a")["filters"]
            assert filters["on_rate"][row] == logged["on_rate"]
            assert filters["dead"][row] == logged["dead"]
        one = server.get_json(f"{ROUTES}/filter", {"run": "lr_small", "layer": "conv_a",
                                                    "filter": 2})  # fmt: skip
        assert one["on_rate"] == [r[2] / 1000 for r in filters["on_rate"]]
        for kind, sample in (("activations", 3), ("weights", 0)):
            strip = server.get_json(f"{ROUTES}/filmstrip", {"run": "lr_small", "layer": "conv_a",
                                                            "filter": 2, "sample": sample,
                                                            "kind": kind})  # fmt: skip
            assert strip["steps"] == sorted(docs)
            pixels = decode_png(base64.b64decode(strip["png"].split(",", 1)[1]))
            for i, step in enumerate(strip["steps"]):
                row, col = divmod(i, strip["cols"])
                frame = pixels[row * strip["height"] : (row + 1) * strip["height"],
                               col * strip["width"] : (col + 1) * strip["width"]]  # fmt: skip
                if kind == "activations":
                    grid = logged_grid(run_dir, docs[step], "conv_a", step, sample)
                    layout = layer_doc(docs[step], "conv_a")["grid"]
                else:
                    layout = layer_doc(docs[step], "conv_a")["layouts"]["weights"]
                    grid = rgb(decode_png(read_images(run_dir)["weights/conv_a"][step][0]))
                np.testing.assert_array_equal(frame, logged_tile(grid, layout, 2))


def test_bad_requests_say_what_is_wrong(logdir):
    with tensorboard_server(logdir, fast_start=True, expect_runs=["lr_small"]) as server:
        cases = [
            ("run", {}, 400, "missing argument 'run'"),
            ("run", {"run": "keras"}, 404, "no actlog data in run 'keras'"),
            ("filters", {"run": "lr_small", "layer": "nope"}, 404, "no layer 'nope'"),
            ("filter", {"run": "lr_small", "layer": "conv_a", "filter": 99}, 404, "filter 99"),
            ("image", {"run": "lr_small", "tag": "activations/conv_a", "step": 99}, 404,
             "no image 0 of 'activations/conv_a' at step 99"),
            ("image", {"run": "lr_small", "tag": "activations/conv_a", "step": "x"}, 400,
             "step must be a whole number"),
            ("filmstrip", {"run": "lr_small", "layer": "conv_a", "filter": 0, "kind": "x"}, 400,
             "kind must be one of"),
            ("static/../plugin.py", {}, 404, "not found"),
        ]
        for route, params, status, text in cases:
            with pytest.raises(TensorBoardHTTPError) as caught:
                server.get_bytes(f"{ROUTES}/{route}", params)
            assert caught.value.status == status and text in caught.value.body, route


def test_the_tab_is_inactive_without_actlog_data(logdir):
    with tensorboard_server(logdir / "keras", fast_start=True, expect_runs=[]) as server:
        assert server.get_json("/data/plugins_listing")["actlog"]["enabled"] is False
        assert server.get_json(f"{ROUTES}/runs") == []


def test_a_truncated_event_file_serves_the_steps_before_the_cut(logdir, tmp_path):
    run_dir = tmp_path / "cut" / "actlog"
    shutil.copytree(logdir / "lr_small", run_dir)
    (event_file,) = [p for p in run_dir.iterdir() if p.name.startswith("events.out")]
    data = event_file.read_bytes()
    cut = data.rfind(b"actlog/event")  # inside the record of the last event's document
    event_file.write_bytes(data[:cut])
    with tensorboard_server(run_dir.parent, fast_start=True, expect_runs=["actlog"]) as server:
        overview = server.get_json(f"{ROUTES}/run", {"run": "actlog"})
        assert overview["steps"] == list(range(-1, EPOCHS - 1))  # the last document is cut
        assert server.get_bytes(f"{ROUTES}/image", {"run": "actlog", "step": EPOCHS - 2,
                                                     "tag": "activations/conv_a"})  # fmt: skip


def test_a_run_still_being_written_shows_each_new_step(tmp_path):
    model = models.sequential()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "live", verbose=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    with tensorboard_server(tmp_path, fast_start=True, expect_runs=["live"]) as server:
        assert server.get_json(f"{ROUTES}/run", {"run": "live"})["steps"] == [-1, 0, 1]
        model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])  # appends steps 2 and 3
        overview = server.wait_for_json(f"{ROUTES}/run", {"run": "live"},
                                        lambda answer: len(answer["steps"]) == 5)  # fmt: skip
        assert overview["steps"] == [-1, 0, 1, 2, 3]
        assert overview["layers"][0]["images"]["activations"] == [-1, 0, 1, 2, 3]


@pytest.mark.parametrize(("given", "kept", "warned"), [
    ({}, {"images": 1000, "actlog": 0}, False),
    ({"images": 10}, {"images": 1000, "actlog": 0}, True),
    ({"images": 0, "scalars": 5}, {"images": 0, "actlog": 0, "scalars": 5}, False),
    ({"images": 5000}, {"images": 5000, "actlog": 0}, False),
    ("images=10,histograms=3", {"images": 1000, "actlog": 0, "histograms": 3}, True),
])  # fmt: skip
def test_the_loader_keeps_every_step_the_view_shows(given, kept, warned, caplog):
    flags = argparse.Namespace(samples_per_plugin=given)
    with caplog.at_level(logging.WARNING, logger=view_plugin.__name__):
        view_plugin.ActlogLoader().fix_flags(flags)
    assert flags.samples_per_plugin == kept
    assert ("keeping 1000 images per tag rather than the 10 asked" in caplog.text) is warned
