"""The size of a logging event: every image sized to its share of ``max_event_mb``."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import actlog
from actlog.reader import decode_png, read_image_events
from tests import models

layers = keras.layers


def unet(size=64):
    """A small U-Net: two stages down, one up with a skip connection."""
    x_in = keras.Input((size, size, 3))
    d1 = layers.Conv2D(32, 3, padding="same", activation="relu", name="down1")(x_in)
    d2 = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="down2")(d1)
    up = layers.UpSampling2D(name="up")(d2)
    u1 = layers.Conv2D(32, 3, padding="same", activation="relu", name="up1")(
        layers.Concatenate(name="skip")([up, d1])
    )
    out = layers.Conv2D(2, 1, name="mask")(u1)
    model = keras.Model(x_in, out)
    model.compile("sgd", "mse")
    return model


def event_bytes(log_dir, step):
    events = read_image_events(log_dir)
    return sum(len(png) for per_tag in events.values() for event in per_tag
               if event.step == step for png in event.pngs)  # fmt: skip


@pytest.mark.parametrize("budget", [0.25, 1.0])
def test_a_unet_with_overlays_stays_within_max_event_mb(tmp_path, budget):
    model = unet()
    x = np.random.default_rng(0).random((8, 64, 64, 3), dtype=np.float32)
    logger = actlog.ActivationLogger(x, log_dir=tmp_path, overlays=3, weights=True,
                                     max_event_mb=budget, min_tile_size=32)  # fmt: skip
    model.fit(x, np.zeros((8, 64, 64, 2), np.float32), epochs=1, batch_size=8, verbose=0,
              callbacks=[logger])  # fmt: skip
    tags = {tag.split("/")[0] for tag in read_image_events(tmp_path)}
    assert tags == {"activations", "filter_health", "overlays", "weights"}
    assert 0 < event_bytes(tmp_path, 0) <= budget * 1e6


@pytest.mark.filterwarnings("ignore:actlog. at the end of training:RuntimeWarning")
def test_the_growing_timeline_stays_within_its_share(tmp_path):
    """The filter-health timeline gains a column per event, but narrows its cells (then shows
    only the most recent steps) to keep to its share: every event stays within max_event_mb."""
    model = models.sequential()
    x, y = models.digit_data(8)
    logger = actlog.ActivationLogger(x, log_dir=tmp_path, max_event_mb=0.01, verbose=0,
                                     max_image_size=64)  # fmt: skip
    model.fit(x, y, epochs=80, batch_size=8, verbose=0, callbacks=[logger])
    events = read_image_events(tmp_path)["filter_health/conv_b"]
    widths = [decode_png(event.pngs[0]).shape[1] for event in events]
    assert widths[:7] == [8 * n for n in range(1, 8)]  # 8-pixel columns while they fit
    assert max(widths) <= 64 and widths[-1] < 81  # then narrower: the most recent steps
    assert all(0 < event_bytes(tmp_path, step) <= 10_000 for step in range(-1, 80))


def test_the_budget_scales_the_images(tmp_path):
    model = unet()
    x = np.random.default_rng(0).random((8, 64, 64, 3), dtype=np.float32)
    sizes = []
    for budget in (0.1, 2.0):
        log_dir = tmp_path / str(budget)
        logger = actlog.ActivationLogger(x, log_dir=log_dir, max_event_mb=budget,
                                         log_initial=False, stats=False)  # fmt: skip
        model.fit(x, np.zeros((8, 64, 64, 2), np.float32), epochs=1, batch_size=8, verbose=0,
                  callbacks=[logger])  # fmt: skip
        sizes.append(event_bytes(log_dir, 0))
    assert sizes[0] <= 0.1e6 < sizes[1] <= 2e6


@pytest.mark.parametrize("bad", [0, -1.0, True, "5"])
def test_max_event_mb_must_be_positive(bad):
    with pytest.raises(ValueError, match="max_event_mb must be a number of megabytes > 0"):
        actlog.ActivationLogger(np.zeros((1, 8, 8, 1), np.float32), max_event_mb=bad)
