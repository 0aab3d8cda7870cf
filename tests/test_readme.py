"""The README tells the truth: its Python examples run as written, what their comments show is
what they give, and every test its fault table names exists.

The examples run in order in one namespace, as in a notebook, on the demo's model
(``train_example.build_model``, compiled) trained briefly on the synthetic digits, with ``x_train``,
``y_train``, ``x_val``, ``y_val`` and ``probe`` defined, in a fresh working directory and with
an offline W&B.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import actlog
from actlog.datasets import synthetic_digits
from actlog.reader import read_images

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

#: Examples that need more than one process, and the tests that run them instead.
RUN_ELSEWHERE = {"keras.distribution.initialize": "tests/multiprocess_worker.py"}


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_examples_run_and_show_what_their_comments_say(tf, tmp_path, monkeypatch,
                                                                  wandb_root):  # fmt: skip
    # tf: the examples use Keras's TensorBoard callback and wandb's WandbMetricsLogger.
    import train_example

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    x, y = synthetic_digits(96, seed=0)
    model = train_example.build_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x_train, y_train, x_val, y_val = x[:64], y[:64], x[64:], y[64:]
    namespace = {"actlog": actlog, "keras": keras, "model": model, "probe": x_val[:8],
                 "x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}
    examples = python_examples()
    assert len(examples) >= 5
    ran = 0
    for code in examples:
        if any(marker in code for marker in RUN_ELSEWHERE):
            continue
        exec(compile(code, "README.md", "exec"), namespace)
        ran += 1
    assert ran == len(examples) - 1

    # Quickstart, and TensorBoard and W&B at once: both write every epoch under logs/actlog.
    steps = read_images(tmp_path / "logs" / "actlog")["activations/conv2d"]
    assert sorted(set(steps)) == list(range(-1, 10))
    # "maps = actlog.extract(model, x_val[:4])  # {"conv2d": (4, 26, 26, 32), ...}"
    assert namespace["maps"]["conv2d"].shape == (4, 26, 26, 32)
    assert namespace["grids"].images.shape == (4, 161, 161, 3)
    assert namespace["grids"].images.dtype == np.uint8
    # "stats["conv2d"]   # {"dead": [3, 17], "dormant": [...], "dead_fraction": ..., "floor": 0.0"
    conv = namespace["stats"]["conv2d"]
    assert {"dead", "dormant", "dead_fraction", "floor"} <= set(conv) and conv["floor"] == 0.0
    # "features.shape  # (256, 32)", "actlog.linear_cka(features, 2.0 * features, ...)   # 1.0"
    features = namespace["features"]
    assert features.shape == (256, 32)
    assert actlog.linear_cka(features, 2.0 * features, debiased=True) == pytest.approx(1.0,
                                                                                        abs=1e-6)
    # "images = actlog.maximize(model, "conv2d_1", filters=range(16))   # (16, 28, 28, 1) ..."
    images = namespace["images"]
    assert images.shape == (16, 28, 28, 1) and images.min() >= 0 and images.max() <= 1


def fault_table_tests() -> list[tuple[str, str]]:
    table = README[README.index("| Fault | What actlog does"):]
    table = table[: table.index("\n\n")]
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", table)
    named += [(None, name) for name in re.findall(r", `(test_\w+)`", table)]
    return named


def test_every_test_the_fault_table_names_exists():
    named = fault_table_tests()
    assert len(named) >= 13
    defined = {
        path.name: {node.name for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.FunctionDef)}
        for path in (ROOT / "tests").glob("test_*.py")
    }  # fmt: skip
    every = set().union(*defined.values())
    for file, name in named:
        if file is None:
            assert name in every, name
            continue
        assert file in defined, file
        assert not name or name in defined[file], f"{file}::{name}"


@pytest.mark.parametrize("marker, test", RUN_ELSEWHERE.items())
def test_an_example_not_run_here_is_run_by_its_test(marker, test):
    assert any(marker in code for code in python_examples())
    assert f"{marker}(" in (ROOT / test).read_text()


def test_the_command_line_block_runs_as_printed(tmp_path):
    """The README's "The command line" block, each line run by a shell as printed (the `actlog`
    script found on the PATH, no venv activated), in a directory holding what it names; every
    file its comments name is written."""
    import os
    import subprocess
    import sys

    from PIL import Image

    import train_example

    block = re.search(r"## The command line\n\n```bash\n(.*?)```", README, re.S).group(1)
    model = train_example.build_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = synthetic_digits(16, seed=0)
    model.save(tmp_path / "model.keras")
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "logs" / "actlog", verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 40, 3)) * 255).astype(np.uint8)).save(tmp_path / "cat.png")
    Image.fromarray((rng.random((50, 30, 3)) * 255).astype(np.uint8)).save(tmp_path / "dog.jpg")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"}
    env.pop("VIRTUAL_ENV", None)
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 5
    for line in lines:
        command, _, comment = line.partition("#")
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, (line, done.stderr)
        for named in re.findall(r"[\w/]+\.(?:png|gif|html)", comment):
            assert (tmp_path / named).is_file(), (line, named, sorted(os.listdir(tmp_path)))
