"""The ``actlog`` command line, run as real subprocesses, and ``actlog.animate``.

Every subprocess imports TensorFlow (about 4 s), so they are all started at once by one
module fixture, in parallel, and each test checks one result.
"""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import actlog
from actlog.animate import label_strip_height, make_gif
from actlog.cli import Progress, load_image, main, sanitize_tag
from actlog.reader import RunReader, UnknownTagError, image_tags, read_image_series
from actlog.runs import find_run_dir
from tests import models

SCRIPT = Path(sys.executable).parent / "actlog"
CONV_TAGS = ["activations/conv_a", "activations/conv_b"]
STEPS = [-1, 0, 1, 2]


def rgb_model() -> keras.Model:
    """A functional model on 16x16 RGB images."""
    image = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(5, 3, activation="relu", name="rgb_a")(image)
    h = keras.layers.Conv2D(3, 3, padding="same", name="rgb_b")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(2, activation="softmax", name="head")(h)
    return keras.Model(image, out, name="rgb_model")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two saved models, image files, bad files and a logged training run."""
    root = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    models.sequential().save(root / "seq.keras")
    rgb_model().save(root / "rgb.keras")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / "colour.png")
    Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L").save(root / "grey.png")
    Image.fromarray(rng.integers(0, 256, (25, 40, 3), dtype=np.uint8)).save(root / "big.png")
    (root / "notamodel.keras").write_text("not a zip file\n")
    (root / "notanimage.png").write_bytes(b"no PNG here")

    x, y = models.digit_data(16)
    model = models.sequential()
    logger = actlog.ActivationLogger(
        x[:2], log_dir=root / "logs" / "actlog", stats=False, sample_images=True
    )
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[logger])
    return root


def commands(root: Path) -> dict[str, list[str]]:
    module = [sys.executable, "-m", "actlog.cli"]
    images = [str(root / name) for name in ("colour.png", "grey.png", "big.png")]
    seq, rgb = str(root / "seq.keras"), str(root / "rgb.keras")
    logs, run = str(root / "logs"), str(root / "logs" / "actlog")
    rgb_options = ["--layers", "rgb_*", "--cmap", "magma", "--max-filters", "4"]
    return {
        "render_seq": [*module, "render", seq, *images, "--out", str(root / "out_seq")],
        "render_rgb": [str(SCRIPT), "render", rgb, *images, "--out", "out_rgb", *rgb_options],
        "animate": [*module, "animate", logs, "--out", str(root / "anim" / "filters.gif")],
        "help": [*module, "--help"],
        "help_script": [str(SCRIPT), "--help"],
        "render_verbose": [*module, "--verbose", "render", seq, images[0], "--out",
                           str(root / "out_verbose")],
        "help_render": [*module, "render", "--help"],
        "help_animate": [*module, "animate", "--help"],
        "missing_model": [*module, "render", str(root / "nope.keras"), images[0]],
        "not_a_model": [*module, "render", str(root / "notamodel.keras"), images[0]],
        "missing_image": [*module, "render", seq, str(root / "nope.png")],
        "unreadable_image": [*module, "render", seq, str(root / "notanimage.png")],
        "unknown_layer": [*module, "render", seq, images[0], "--layers", "conv_x"],
        "unknown_tag": [*module, "animate", run, "--tag", "activations/nope", "--out", "x.gif"],
    }


@pytest.fixture(scope="module")
def results(work: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command's completed subprocess, run in parallel in the work directory."""
    assert SCRIPT.exists(), f"console script missing: {SCRIPT} (pip install -e .)"

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=work, capture_output=True, text=True, timeout=300, check=False
        )

    todo = commands(work)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = dict(zip(todo, pool.map(run, todo.values()), strict=True))
    return done


def grid_shape(model_path: Path, layer: str, **options: object) -> tuple[int, ...]:
    """The shape of the grid render_grids gives for one image through ``layer``."""
    model = keras.saving.load_model(model_path, compile=False)
    shape = model.get_layer(layer).output.shape[1:]
    grids, _ = actlog.render_grids(np.zeros((1, *shape), np.float32), **options)
    return grids.images.shape[1:]


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def grid_in(picture: np.ndarray, grid_h: int, grid_w: int, input_hw: tuple[int, int]
            ) -> np.ndarray:  # fmt: skip
    """The grid inside a rendered picture: below the caption strip, right of the input image
    (``input_hw``, scaled to the grid's height) and the black gap."""
    from actlog.sheet import SHEET_GAP, label_strip_height

    body = picture[label_strip_height():]
    assert body.shape[0] == grid_h
    start = round(input_hw[1] * grid_h / input_hw[0])
    assert (body[:, start : start + SHEET_GAP] == 0).all()
    return body[:, start + SHEET_GAP : start + SHEET_GAP + grid_w]


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def test_help_imports_no_backend():
    code = ("import sys; from actlog.cli import main; main(['--help']); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_commands_print_only_their_own_lines_unless_verbose(results):
    """The backend's C++ start-up lines (TensorFlow's cuda, oneDNN and absl lines) are hidden;
    what the command says, and Python's own warnings, still show."""
    for name in ("render_seq", "render_rgb", "animate", "missing_model", "unknown_layer"):
        lines = [line for line in results[name].stderr.splitlines() if line.strip()]
        assert all(line.startswith("actlog") for line in lines), (name, lines)
    verbose = results["render_verbose"]
    assert verbose.returncode == 0, verbose.stderr
    assert "wrote 2 PNG(s)" in verbose.stderr


def test_render_writes_one_grid_per_layer_and_image(work, results):
    result = results["render_seq"]
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split()
    assert len(printed) == 6
    for layer in ("conv_a", "conv_b"):
        expected = grid_shape(work / "seq.keras", layer)
        for stem in ("colour", "grey", "big"):
            path = work / "out_seq" / layer / f"{stem}.png"
            assert str(path) in printed
            picture = decode(path)
            assert picture.ndim == 2 and picture.shape[0] > expected[0]  # grey, captioned
            assert grid_in(picture, *expected[:2], (12, 12)).shape == expected[:2]
    assert "wrote 6 PNG(s): 2 layer(s) x 3 image(s)" in result.stderr


def test_render_rgb_model_through_console_script_matches_library(work, results):
    result = results["render_rgb"]
    assert result.returncode == 0, result.stderr
    model = keras.saving.load_model(work / "rgb.keras", compile=False)
    names = ("colour", "grey", "big")
    x = np.stack([load_image(work / f"{name}.png", 16, 16, 3) for name in names])
    assert x.shape == (3, 16, 16, 3) and x.min() >= 0.0 and x.max() <= 1.0
    maps = actlog.extract(model, x, ["rgb_a", "rgb_b"])
    for layer in ("rgb_a", "rgb_b"):
        options = {"cmap": "magma", "max_filters": 4}
        expected, _ = actlog.render_grids(maps[layer], **options)
        assert expected.images.shape[1:] == grid_shape(work / "rgb.keras", layer, **options)
        for index, name in enumerate(names):
            picture = decode(work / "out_rgb" / layer / f"{name}.png")
            assert picture.shape[-1] == 3  # colour map: RGB
            height, width = expected.images.shape[1:3]
            pixels = grid_in(picture, height, width, (16, 16))
            diff = np.abs(pixels.astype(int) - expected.images[index].astype(int))
            assert diff.max() <= 1  # same grids, up to a float rounding step


def test_animate_writes_one_frame_per_logged_step(work, results):
    result = results["animate"]
    assert result.returncode == 0, result.stderr
    assert "reading run" in result.stderr  # the parent directory resolved to logs/actlog
    paths = [work / "anim" / f"filters_activations_{layer}.gif" for layer in ("conv_a", "conv_b")]
    assert result.stdout.split() == [str(p) for p in paths]
    strip = label_strip_height()
    for path in paths:
        with Image.open(path) as gif:
            assert gif.n_frames == len(STEPS)
            assert gif.info["loop"] == 0
        below = [frame[strip:] for frame in gif_frames(path)]
        assert any(not np.array_equal(below[0], other) for other in below[1:])
        assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(below))  # labels differ


@pytest.mark.parametrize("name", ["help", "help_script", "help_render", "help_animate"])
def test_help(results, name):
    result = results[name]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # only the help: no backend's start-up lines
    assert "examples:" in result.stdout
    assert "actlog " in result.stdout
    if name == "help":
        assert "render" in result.stdout and "animate" in result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing_model", "Model file not found"),
        ("not_a_model", "Cannot load model"),
        ("missing_image", "Image file not found"),
        ("unreadable_image", "Cannot read image"),
        ("unknown_layer", "No layer of model 'seq' matches 'conv_x'"),
        ("unknown_tag", "activations/conv_a, activations/conv_b"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(results, name, expected):
    result = results[name]
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("actlog:")]
    assert len(ours) == 1 and ours[0].startswith("actlog: error: ")
    assert result.stderr.strip().splitlines()[-1] == ours[0]
    assert expected in ours[0]


# ------------------------------------------------------------------ actlog.animate, in-process


def test_read_image_series_and_tags(work):
    run = work / "logs" / "actlog"
    assert image_tags(run) == CONV_TAGS
    series = read_image_series(run, "activations/conv_a", sample=1)
    assert [step for step, _ in series] == STEPS
    assert all(image.dtype == np.uint8 and image.ndim == 2 for _, image in series)
    with pytest.raises(UnknownTagError, match="activations/conv_a, activations/conv_b") as info:
        read_image_series(run, "activations/nope")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="no sample 2"):
        RunReader(run).series("activations/conv_a", sample=2)
    with pytest.raises(FileNotFoundError):
        image_tags(work / "absent")
    assert find_run_dir(work / "logs") == run
    assert find_run_dir(run) == run
    assert find_run_dir(work / "anim") is None


def test_make_gif_keeps_pixels_below_a_label_strip_and_is_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    colour = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    frames = [(-1, grey), (0, grey), (5, colour)]
    first = make_gif(frames, tmp_path / "a.gif", duration_ms=100, label="step")
    make_gif(frames, tmp_path / "b.gif", duration_ms=100, label="step")
    assert first.read_bytes() == (tmp_path / "b.gif").read_bytes()
    decoded = gif_frames(first)
    assert len(decoded) == 3
    assert len({frame.shape for frame in decoded}) == 1
    strip = label_strip_height()
    height, width = decoded[0].shape[:2]
    assert height == strip + 20 and width >= 30
    left = (width - 30) // 2
    for frame in decoded[:2]:  # grey pixels survive exactly, under the strip
        np.testing.assert_array_equal(frame[strip:, left : left + 30, 0], grey)
    assert not np.array_equal(decoded[0][:strip], decoded[1][:strip])  # different captions
    only_grey = gif_frames(make_gif([(1, grey)], tmp_path / "g.gif"))[0]
    assert (only_grey == only_grey[..., :1]).all()  # stays grey
    with pytest.raises(ValueError, match="at least one frame"):
        make_gif([], tmp_path / "none.gif")


def test_animate_in_process_one_tag_and_bad_sample(work, capsys):
    run = work / "logs" / "actlog"
    target = work / "single" / "conv_b.gif"
    assert main(["animate", str(run), "--tag", "conv_b", "--out", str(target)]) == 0
    assert capsys.readouterr().out.split() == [str(target)]  # one tag: exactly FILE.gif
    assert [p.name for p in target.parent.iterdir()] == ["conv_b.gif"]
    with Image.open(target) as gif:
        assert gif.n_frames == len(STEPS)
    assert main(["animate", str(run), "--sample", "5", "--out", str(target)]) == 2
    assert "no sample 5" in capsys.readouterr().err
    assert sanitize_tag("activations/backbone/block_1") == "activations_backbone_block_1"


def test_progress_draws_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, pipe = Terminal(), io.StringIO()
    for stream in (screen, pipe):
        with Progress("rendering", 3, "layers", stream) as progress:
            for done in range(1, 4):
                progress.update(done)
    assert "\rrendering 2/3 layers" in screen.getvalue()
    assert screen.getvalue().endswith("\r")  # the line is erased at the end
    assert pipe.getvalue() == ""
