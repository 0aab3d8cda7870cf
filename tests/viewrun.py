"""Real runs for the view's tests: tiny models really trained with the logger, and what the
view must show read back from the event files, the slow and obvious way."""

from __future__ import annotations

import os

import keras
import numpy as np

import actlog
from actlog.reader import decode_png, read_images
from actlog.view import tiles
from actlog.view.metadata import EVENT_TAG, decode
from tests import models


def train(log_dir, epochs=4, probe=4, learning_rate=1e-3, seed=0, **options):
    """Trains the tiny Sequential CNN of tests.models with an ActivationLogger on ``log_dir``;
    returns (model, logger, history, probe x, probe y)."""
    keras.utils.set_random_seed(seed)
    model = models.sequential()
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    x, y = models.digit_data(32, seed=seed)
    logger = actlog.ActivationLogger((x[:probe], y[:probe]), log_dir=os.fspath(log_dir),
                                     verbose=0, **options)  # fmt: skip
    history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[logger])
    logger.flush()
    return model, logger, history, x[:probe], y[:probe]


def documents(run_dir) -> dict[int, dict]:
    """Step -> the view's document, read with TensorBoard's own loader."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    accumulator = EventAccumulator(os.fspath(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {event.step: decode(event.tensor_proto.string_val[0])
            for event in accumulator.Tensors(EVENT_TAG)}  # fmt: skip


def layer_doc(document: dict, path: str) -> dict:
    return next(layer for layer in document["layers"] if layer["path"] == path)


def logged_grid(run_dir, document: dict, path: str, step: int, sample: int) -> np.ndarray:
    """Probe sample ``sample``'s grid of layer ``path`` at ``step``, RGB, cut from the logged
    PNG by the document's layout."""
    layer = layer_doc(document, path)
    layout = layer["grid"]
    image, top, left, height, width = tiles.sample_box(layout, sample)
    png = read_images(run_dir)[f"activations/{layer['key']}"][step][image]
    return rgb(decode_png(png))[top : top + height, left : left + width]


def logged_tile(grid: np.ndarray, layout: dict, index: int) -> np.ndarray:
    top, left, height, width = tiles.tile_box(layout, index)
    return grid[top : top + height, left : left + width]


def rgb(pixels: np.ndarray) -> np.ndarray:
    """(h, w, 1 or 3 or 4) uint8 as (h, w, 3)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[-1] == 1:
        return np.repeat(pixels, 3, axis=-1)
    return pixels[..., :3]


def upscale(pixels: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
