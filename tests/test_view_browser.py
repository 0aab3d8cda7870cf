"""The actlog tab in headless Chromium on a real TensorBoard server, and the same view as a
report opened from ``file://`` with no server (``place``): the tab appears, one slider moves
every layer, clicking a tile opens that filter with one frame per logged step, A/B, the health
map, two runs side by side. Every picture is compared, pixel for pixel, with what was logged."""

import contextlib
import shutil

import keras
import numpy as np
import pytest

import actlog
from actlog.sinks import TensorBoardSink
from actlog.view import tiles
from tests import models
from tests.browser import canvas_pixels, chromium, page
from tests.tbserver import tensorboard_server
from tests.viewrun import documents, layer_doc, logged_grid, logged_tile, train, upscale

pytestmark = pytest.mark.browser

EPOCHS = 5
ENTRY = "/data/plugin_entry.html?name=actlog"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    train(root / "lr_small", epochs=EPOCHS, learning_rate=1e-3, weights=True,
          maximize_every_n_epochs=2, overlays=2)  # fmt: skip
    train(root / "lr_large", epochs=EPOCHS, learning_rate=5e-2, seed=1)
    return root


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir, fast_start=True, expect_runs=["lr_small", "lr_large"]) as s:
        yield s


@pytest.fixture(scope="module", params=["plugin", "report"])
def place(request, logdir, tmp_path_factory):
    """Where the view is opened: the plugin's entry on the TensorBoard server, or the report
    ``actlog report`` writes of the same log directory, from disk."""
    if request.param == "plugin":
        return f"{request.getfixturevalue('server').base_url}{ENTRY}"
    from actlog.view.report import write_report

    report = write_report(logdir, tmp_path_factory.mktemp("report") / "report.html")
    assert report.steps_shown == report.steps_logged == 2 * (EPOCHS + 1)
    return report.path.as_uri()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@contextlib.contextmanager
def open_view(browser, place, fragment=""):
    """The actlog frame, opened on its own (what TensorBoard puts in the tab's iframe), or the
    report."""
    with page(browser) as tab:
        tab.goto(f"{place}{fragment}")
        tab.wait_for_selector("body[data-ready=true]")
        yield tab


def shown_grid(tab, selector):
    """The grid a canvas shows, at the scale it was drawn (the canvas records it)."""
    scale = int(tab.eval_on_selector(selector, "c => c.dataset.scale"))
    return canvas_pixels(tab, selector), scale


def wait_for_step(tab, selector, step):
    tab.wait_for_function(
        "([selector, step]) => [...document.querySelectorAll(selector)]"
        ".every(c => c.dataset.step === String(step))", arg=[selector, step])


def test_the_tab_appears_in_tensorboard_and_shows_the_view(browser, server):
    with page(browser) as tab:
        tab.goto(f"{server.base_url}/#actlog")  # TensorBoard opens a plugin by its name
        tab_button = tab.get_by_role("tab", name="actlog", exact=True)
        tab_button.wait_for()
        assert tab_button.get_attribute("aria-disabled") != "true"
        frame_element = tab.wait_for_selector("iframe[src*='plugin_entry.html?name=actlog']")
        frame = frame_element.content_frame()
        frame.wait_for_selector("body[data-ready=true]")
        frame.wait_for_selector("section.card[data-layer=conv_b] canvas[data-step]")
        assert frame.locator("section.card").count() == 2
        assert not tab.errors


def test_one_slider_moves_every_layer_with_the_logged_pixels(browser, place, logdir):
    run_dir = logdir / "lr_small"
    docs = documents(run_dir)
    with open_view(browser, place, "#run=lr_small&sample=1") as tab:
        cards = "section.card canvas.grid"
        wait_for_step(tab, cards, EPOCHS - 1)  # opens at the last step
        moves = [("Home", -1), ("ArrowRight", 0), ("ArrowRight", 1), ("End", EPOCHS - 1),
                 ("ArrowLeft", EPOCHS - 2)]  # fmt: skip
        for key, step in moves:
            tab.keyboard.press(key)
            wait_for_step(tab, cards, step)
            assert tab.locator(".step-label").inner_text().startswith(f"step {step}")
            for path in ("conv_a", "conv_b"):
                pixels, scale = shown_grid(tab, f"section.card[data-layer={path}] canvas")
                logged = logged_grid(run_dir, docs[step], path, step, sample=1)
                np.testing.assert_array_equal(pixels, upscale(logged, scale))
        slider = tab.locator("input.slider")
        slider.evaluate("(s) => { s.value = 2; s.dispatchEvent(new Event('input')); }")
        wait_for_step(tab, cards, 1)  # the third step
        loss = docs[1]["logs"]["loss"]
        assert f"loss {loss:.4f}" in tab.locator(".metrics").inner_text()
        tab.keyboard.press(" ")  # play: every step in turn, then it stops at the last
        assert "pause" in tab.inner_text("button.play")
        wait_for_step(tab, cards, EPOCHS - 1)
        tab.wait_for_function("document.querySelector('button.play').textContent.includes('play')")
        assert not tab.errors


def test_clicking_tile_k_opens_filter_k_with_a_frame_per_logged_step(browser, place, logdir):
    run_dir = logdir / "lr_small"
    docs = documents(run_dir)
    with open_view(browser, place, "#run=lr_small&view=layer&layer=conv_a&step=2") as tab:
        canvas = "figure.panel[data-panel=A] canvas"
        wait_for_step(tab, canvas, 2)
        layout = layer_doc(docs[2], "conv_a")["grid"]
        scale = int(tab.eval_on_selector(canvas, "c => c.dataset.scale"))
        top, left, height, width = tiles.tile_box(layout, 3)
        box = tab.locator(canvas).bounding_box()
        ratio = box["width"] / tab.eval_on_selector(canvas, "c => c.width")
        x = box["x"] + (left + width / 2) * scale * ratio
        y = box["y"] + (top + height / 2) * scale * ratio
        tab.mouse.move(x, y)  # hovering names the filter and its numbers at that step
        tab.wait_for_selector(".tooltip:not([hidden])")
        rate = layer_doc(docs[2], "conv_a")["filters"]["on_rate"][3] / 10
        assert tab.inner_text(".tooltip").startswith(f"filter 3 · step 2 · on-rate {rate:.1f}%")
        tab.mouse.click(x, y)
        tab.wait_for_selector(".filter-view .frame-cell canvas")
        assert "filter=3" in tab.evaluate("location.hash")
        frames = tab.locator(".frame-cell canvas")
        assert frames.count() == len(docs)
        for i, step in enumerate(sorted(docs)):
            selector = f".frame-cell[data-step='{step}'] canvas"
            pixels, scale = shown_grid(tab, selector)
            grid = logged_grid(run_dir, docs[step], "conv_a", step, sample=0)
            tile = logged_tile(grid, layer_doc(docs[step], "conv_a")["grid"], 3)
            np.testing.assert_array_equal(pixels, upscale(tile, scale), err_msg=f"frame {i}")
        big = ".filter-view canvas.frame"
        assert tab.eval_on_selector(big, "c => c.dataset.step") == "2"
        tab.keyboard.press("Home")  # the large frame follows the slider
        tab.wait_for_function(f"document.querySelector('{big}').dataset.step === '-1'")
        pixels, scale = shown_grid(tab, big)
        first = logged_tile(logged_grid(run_dir, docs[-1], "conv_a", -1, 0),
                            layer_doc(docs[-1], "conv_a")["grid"], 3)  # fmt: skip
        np.testing.assert_array_equal(pixels, upscale(first, scale))
        # its weights, as logged at that step
        weights = canvas_pixels(tab, ".extra canvas[data-kind=weights]")
        assert weights.shape[0] >= layer_doc(docs[-1], "conv_a")["layouts"]["weights"]["height"]
        assert not tab.errors


def test_ab_shows_the_two_chosen_steps(browser, place, logdir):
    run_dir = logdir / "lr_small"
    docs = documents(run_dir)
    with open_view(browser, place, "#run=lr_small&view=layer&layer=conv_b&step=3") as tab:
        tab.check("input.ab-toggle")
        tab.select_option("select.step-b", "0")
        wait_for_step(tab, "figure.panel[data-panel=B] canvas", 0)
        wait_for_step(tab, "figure.panel[data-panel=A] canvas", 3)
        for panel, step in (("A", 3), ("B", 0)):
            pixels, scale = shown_grid(tab, f"figure.panel[data-panel={panel}] canvas")
            logged = logged_grid(run_dir, docs[step], "conv_b", step, sample=0)
            np.testing.assert_array_equal(pixels, upscale(logged, scale))
        assert "brightness is per tile" in tab.locator(".scale-note").inner_text()
        assert not tab.errors


def test_a_health_cell_opens_that_filter_at_that_step(browser, place, logdir):
    with open_view(browser, place, "#run=lr_small&view=health&layer=conv_b") as tab:
        tab.wait_for_function("document.querySelector('canvas.health-map').width > 100")
        cell = tab.evaluate("""() => { const v = window.actlogView.view;
            return {w: v.cellW, h: v.cellH, steps: v.data.steps}; }""")
        box = tab.locator("canvas.health-map").bounding_box()
        left, top = 44, 6  # the axes' room (health.js)
        tab.mouse.click(box["x"] + left + (2 + 0.5) * cell["w"],
                        box["y"] + top + (4 + 0.5) * cell["h"])  # fmt: skip
        tab.wait_for_selector(".filter-view")
        hash_ = tab.evaluate("location.hash")
        assert "filter=4" in hash_ and f"step={cell['steps'][2]}" in hash_
        assert "filter health" not in tab.locator("main").inner_text()
        assert not tab.errors


def test_two_runs_side_by_side_at_the_same_step(browser, place, logdir):
    with open_view(browser, place, "#run=lr_small&view=compare&layer=conv_a&step=4") as tab:
        for run in ("lr_small", "lr_large"):
            wait_for_step(tab, f"figure.panel[data-run={run}] canvas", 4)
            pixels, scale = shown_grid(tab, f"figure.panel[data-run={run}] canvas")
            docs = documents(logdir / run)
            logged = logged_grid(logdir / run, docs[4], "conv_a", 4, sample=0)
            np.testing.assert_array_equal(pixels, upscale(logged, scale))
        assert not tab.errors


def test_a_run_without_actlog_data_shows_no_tab(browser, tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path)])
    with tensorboard_server(tmp_path, fast_start=True, expect_runs=[]) as server, \
            page(browser) as tab:  # fmt: skip
        tab.goto(f"{server.base_url}/")
        tab.get_by_role("tab", name="scalars", exact=True).wait_for()
        actlog_tab = tab.get_by_role("tab", name="actlog", exact=True)
        # TensorBoard greys out a plugin without data, as it does its own (audio, PR curves)
        assert actlog_tab.count() == 0 or actlog_tab.get_attribute("aria-disabled") == "true"
        tab.goto(f"{server.base_url}{ENTRY}")
        tab.wait_for_selector(".message:not([hidden])")
        assert "No run in this log directory holds actlog data" in tab.inner_text(".message")
        assert not tab.errors


def test_a_truncated_or_unfinished_run_shows_what_is_there(browser, logdir, tmp_path):
    cut_dir = tmp_path / "logs" / "cut"
    shutil.copytree(logdir / "lr_small", cut_dir)
    (event_file,) = [p for p in cut_dir.iterdir() if p.name.startswith("events.out")]
    data = event_file.read_bytes()
    event_file.write_bytes(data[: data.rfind(b"actlog/event")])  # the last event's document cut
    # a document written for a step whose images never were (a run dying mid-event)
    sink = TensorBoardSink(tmp_path / "logs" / "orphan")
    (last, document), *_ = sorted(documents(logdir / "lr_small").items(), reverse=True)
    for step in (last, last + 1):
        if step == last:
            for tag, pngs in actlog.reader.read_images(logdir / "lr_small").items():
                if tag.startswith("activations/"):
                    sink.write_images(tag, np.stack([actlog.reader.decode_png(png)
                                                     for png in pngs[step]]), step)  # fmt: skip
        sink.write_document("actlog/event", {**document, "step": step}, step)
    sink.close()
    with tensorboard_server(tmp_path / "logs", fast_start=True, expect_runs=["cut", "orphan"]
                            ) as server, page(browser) as tab:  # fmt: skip
        tab.goto(f"{server.base_url}{ENTRY}#run=cut")
        tab.wait_for_selector("body[data-ready=true]")
        wait_for_step(tab, "section.card canvas.grid", EPOCHS - 2)  # the last step cut
        tab.goto(f"{server.base_url}{ENTRY}#run=orphan&step={last + 1}")
        tab.wait_for_selector("body[data-ready=true]")
        tab.wait_for_function("[...document.querySelectorAll('section.card canvas')]"
                              ".every(c => c.dataset.step === '')")  # fmt: skip
        assert "step 5" in tab.inner_text(".step-label")
        tab.keyboard.press("ArrowLeft")
        wait_for_step(tab, "section.card canvas.grid", last)
        assert not tab.errors
