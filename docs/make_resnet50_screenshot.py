"""Makes docs/resnet50_tensorboard.png: a ResNet50 run as a user sees it in TensorBoard.

ResNet50 (weights=None, 224x224) with actlog's defaults, trained 2 epochs on 64 synthetic
digits (actlog.datasets, scaled to 224x224 RGB), then a real ``tensorboard`` server on
127.0.0.1 and a headless Chromium screenshot of its Images dashboard.

    python docs/make_resnet50_screenshot.py      # needs chromium on PATH; about 3 minutes
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from PIL import Image

import actlog
from actlog.datasets import synthetic_digits

OUT = Path(__file__).with_name("resnet50_tensorboard.png")


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = synthetic_digits(n, seed=0)
    x = np.kron(x[..., 0], np.ones((8, 8), np.float32))  # 28x28 -> 224x224
    return np.repeat(x[..., None], 3, axis=-1) * 255.0, y


def train(log_dir: Path) -> None:
    keras.utils.set_random_seed(0)
    backbone = keras.applications.ResNet50(weights=None, include_top=False,
                                           input_shape=(224, 224, 3))  # fmt: skip
    inputs = keras.Input((224, 224, 3))
    h = keras.applications.resnet50.preprocess_input(keras.layers.RandomFlip()(inputs))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(backbone(h)))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(64)
    logger = actlog.ActivationLogger((x[:8], y[:8]), log_dir=log_dir / "actlog")
    model.fit(x, y, epochs=2, batch_size=16, verbose=2, callbacks=[logger])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot(log_dir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host",
         "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2)
                break
            except OSError:
                time.sleep(1)
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={OUT}", "--window-size=1500,1900", "--virtual-time-budget=30000",
             f"http://127.0.0.1:{port}/#images"],
            check=True, capture_output=True, timeout=180,
        )
        with Image.open(OUT) as image:  # the cards, without the empty page below them
            image.crop((0, 0, image.width, 1180)).save(OUT, optimize=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        train(Path(tmp))
        screenshot(Path(tmp))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
