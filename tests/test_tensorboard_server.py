"""A real TensorBoard server on 127.0.0.1 serves what ActivationLogger wrote, over HTTP."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import actlog
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
