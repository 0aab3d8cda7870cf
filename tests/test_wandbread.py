"""Real offline wandb runs, read back from their files by `tests.wandbread`."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import wandb
from PIL import Image

from tests.wandbread import (
    BLOCK_SIZE,
    FIRST,
    FULL,
    LAST,
    MIDDLE,
    WandbFileError,
    chunk_crc,
    find_run_dir,
    history_rows,
    media_files,
    media_path,
    metric_definitions,
    offline_env,
    read_payloads,
    read_records,
    run_config,
    run_file,
)

STEPS = 3
IMAGES_PER_STEP = 2
LIST_SHAPE = (8, 12, 3)  # height, width, channels
SINGLE_SHAPE = (5, 7)
HIST_SAMPLES = 200
BIG_CONFIG = "x" * (2 * BLOCK_SIZE + 1000)  # one record over three blocks


@dataclass
class LoggedRun:
    """An offline run that has finished, and what was logged to it."""

    run_dir: Path
    lists: list[list[np.ndarray]]  # per step, the images logged as a list
    singles: list[np.ndarray]  # per step, the image logged alone
    histograms: list[tuple[np.ndarray, np.ndarray]]  # per step, (counts, edges)
    run_was_disabled: bool
    run_after_finish: object


def _image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 image that is not blank: a gradient plus noise."""
    ramp = np.linspace(0, 200, shape[1], dtype=np.float64)
    image = np.broadcast_to(ramp[None, :, None] if len(shape) == 3 else ramp[None, :], shape)
    return (image + rng.integers(0, 50, shape)).astype(np.uint8)


def _log_run(root: Path) -> LoggedRun:
    """Log images, a histogram and scalars to a real offline run under `root`, then finish it."""
    rng = np.random.default_rng(0)
    lists, singles, histograms = [], [], []
    run = wandb.init(
        project="actlog-test",
        dir=str(root),
        config={"lr": 0.1, "nested": {"depth": 2}, "blob": BIG_CONFIG},
    )
    run.define_metric("actlog/step")
    run.define_metric("activations/*", step_metric="actlog/step")
    for step in range(STEPS):
        images = [_image(rng, LIST_SHAPE) for _ in range(IMAGES_PER_STEP)]
        single = _image(rng, SINGLE_SHAPE)
        counts, edges = np.histogram(rng.normal(size=HIST_SAMPLES), bins=8)
        run.log(
            {
                "activations/conv2d": [
                    wandb.Image(image, caption=f"filter {i} step {step}")
                    for i, image in enumerate(images)
                ],
                "activations/single": wandb.Image(single, caption=f"single {step}"),
                "activations/hist": wandb.Histogram(np_histogram=(counts, edges)),
                "actlog/step": 10 * step,
                "loss": 1.0 / (step + 1),
            }
        )
        lists.append(images)
        singles.append(single)
        histograms.append((counts, edges))
    was_disabled = run.disabled
    run.finish()
    return LoggedRun(find_run_dir(root), lists, singles, histograms, was_disabled, wandb.run)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> LoggedRun:
    """One finished offline run shared by the tests of this module."""
    root = tmp_path_factory.mktemp("wandb_run")
    with pytest.MonkeyPatch.context() as mp:
        offline_env(mp, root)
        try:
            return _log_run(root)
        finally:
            # Stops wandb-core and unsets the WANDB_SERVICE variable that wandb.init exports.
            wandb.teardown()


def test_run_layout_and_state(logged_run: LoggedRun) -> None:
    assert logged_run.run_dir.name.startswith("offline-run-")
    path = run_file(logged_run.run_dir)
    assert path.name.startswith("run-") and path.suffix == ".wandb"
    assert logged_run.run_was_disabled is False
    assert logged_run.run_after_finish is None


def test_records_parse_and_span_blocks(logged_run: LoggedRun) -> None:
    path = run_file(logged_run.run_dir)
    assert path.stat().st_size > 2 * BLOCK_SIZE
    kinds = [r.WhichOneof("record_type") for r in read_records(path)]
    assert kinds[0] == "header"
    assert {"run", "metric", "history", "summary"} <= set(kinds)
    assert kinds.count("history") == STEPS
    config = run_config(path)
    assert config["blob"] == BIG_CONFIG  # reassembled from first/middle/last chunks
    assert config["lr"] == 0.1
    assert config["nested"] == {"depth": 2}


def test_history_keys_and_scalars(logged_run: LoggedRun) -> None:
    rows = history_rows(run_file(logged_run.run_dir))
    assert len(rows) == STEPS
    for step, row in enumerate(rows):
        assert set(row) == {
            "activations/conv2d",
            "activations/single",
            "activations/hist",
            "actlog/step",
            "loss",
            "_step",
            "_runtime",
            "_timestamp",
        }
        assert row["_step"] == step
        assert row["actlog/step"] == 10 * step
        assert row["loss"] == pytest.approx(1.0 / (step + 1))


def test_image_list_rows(logged_run: LoggedRun) -> None:
    rows = history_rows(run_file(logged_run.run_dir))
    height, width, _ = LIST_SHAPE
    for step, row in enumerate(rows):
        value = row["activations/conv2d"]
        assert value["_type"] == "images/separated"
        assert value["count"] == IMAGES_PER_STEP
        assert value["format"] == "png"
        assert (value["width"], value["height"]) == (width, height)
        assert value["captions"] == [f"filter {i} step {step}" for i in range(IMAGES_PER_STEP)]
        files = media_files(logged_run.run_dir, value)
        assert len(files) == IMAGES_PER_STEP
        for file, expected in zip(files, logged_run.lists[step], strict=True):
            assert file.is_file()
            with Image.open(file) as image:
                assert image.size == (width, height)
                pixels = np.asarray(image.convert("RGB"))
            assert np.ptp(pixels) > 0
            np.testing.assert_array_equal(pixels, expected)


def test_single_image_rows(logged_run: LoggedRun) -> None:
    rows = history_rows(run_file(logged_run.run_dir))
    height, width = SINGLE_SHAPE
    for step, row in enumerate(rows):
        value = row["activations/single"]
        assert value["_type"] == "image-file"
        assert value["caption"] == f"single {step}"
        assert (value["width"], value["height"]) == (width, height)
        file = media_path(logged_run.run_dir, value["path"])
        assert media_files(logged_run.run_dir, value) == [file]
        data = file.read_bytes()
        assert value["size"] == len(data)
        assert value["sha256"] == hashlib.sha256(data).hexdigest()
        with Image.open(file) as image:
            assert image.size == (width, height)
            pixels = np.asarray(image.convert("L"))
        assert np.ptp(pixels) > 0
        np.testing.assert_array_equal(pixels, logged_run.singles[step])


def test_histogram_rows(logged_run: LoggedRun) -> None:
    rows = history_rows(run_file(logged_run.run_dir))
    for step, row in enumerate(rows):
        value = row["activations/hist"]
        counts, edges = logged_run.histograms[step]
        assert value["_type"] == "histogram"
        assert value["values"] == counts.tolist()
        assert value["bins"] == pytest.approx(edges.tolist())
        assert sum(value["values"]) == HIST_SAMPLES


def test_metric_definitions(logged_run: LoggedRun) -> None:
    definitions = metric_definitions(run_file(logged_run.run_dir))
    assert [(d["name"], d["glob_name"], d["step_metric"]) for d in definitions] == [
        ("actlog/step", "", ""),
        ("", "activations/*", "actlog/step"),
    ]
    assert definitions[1]["step_sync"] is True


def test_disabled_run_is_flagged_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline_env(monkeypatch, tmp_path)
    run = wandb.init(mode="disabled", dir=str(tmp_path))
    assert run.disabled is True
    run.log({"activations/x": [wandb.Image(np.zeros((4, 4), np.uint8))], "actlog/step": 0})
    run.finish()
    assert wandb.run is None
    assert not (tmp_path / "wandb").exists()
    with pytest.raises(FileNotFoundError, match="no offline wandb run"):
        find_run_dir(tmp_path)


def test_find_run_dir_rejects_several(tmp_path: Path) -> None:
    for name in ("offline-run-20250101_000000-aaaa", "offline-run-20250101_000001-bbbb"):
        (tmp_path / "wandb" / name).mkdir(parents=True)
    with pytest.raises(RuntimeError, match="found 2"):
        find_run_dir(tmp_path)


def test_media_path_stays_under_files(tmp_path: Path) -> None:
    expected = (tmp_path / "files" / "media" / "images" / "a.png").resolve()
    assert media_path(tmp_path, "media/images/a.png") == expected
    with pytest.raises(ValueError, match="outside"):
        media_path(tmp_path, "../run.wandb")


# Framing, on files written here the way wandb-core writes them (LevelDB log writer).


def _frame(payloads: list[bytes]) -> bytes:
    """A `.wandb` file holding `payloads`, split into chunks across 32 KiB blocks."""
    out = bytearray(struct.pack("<4sHB", b":W&B", 0xBEE1, 0))
    for payload in payloads:
        rest, first = payload, True
        while True:
            left = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if left < 7:
                out += bytes(left)
                continue
            piece, rest = rest[: left - 7], rest[left - 7 :]
            last = not rest
            kind = (FULL if last else FIRST) if first else (LAST if last else MIDDLE)
            out += struct.pack("<IHB", chunk_crc(kind, piece), len(piece), kind) + piece
            first = False
            if last:
                break
    return bytes(out)


def _chunk_kinds(data: bytes) -> list[int]:
    """The chunk types of a framed file, in order (test-side walk, for checking `_frame`)."""
    kinds, pos = [], 7
    while pos < len(data):
        left = BLOCK_SIZE - pos % BLOCK_SIZE
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack_from("<IHB", data, pos)
        kinds.append(kind)
        pos += 7 + length
    return kinds


@pytest.mark.parametrize("tail", [3, 6, 7, 8])
def test_block_tail_padding_and_empty_first_chunk(tmp_path: Path, tail: int) -> None:
    # The first record leaves `tail` bytes in block 0: under 7 is padding, 7 is an empty FIRST.
    first = b"a" * (BLOCK_SIZE - 7 - 7 - tail)
    second = b"second record"
    data = _frame([first, second, b""])
    assert len(data) >= BLOCK_SIZE
    if tail < 7:
        assert data[BLOCK_SIZE - tail : BLOCK_SIZE] == bytes(tail)
    elif tail == 7:
        assert _chunk_kinds(data)[:3] == [FULL, FIRST, LAST]
    path = tmp_path / "run-x.wandb"
    path.write_bytes(data)
    assert read_payloads(path) == [first, second, b""]


def test_record_over_three_blocks(tmp_path: Path) -> None:
    payloads = [b"x" * 10, bytes(range(256)) * 300, b"tail"]
    data = _frame(payloads)
    assert _chunk_kinds(data) == [FULL, FIRST, MIDDLE, LAST, FULL]
    path = tmp_path / "run-x.wandb"
    path.write_bytes(data)
    assert read_payloads(path) == payloads


def test_damaged_files_are_rejected(tmp_path: Path) -> None:
    good = _frame([b"one", b"two" * 20000])
    path = tmp_path / "run-x.wandb"

    path.write_bytes(b":W&B\x00\x00\x00" + good[7:])
    with pytest.raises(WandbFileError, match="bad header"):
        read_payloads(path)

    flipped = bytearray(good)
    flipped[7 + 7] ^= 0xFF  # first byte of the first payload
    path.write_bytes(bytes(flipped))
    with pytest.raises(WandbFileError, match="CRC"):
        read_payloads(path)
    assert read_payloads(path, verify_crc=False)[1] == b"two" * 20000

    path.write_bytes(good[: BLOCK_SIZE + 100])
    with pytest.raises(WandbFileError, match="truncated"):
        read_payloads(path)

    path.write_bytes(good[:BLOCK_SIZE])
    with pytest.raises(WandbFileError, match="ends inside a record"):
        read_payloads(path)
