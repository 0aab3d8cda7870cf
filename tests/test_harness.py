"""Reading event files back (actlog.reader, as the tests use it), and a real TensorBoard server."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actlog.reader import (
    decode_image,
    decode_png,
    read_descriptions,
    read_image_events,
    read_images,
    read_scalars,
)
from actlog.runs import event_run_dirs, has_event_files
from tests import tbserver
from tests.tbserver import TensorBoardClient, TensorBoardHTTPError, tensorboard_server

STEPS = [-1, 0, 1, 2]
RUNS = ["nested/train", "run_a", "scalars_only"]
DESCRIPTIONS = {
    "maps/gray": "Grey feature maps",
    "maps/rgb": "RGB maps, *three* channels",
    "late_negative": "step -1 written last",
    "dup": "step 1 written twice",
    "varying": "3 images at step 0, 1 at step 1",
}
# run -> tag -> step -> the images TensorBoard should show (first write of a step), [k, h, w, c]
Expected = dict[str, dict[str, dict[int, np.ndarray]]]


def pattern(step: int, k: int, h: int, w: int, c: int, salt: int = 0) -> np.ndarray:
    """Distinct, deterministic uint8 images [k, h, w, c] for one step."""
    j, y, x, ch = np.meshgrid(np.arange(k), np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    values = 7 * y + 3 * x + 40 * j + 60 * ch + 17 * (step + 1) + salt
    return (values % 256).astype(np.uint8)


def as_decoded(image: np.ndarray) -> np.ndarray:
    """What decode_png returns for one written [h, w, c] image: grey images lose the c axis."""
    return image[..., 0] if image.shape[-1] == 1 else image


def write_image(expected: Expected, run: str, tag: str, step: int, data: np.ndarray) -> None:
    """Write an image summary of all of `data` and remember the first write of each step."""
    import tensorflow as tf  # called by the logs fixture, which asks for tf
    tf.summary.image(
        tag, data, step=step, max_outputs=data.shape[0], description=DESCRIPTIONS.get(tag)
    )
    expected.setdefault(run, {}).setdefault(tag, {}).setdefault(step, data)


@pytest.fixture(scope="module")
def logs(tf, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    """A log directory with three runs, written through tf.summary, and what it should show."""
    root = tmp_path_factory.mktemp("logs")
    expected: Expected = {}

    writer = tf.summary.create_file_writer(str(root / "run_a"))
    with writer.as_default():
        for step in STEPS:
            write_image(expected, "run_a", "maps/gray", step, pattern(step, 3, 4, 5, 1))
            write_image(expected, "run_a", "maps/rgb", step, pattern(step, 2, 6, 7, 3, salt=5))
            tf.summary.scalar("loss", 0.5 * step, step=step)
        for step in [0, 1, 2, -1]:
            write_image(expected, "run_a", "late_negative", step, pattern(step, 1, 3, 3, 1))
        for step, salt in [(0, 0), (1, 100), (1, 200)]:
            write_image(expected, "run_a", "dup", step, pattern(step, 2, 3, 4, 1, salt=salt))
        write_image(expected, "run_a", "varying", 0, pattern(0, 3, 2, 2, 4))
        write_image(expected, "run_a", "varying", 1, pattern(1, 1, 2, 2, 4))
    writer.close()

    writer = tf.summary.create_file_writer(str(root / "nested" / "train"))
    with writer.as_default():
        write_image(expected, "nested/train", "maps/gray", 0, pattern(0, 1, 4, 5, 1, salt=9))
    writer.close()

    writer = tf.summary.create_file_writer(str(root / "scalars_only"))
    with writer.as_default():
        for step in STEPS:
            tf.summary.scalar("acc", 0.25 * (step + 1), step=step)
    writer.close()
    return root, expected


# --- reading event files without a server -------------------------------------------------


def test_read_images_tags_steps_and_counts(logs: tuple[Path, Expected]) -> None:
    root, expected = logs
    images = read_images(root / "run_a")
    assert sorted(images) == sorted(expected["run_a"])
    for tag, by_step in expected["run_a"].items():
        assert list(images[tag]) == sorted(by_step), tag
        for step, data in by_step.items():
            assert len(images[tag][step]) == data.shape[0], (tag, step)


def test_read_images_pngs_decode_to_written_pixels(logs: tuple[Path, Expected]) -> None:
    root, expected = logs
    for run, by_tag in expected.items():
        images = read_images(root / run)
        for tag, by_step in by_tag.items():
            for step, data in by_step.items():
                for png, written in zip(images[tag][step], data, strict=True):
                    decoded = decode_png(png)
                    assert decoded.dtype == np.uint8
                    np.testing.assert_array_equal(decoded, as_decoded(written))


def test_negative_step_written_last_reads_back_first(logs: tuple[Path, Expected]) -> None:
    root, _expected = logs
    events = read_image_events(root / "run_a")["late_negative"]
    assert [event.step for event in events] == [0, 1, 2, -1]  # file order, no purge
    assert list(read_images(root / "run_a")["late_negative"]) == [-1, 0, 1, 2]


def test_image_events_keep_duplicate_steps_and_sizes(logs: tuple[Path, Expected]) -> None:
    root, expected = logs
    events = read_image_events(root / "run_a")
    assert [event.step for event in events["dup"]] == [0, 1, 1]
    second = decode_png(events["dup"][2].pngs[0])
    np.testing.assert_array_equal(second, as_decoded(pattern(1, 2, 3, 4, 1, salt=200)[0]))
    first_kept = decode_png(read_images(root / "run_a")["dup"][1][0])
    np.testing.assert_array_equal(first_kept, as_decoded(expected["run_a"]["dup"][1][0]))
    assert {(event.width, event.height) for event in events["maps/rgb"]} == {(7, 6)}


def test_read_scalars(logs: tuple[Path, Expected]) -> None:
    root, _expected = logs
    assert read_scalars(root / "run_a") == {"loss": {-1: -0.5, 0: 0.0, 1: 0.5, 2: 1.0}}
    assert read_scalars(root / "scalars_only") == {"acc": {-1: 0.0, 0: 0.25, 1: 0.5, 2: 0.75}}
    assert read_images(root / "scalars_only") == {}
    assert read_scalars(root / "nested" / "train") == {}


def test_read_descriptions(logs: tuple[Path, Expected]) -> None:
    root, _expected = logs
    assert read_descriptions(root / "run_a") == DESCRIPTIONS
    assert read_descriptions(root / "nested" / "train") == {"maps/gray": DESCRIPTIONS["maps/gray"]}


def test_event_run_dirs(logs: tuple[Path, Expected], tmp_path: Path) -> None:
    root, _expected = logs
    assert event_run_dirs(root) == RUNS
    assert event_run_dirs(tmp_path) == []
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"")
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "events.out.tfevents.2.host.profile-empty").write_bytes(b"")
    assert event_run_dirs(tmp_path) == ["."]
    assert has_event_files(tmp_path) and not has_event_files(tmp_path / "profile")
    assert not has_event_files(root) and has_event_files(root / "run_a")


def test_missing_directories_raise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_images(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        event_run_dirs(tmp_path / "nope")


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 2), (3, 4, 3), (3, 4, 4)])
def test_decode_png_shapes(shape: tuple[int, ...]) -> None:
    pixels = (np.arange(np.prod(shape)) * 11 % 256).astype(np.uint8).reshape(shape)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    decoded = decode_png(buffer.getvalue())
    assert decoded.shape == shape
    np.testing.assert_array_equal(decoded, pixels)


def test_decode_png_rejects_other_formats() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(buffer, format="BMP")
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(buffer.getvalue())


def test_decode_image_strict_or_lenient() -> None:
    def encode(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=image_format)
        return buffer.getvalue()

    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    grey_alpha = np.stack([grey, np.full_like(grey, 200)], axis=-1)
    deep = (np.arange(6, dtype=np.uint16) * 1000).reshape(2, 3)
    np.testing.assert_array_equal(decode_image(encode(grey, "BMP")), grey)  # any format
    np.testing.assert_array_equal(decode_image(encode(grey_alpha)), grey)  # grey or RGB(A)
    np.testing.assert_array_equal(decode_image(encode(grey_alpha), strict=True), grey_alpha)
    assert decode_image(encode(deep)).dtype == np.uint8
    for strict_decode in (decode_png, lambda data: decode_image(data, strict=True)):
        with pytest.raises(ValueError, match="8-bit"):
            strict_decode(encode(deep))
        with pytest.raises(ValueError, match="not a PNG"):
            strict_decode(encode(grey, "BMP"))


# --- a real TensorBoard server -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(logs: tuple[Path, Expected]) -> Iterator[TensorBoardClient]:
    """One server over the module's log directory; it must be gone after the block."""
    root, _expected = logs
    with tensorboard_server(root) as client:
        yield client
    assert client.process.returncode is not None


def test_server_lists_runs_and_image_tags(
    server: TensorBoardClient, logs: tuple[Path, Expected]
) -> None:
    _root, expected = logs
    assert set(server.runs()) - {"live"} == set(RUNS)  # "live" comes from the reload test
    tags = server.tags()
    assert set(tags) - {"live"} == {"run_a", "nested/train"}  # no run without images
    assert set(tags["run_a"]) == set(expected["run_a"])
    assert tags["run_a"]["maps/gray"]["samples"] == 3
    assert tags["run_a"]["varying"]["samples"] == 3  # the most images of any step
    # The server renders the description as Markdown.
    assert tags["run_a"]["maps/rgb"]["description"] == "<p>RGB maps, <em>three</em> channels</p>"


def test_server_serves_negative_step_first(server: TensorBoardClient) -> None:
    for tag in ["maps/gray", "maps/rgb", "late_negative"]:
        entries = server.images("run_a", tag, 0)
        assert [entry["step"] for entry in entries] == [-1, 0, 1, 2], tag
    # Ascending by step, not by write order: the step -1 written last has the latest time.
    late = {entry["step"]: entry["wall_time"] for entry in server.images("run_a", "late_negative")}
    assert late[-1] == max(late.values())


def test_server_image_bytes_decode_to_written_pixels(
    server: TensorBoardClient, logs: tuple[Path, Expected]
) -> None:
    root, expected = logs
    for run, by_tag in expected.items():
        on_disk = read_images(root / run)
        for tag, by_step in by_tag.items():
            for sample in range(max(data.shape[0] for data in by_step.values())):
                served = server.images_by_step(run, tag, sample)
                having = [step for step, data in by_step.items() if data.shape[0] > sample]
                assert list(served) == sorted(having), (run, tag, sample)
                for step, png in served.items():
                    assert png == on_disk[tag][step][sample]  # served verbatim
                    written = by_step[step][sample]
                    np.testing.assert_array_equal(decode_png(png), as_decoded(written))


def test_server_duplicate_step_serves_first_write(server: TensorBoardClient) -> None:
    entries = server.images("run_a", "dup", 0)
    assert [entry["step"] for entry in entries] == [0, 1]
    png = server.image_bytes(entries[1]["query"])
    np.testing.assert_array_equal(decode_png(png), as_decoded(pattern(1, 2, 3, 4, 1, salt=100)[0]))


def test_server_unknown_tag_is_an_http_error(server: TensorBoardClient) -> None:
    with pytest.raises(TensorBoardHTTPError) as caught:
        server.images("run_a", "no/such/tag", 0)
    assert caught.value.status in (400, 404)
    with pytest.raises(ValueError, match="refusing"):
        server._fetch("http://example.com/")


def test_server_reloads_steps_written_while_it_runs(
    tf, server: TensorBoardClient, logs: tuple[Path, Expected]
) -> None:
    root, _expected = logs
    writer = tf.summary.create_file_writer(str(root / "live"))
    with writer.as_default():
        for step in [-1, 0, 1]:
            tf.summary.image("maps/live", pattern(step, 1, 3, 3, 1), step=step, max_outputs=1)
    writer.close()
    entries = server.wait_for_steps("live", "maps/live", 3, timeout=30)
    assert [entry["step"] for entry in entries] == [-1, 0, 1]
    for entry in entries:
        written = pattern(entry["step"], 1, 3, 3, 1)[0]
        np.testing.assert_array_equal(
            decode_png(server.image_bytes(entry["query"])), as_decoded(written)
        )
    with pytest.raises(TimeoutError, match="wanted 4 steps"):
        server.wait_for_steps("live", "maps/live", 4, timeout=1.5)


def test_server_fast_start_serves_the_same(logs: tuple[Path, Expected]) -> None:
    root, expected = logs
    with tensorboard_server(root, fast_start=True, expect_runs=["run_a"]) as client:
        assert "-c" in client.process.args  # type: ignore[operator]
        served = client.images_by_step("run_a", "maps/rgb", 1)
    assert client.process.returncode is not None
    assert list(served) == STEPS
    for step, png in served.items():
        written = expected["run_a"]["maps/rgb"][step][1]
        np.testing.assert_array_equal(decode_png(png), as_decoded(written))


def test_server_start_timeout_reports_log_and_stops_process(
    logs: tuple[Path, Expected], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _expected = logs
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(process)
        return process

    monkeypatch.setattr(tbserver.subprocess, "Popen", recording_popen)
    with (
        pytest.raises(TimeoutError, match="log tail") as caught,
        tensorboard_server(root, timeout=2, expect_runs=["no_such_run"], fast_start=True),
    ):
        pass
    assert "no_such_run" in str(caught.value)
    assert len(started) == 1
    assert started[0].returncode is not None
