"""A real TensorBoard server on 127.0.0.1 serves what ActivationLogger wrote, over HTTP."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import actlog
import actlog.reader
from actlog.reader import decode_png, read_images
from tests import models
from tests.tbserver import tensorboard_server


def test_tensorboard_serves_the_activation_grids(tf, tmp_path):  # Keras's callback needs TF
    model = models.sequential()
    x, y = models.digit_data(16)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tmp_path)),
        actlog.ActivationLogger((x[:3], y[:3]), log_dir=tmp_path / "actlog", sample_images=True),
    ]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    written = read_images(tmp_path / "actlog")

    with tensorboard_server(tmp_path, expect_runs=["actlog"]) as server:
        tags = server.tags()
        assert set(tags["actlog"]) == {"activations/conv_a", "activations/conv_b",
                                       "filter_health/conv_a", "filter_health/conv_b"}
        assert "one row per filter" in tags["actlog"]["filter_health/conv_b"]["description"]
        assert tags["actlog"]["activations/conv_a"]["samples"] == 3
        assert "probe 2: label" in tags["actlog"]["activations/conv_a"]["description"]
        for sample in range(3):
            entries = server.images("actlog", "activations/conv_b", sample=sample)
            assert [entry["step"] for entry in entries] == [actlog.INITIAL_STEP, 0, 1]
            for entry in entries:
                png = server.image_bytes(entry["query"])
                assert png == written["activations/conv_b"][entry["step"]][sample]
                assert decode_png(png).shape[:2] == (37, 56)
        last = server.image_bytes(server.images("actlog", "activations/conv_a", 0)[-1]["query"])
        assert np.ptp(decode_png(last)) > 0


def test_custom_scalars_tab_puts_every_layer_of_a_kind_on_one_chart(tmp_path):
    # Two runs: their layouts merge into one category, each chart once, showing both runs.
    x, y = models.digit_data(16)
    written = {}
    for run in ("a", "b"):
        model = models.sequential()
        logger = actlog.ActivationLogger(x[:4], log_dir=tmp_path / run, verbose=0)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
        written[run] = actlog.reader.read_scalars(tmp_path / run)
    kinds = ("dead_filters", "dormant_filters", "on_rate", "convergence")
    for scalars in written.values():  # what the charts must show: every layer of each kind
        for kind in kinds:
            assert {f"{kind}/conv_a", f"{kind}/conv_b"} <= set(scalars), kind

    with tensorboard_server(tmp_path, expect_runs=["a", "b"]) as server:
        layout = server.get_json("/data/plugin/custom_scalars/layout")
        [category] = layout["category"]
        assert category["title"] == "actlog: every layer on one chart"
        regexes = [chart["multiline"]["tag"] for chart in category["chart"]]
        assert regexes == [[f"{kind}/.*"] for kind in kinds]
        for kind in kinds:
            for run in ("a", "b"):
                answer = server.wait_for_json(
                    "/data/plugin/custom_scalars/scalars", {"run": run, "tag": f"{kind}/.*"},
                    lambda answer: len(answer["tag_to_events"]) == 2)  # fmt: skip
                for tag, series in answer["tag_to_events"].items():
                    assert tag.startswith(f"{kind}/")
                    served = {step: value for _, step, value in series}
                    assert served == pytest.approx(written[run][tag], rel=1e-6), tag
