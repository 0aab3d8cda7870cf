"""``actlog report``: the view as one self-contained HTML file (issue 21). The pictures it
shows are checked pixel for pixel in tests/test_view_browser.py (``place="report"``); here:
what it holds, its size bound on a long run, that it loads nothing from another host, and the
command line."""

import base64
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import actlog
from actlog.sinks import TensorBoardSink
from actlog.view.report import NoActlogData, thinned, write_report
from tests.browser import chromium, page
from tests.viewrun import documents, train

EPOCHS = 3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_run")
    train(root / "run", epochs=EPOCHS, weights=True)
    return root / "run"


@pytest.fixture(scope="module")
def long_run(run_dir, tmp_path_factory):
    """300 events: the last logged event of a real run written again at steps 0..299 through
    actlog's TensorBoard sink (its documents and grids as they were logged)."""
    target = tmp_path_factory.mktemp("long") / "long"
    (last, document), *_ = sorted(documents(run_dir).items(), reverse=True)
    grids = {tag: np.stack([actlog.reader.decode_png(png) for png in pngs[last]])
             for tag, pngs in actlog.reader.read_images(run_dir).items()
             if tag.startswith("activations/")}  # fmt: skip
    sink = TensorBoardSink(target)
    for step in range(300):
        for tag, images in grids.items():
            sink.write_images(tag, images, step)
        sink.write_document("actlog/event", {**document, "step": step}, step)
    sink.close()
    return target


def embedded(path):
    text = path.read_text(encoding="utf-8")
    payload = re.search(r'<script type="application/json" id="actlog-data">(.*?)</script>', text,
                        re.S).group(1)  # fmt: skip
    return text, json.loads(payload)


def test_thinning_keeps_the_first_and_last_steps_evenly():
    steps = list(range(-1, 299))
    assert thinned(steps, 1000) == steps
    kept = thinned(steps, 31)
    assert len(kept) == 31 and kept[0] == -1 and kept[-1] == 298
    gaps = np.diff(kept)
    assert gaps.max() - gaps.min() <= 1  # evenly spread
    assert thinned([-1, 0, 1, 2, 3, 4, 5], 3) == [-1, 2, 5]


def test_a_report_holds_every_step_and_image_the_view_shows(run_dir, tmp_path):
    report = write_report(run_dir, tmp_path / "r.html")
    text, data = embedded(report.path)
    assert report.runs == ["run"] and report.steps_shown == report.steps_logged == EPOCHS + 1
    assert report.bytes == len(text.encode())
    overview = data["data"]["run"]["overview"]
    docs = documents(run_dir)
    assert overview["steps"] == sorted(docs)
    logged = actlog.reader.read_images(run_dir)
    for layer in overview["layers"]:
        for kind, tag in layer["tags"].items():
            shown = data["data"]["run"]["images"][tag]
            for step, pngs in logged[tag].items():
                pictures = [base64.b64decode(url.split(",")[1]) for url in shown[str(step)]]
                assert pictures == pngs, (kind, step)  # the logged PNGs, byte for byte
        filters = data["data"]["run"]["filters"][layer["path"]]
        assert filters["on_rate"][-1] == docs[max(docs)]["layers"][
            [entry["path"] for entry in docs[max(docs)]["layers"]].index(layer["path"])
        ]["filters"]["on_rate"]
    assert "report-note" not in text.split("<body>")[1].split("<div id")[0]  # nothing thinned


@pytest.mark.browser
def test_a_300_event_run_is_thinned_within_the_bound_and_says_so(long_run, tmp_path):
    whole = write_report(long_run, tmp_path / "whole.html", max_mb=100)
    assert whole.steps_shown == 300
    bound = whole.bytes / 4e6  # a quarter of what it takes whole
    report = write_report(long_run, tmp_path / "thin.html", max_mb=bound)
    assert report.bytes <= bound * 1e6
    assert 0.15 * 300 < report.steps_shown < 0.3 * 300  # most of the room is used
    text, data = embedded(report.path)
    steps = data["data"]["long"]["overview"]["steps"]
    assert steps == thinned(list(range(300)), len(steps)) and steps[0] == 0 and steps[-1] == 299
    note = re.search(r'<p class="report-note">(.*?)</p>', text).group(1)
    assert f"shows {len(steps)} of the 300 logged steps" in note
    assert note.endswith(", ".join(map(str, steps)) + ".")
    with chromium() as browser, page(browser) as tab:
        requests = []
        tab.on("request", lambda request: requests.append(request.url))
        tab.goto(report.path.as_uri())
        tab.wait_for_selector("body[data-ready=true]")
        assert tab.inner_text(".step-label").startswith(f"step 299 · {len(steps)} of {len(steps)}")
        assert tab.locator(".report-note").inner_text().startswith("Run long: this report shows")
        assert all(url.startswith(("file:", "data:")) for url in requests), requests
        assert not tab.errors
    with pytest.raises(ValueError, match="leaves no room for one step"):
        write_report(long_run, tmp_path / "none.html", max_mb=0.01)


def test_the_command_writes_the_report_or_says_why_not(run_dir, tmp_path):
    def actlog_cli(*args):
        return subprocess.run([sys.executable, "-m", "actlog.cli", *map(str, args)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    out = tmp_path / "report.html"
    done = actlog_cli("report", run_dir.parent, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and out.stat().st_size > 0
    assert f"1 run(s), {EPOCHS + 1} of {EPOCHS + 1} logged steps" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = actlog_cli("report", empty, "-o", tmp_path / "x.html")
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1
    assert "No run under" in failed.stderr and "holds actlog's documents" in failed.stderr
    missing = actlog_cli("report", tmp_path / "nowhere", "-o", tmp_path / "x.html")
    assert missing.returncode == 2 and "not found" in missing.stderr
    with pytest.raises(NoActlogData):
        write_report(empty, tmp_path / "x.html")


def test_the_events_read_without_tensorflow_are_those_tensorboard_reads(run_dir, tmp_path):
    from actlog.view.events import PER_IMAGE, read_images, scan_run

    read_documents, sizes = scan_run(run_dir)
    assert {step: json.loads(text) for step, text in read_documents.items()} == documents(run_dir)
    logged = actlog.reader.read_images(run_dir)
    assert read_images(run_dir) == {tag: dict(steps) for tag, steps in logged.items()}
    assert read_images(run_dir, steps={0}) == {tag: {0: steps[0]} for tag, steps in logged.items()}
    for step, size in sizes.items():
        pngs = [png for steps in logged.values() for png in steps.get(step, [])]
        assert size == sum(len(png) + PER_IMAGE for png in pngs)
    cut = tmp_path / "cut"
    cut.mkdir()
    (event_file,) = [p for p in run_dir.iterdir() if p.name.startswith("events.out")]
    data = event_file.read_bytes()
    (cut / event_file.name).write_bytes(data[: data.rfind(b"actlog/event") - 20])
    shorter, _ = scan_run(cut)  # a record cut short ends the file, as in TensorBoard
    assert sorted(shorter) == sorted(read_documents)[:-1]
