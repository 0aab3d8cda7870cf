"""Filter-health timelines: every filter's on-rate at every logged step in one image per layer,
dead cells red; the pixels match the statistics recomputed from the probe."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import actlog
from actlog.images import NONFINITE_RGB, SEPARATOR_GRAY, colormap_lut
from actlog.reader import decode_png, read_descriptions, read_images, read_scalars
from actlog.sinks.png import encode_png
from actlog.stats import filter_on_rates, filter_sums
from actlog.timeline import BAND_GAP, DEAD_RGB, render_timeline, timeline_layout
from actlog.timeline_axes import (
    BAR_WIDTH,
    SWATCH,
    axes_margins,
    frame_bytes,
    framed_timeline,
    legend_width,
)

layers = keras.layers
VIRIDIS = colormap_lut("viridis")


def test_a_known_history_gives_exact_cells():
    rates = np.array([[0.0, 0.5, 1.0], [0.25, np.nan, 1.0]])  # 2 steps, 3 filters
    dead = np.array([[False, False, False], [True, False, False]])
    image, layout = render_timeline(rates, dead)
    assert (layout.bands, layout.cell_height, layout.cell_width, layout.steps) == (1, 16, 8, 2)
    cells = np.array([  # rows: filters (filter 0 on top); columns: steps (oldest left)
        [VIRIDIS[0], DEAD_RGB],
        [VIRIDIS[128], NONFINITE_RGB],  # 0.5 * 255 = 127.5 rounds to 128
        [VIRIDIS[255], VIRIDIS[255]],
    ], np.uint8)  # fmt: skip
    expected = np.repeat(np.repeat(cells, 16, axis=0), 8, axis=1)
    assert image.dtype == np.uint8 and image.shape == (48, 16, 3)
    np.testing.assert_array_equal(image, expected)


def test_the_layout_shows_every_filter_within_the_limits():
    assert timeline_layout(6, 3).shape == (96, 24)  # 16-pixel rows, 8-pixel columns
    assert timeline_layout(64, 10).shape == (512, 80)
    assert timeline_layout(600, 3).shape == (600, 24)  # 1-pixel rows from 512 filters on
    wide = timeline_layout(1280, 5)  # more filters than max_size rows: 2 bands side by side
    assert (wide.bands, wide.rows, wide.shape) == (2, 640, (640, 2 * 40 + BAND_GAP))
    assert timeline_layout(32, 200).cell_width == 5  # narrower cells before steps are left out
    long = timeline_layout(32, 2000, max_size=1024)
    assert (long.cell_width, long.steps, long.shape) == (1, 1024, (512, 1024))


def test_more_steps_than_fit_show_the_most_recent():
    rates = np.linspace(0, 1, 40)[:, None] * np.ones((1, 3))  # step k: rate k / 39
    image, layout = render_timeline(rates, max_size=16)
    assert layout.steps == 16 and image.shape == (15, 16, 3)  # 5-pixel rows, 1-pixel columns
    np.testing.assert_array_equal(image[0], VIRIDIS[np.round(rates[24:, 0] * 255).astype(int)])


def test_more_filters_than_fit_continue_in_a_band_to_the_right():
    filters = 1499  # 1-pixel rows in 2 bands of 750: the second one row short
    rates = np.tile(np.arange(filters) / (filters - 1), (2, 1))  # filter f at f / 1498
    image, layout = render_timeline(rates, max_size=1024)
    assert (layout.bands, layout.rows, layout.cell_height, layout.cell_width) == (2, 750, 1, 8)
    assert image.shape == (750, 2 * 16 + BAND_GAP, 3)
    for f in (0, 1, 749, 750, 1498):
        row, col = f % 750, (f // 750) * (16 + BAND_GAP)
        expected = VIRIDIS[round(f / (filters - 1) * 255)]
        assert (image[row, col : col + 16] == expected).all(), f
    assert (image[749, -16:] == SEPARATOR_GRAY).all()  # the empty row under the last filter
    assert (image[:, 16 : 16 + BAND_GAP] == SEPARATOR_GRAY).all()


@pytest.mark.parametrize("max_bytes", [2e3, 2e4, 2e5])
def test_the_image_fits_its_byte_budget(max_bytes):
    rates = np.random.default_rng(0).random((300, 256))  # random: the worst case for PNG
    image, layout = render_timeline(rates, rates < 0.1, max_bytes=max_bytes)
    assert layout.estimated_bytes() <= max_bytes
    assert len(encode_png(image)) <= max_bytes


def test_the_frame_numbers_filters_and_steps_under_a_colour_legend():
    rates = np.random.default_rng(0).random((41, 64))
    dead = rates < 0.1
    steps = list(range(-1, 40))
    framed, layout = framed_timeline(rates, dead, steps)
    top, left, bottom = axes_margins(64)
    cells, cells_layout = render_timeline(rates, dead, 1024 - max(left, top + bottom))
    assert layout == cells_layout and layout.cell_height == 8
    height, width = cells.shape[:2]
    image = framed.image
    assert (framed.top, framed.left) == (top, left)
    assert image.shape == (top + height + bottom, max(left + width, legend_width()), 3)
    np.testing.assert_array_equal(image[top : top + height, left : left + width], cells)
    white = (image == 255).all(axis=-1)
    # Filter numbers: white only beside the numbered rows (every 2nd 8-pixel row: 0, 2, ...).
    margin = white[top : top + height, :left]
    labelled = {row // 16 for row in np.flatnonzero(margin.any(axis=1))}
    assert labelled == set(range(32))
    # Steps: a label starts on the columns of -1, 5, 10, ..., 35 (round steps, apart).
    strip = white[top + height :, left:]
    starts = [c for c in range(strip.shape[1]) if strip[:, c].any() and not strip[:, c - 1].any()]
    labelled_columns = sorted({(c // 8) for c in starts})
    assert labelled_columns[0] == 0 and {steps[c] for c in labelled_columns[1:]} <= set(
        range(5, 40, 5)) and len(labelled_columns) >= 7  # fmt: skip
    # The legend: the on-rate's colour map from 0 to 1, then the dead and no-value swatches.
    row = image[top // 2]
    bar = [x for x in range(image.shape[1]) if (row[x] == VIRIDIS).all(axis=1).any()]
    assert len(bar) >= BAR_WIDTH
    assert (row[bar[0]] == VIRIDIS[0]).all() and (row[bar[BAR_WIDTH - 1]] == VIRIDIS[255]).all()
    assert (row == DEAD_RGB).all(axis=1).sum() == SWATCH
    assert (row == NONFINITE_RGB).all(axis=1).sum() == SWATCH


@pytest.mark.parametrize("max_bytes", [4e3, 4e4, 4e5])
def test_the_framed_image_fits_its_byte_budget(max_bytes):
    rates = np.random.default_rng(0).random((300, 256))
    framed, layout = framed_timeline(rates, rates < 0.1, list(range(300)), max_bytes=max_bytes)
    assert len(encode_png(framed.image)) <= max_bytes
    # Framed where the frame takes at most half the budget; 4 kB leaves the cells alone.
    framing = frame_bytes(256, layout.shape[1], layout.shape[0])
    assert (framed.top > 0) == (framing <= max_bytes / 2) == (max_bytes > 4e3)


def test_without_room_for_the_frame_the_cells_stand_alone():
    rates = np.random.default_rng(0).random((10, 8))
    framed, _ = framed_timeline(rates, None, list(range(10)), max_size=64)  # under the legend
    assert (framed.top, framed.left) == (0, 0)
    np.testing.assert_array_equal(framed.image, render_timeline(rates, None, 64)[0])


def test_on_rates_from_sums():
    a = np.zeros((2, 4, 4, 4), np.float32)
    a[0, :2, :, 0] = 1.0  # filter 0: above 0 at 8 of 32 positions
    a[..., 1] = -1.0  # filter 1: never above 0
    a[..., 2] = 2.0  # filter 2: always, but for one NaN, left out of the share
    a[1, 0, 0, 2] = np.nan
    a[..., 3] = np.nan  # filter 3: no finite value
    rates, dead = filter_on_rates(filter_sums(a), floor=0.0)
    np.testing.assert_array_equal(rates, [0.25, 0.0, 1.0, np.nan])
    np.testing.assert_array_equal(dead, [False, True, False, True])
    rates, dead = filter_on_rates(filter_sums(a), floor=None)  # no rectifier: above 0, never dead
    np.testing.assert_array_equal(rates, [0.25, 0.0, 1.0, np.nan])
    assert not dead.any()


# --- a real run ------------------------------------------------------------------------------

PROBE = np.random.default_rng(1).random((8, 8, 8, 1), dtype=np.float32)
DEAD = 1  # conv_a's filter made dead on purpose


def two_layer_model():
    """conv_a (4 filters, ReLU, filter 1 dead: zero kernel, negative bias) and conv_b
    (3 filters, linear -> LeakyReLU: no floor, so no dead state)."""
    keras.utils.set_random_seed(0)
    x_in = keras.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu", name="conv_a")(x_in)
    h = layers.Conv2D(3, 3, name="conv_b")(h)
    h = layers.LeakyReLU(negative_slope=0.1, name="leaky")(h)
    model = keras.Model(x_in, layers.Dense(2)(layers.Flatten()(h)))
    model.compile(keras.optimizers.SGD(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    conv = model.get_layer("conv_a")
    kernel, bias = conv.kernel.numpy(), np.full(4, 0.1, np.float32)
    kernel[..., DEAD], bias[DEAD] = 0.0, -1.0  # relu(0 * x - 1) = 0 everywhere
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    return model


def on_rates(model):
    """Each measured output's per-filter share above 0, over every probe value."""
    maps = actlog.extract(model, PROBE, layers=["conv_a", "leaky"])
    return {name: (maps[at] > 0).reshape(-1, maps[at].shape[-1]).mean(axis=0)
            for name, at in (("conv_a", "conv_a"), ("conv_b", "leaky"))}  # fmt: skip


class RecordRates(keras.callbacks.Callback):
    """The on-rates recomputed at every epoch end, with the weights the logger sees there."""

    def __init__(self, history):
        super().__init__()
        self.history = history

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(on_rates(self.model))


def cell(image, filter_, step_index, rows=16, width=8):
    """The colour of cell (filter, step), checked uniform over the cell."""
    block = image[filter_ * rows : (filter_ + 1) * rows,
                  step_index * width : (step_index + 1) * width]  # fmt: skip
    assert (block == block[0, 0]).all()
    return block[0, 0]


def index_of(colour):
    """The viridis levels that give ``colour``."""
    return np.flatnonzero((colour == VIRIDIS).all(axis=1))


@pytest.fixture(scope="module")
def timeline_run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("timeline")
    model = two_layer_model()
    history = [on_rates(model)]  # step -1: before training
    x = np.random.default_rng(2).random((32, 8, 8, 1), dtype=np.float32)
    y = np.random.default_rng(3).integers(0, 2, 32)
    logger = actlog.ActivationLogger(PROBE, log_dir=log_dir, verbose=0,
                                     layers=["conv_a", "conv_b"])  # fmt: skip
    with pytest.warns(RuntimeWarning, match="dead filters"):
        model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                  callbacks=[RecordRates(history), logger])  # fmt: skip
    return log_dir, history


def test_the_timeline_pixels_match_the_recomputed_on_rates(timeline_run):
    log_dir, history = timeline_run
    images = read_images(log_dir)
    assert {"filter_health/conv_a", "filter_health/conv_b"} <= set(images)
    scalars = read_scalars(log_dir)
    for name, filters in (("conv_a", 4), ("conv_b", 3)):
        steps = images[f"filter_health/{name}"]
        assert sorted(steps) == [-1, 0, 1, 2]
        top, left, _ = axes_margins(filters)
        last = decode_png(steps[2][0])[top : top + filters * 16, left : left + 4 * 8]
        assert last.shape == (filters * 16, 4 * 8, 3)
        for k, rates in enumerate(history):
            levels = []
            for f in range(filters):
                colour = cell(last, f, k)
                if name == "conv_a" and f == DEAD:
                    np.testing.assert_array_equal(colour, DEAD_RGB)
                    assert rates[name][f] == 0.0
                    levels.append(0)
                    continue
                assert not (colour == DEAD_RGB).all()
                level = index_of(colour)
                assert len(level), colour  # a viridis colour
                # within one level: a value at 0 may land either side in other kernels
                assert np.abs(level - rates[name][f] * 255).min() <= 1, (name, f, k)
                levels.append(level[0])
            # the mean over filters is the logged on_rate (every filter has the same samples)
            on_rate = scalars[f"on_rate/{name}"][k - 1]
            assert abs(np.mean(levels) / 255 - on_rate) <= 1 / 255 + 1e-6
    assert "dead_filters/conv_b" not in scalars  # no floor behind the LeakyReLU


def test_the_timeline_gains_one_column_per_event(timeline_run):
    log_dir, _ = timeline_run
    steps = read_images(log_dir)["filter_health/conv_a"]
    top, left, bottom = axes_margins(4)
    framed = [decode_png(steps[step][0]) for step in (-1, 0, 1, 2)]
    assert [image.shape for image in framed] == [(top + 64 + bottom, legend_width(), 3)] * 4
    images = [image[top : top + 64, left : left + 8 * n] for n, image in enumerate(framed, 1)]
    for n, image in enumerate(images):  # the history is kept: earlier columns never change
        np.testing.assert_array_equal(image, images[-1][:, : 8 * (n + 1)])
        assert (image[16:32] == DEAD_RGB).all()  # filter 1 dead at every step
    text = read_descriptions(log_dir)["filter_health/conv_a"]
    assert "one row per filter" in text and "Red" in text
    assert "no dead state" in read_descriptions(log_dir)["filter_health/conv_b"]


@pytest.mark.filterwarnings("ignore:actlog. at the end of training:RuntimeWarning")
def test_the_timeline_can_be_left_out(tmp_path):
    model = two_layer_model()
    for name, options in (("off", {"timeline": False}), ("no_stats", {"stats": False})):
        logger = actlog.ActivationLogger(PROBE, log_dir=tmp_path / name, verbose=0, **options)
        model.fit(PROBE, np.zeros(8, int), epochs=1, verbose=0, callbacks=[logger])
        tags = set(read_images(tmp_path / name))
        assert tags and not any(tag.startswith("filter_health/") for tag in tags)
