"""actlog.plots: matplotlib figures for notebooks, rendered headless with real tiny models."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import io
import warnings

import keras
import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import actlog
from actlog import plots
from tests import models

layers = keras.layers


@pytest.fixture(autouse=True)
def headless():
    """No plot may switch the backend or register a figure with pyplot (no window opens)."""
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    yield
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def seq():
    return models.sequential()


@pytest.fixture(scope="module")
def data():
    x, _ = models.digit_data(4)
    return x


def png(fig: Figure) -> np.ndarray:
    """Renders with the Agg canvas; the decoded PNG, checked not blank."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    image = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20, "the PNG is blank"
    return image


def tiles_and_bar(fig: Figure):
    *tiles, bar = fig.axes
    return tiles, bar


@pytest.mark.parametrize("sample", [1, -1])
def test_activations_filter_normalization(seq, data, sample):
    figures = plots.plot_activations(seq, data, sample=sample)
    maps = actlog.extract(seq, data)
    assert [fig.get_label() for fig in figures] == ["conv_a", "conv_b"]
    for fig, (path, activation) in zip(figures, maps.items(), strict=True):
        png(fig)
        tiles, bar = tiles_and_bar(fig)
        assert len(tiles) == activation.shape[-1]
        assert [ax.get_title() for ax in tiles] == [str(i) for i in range(len(tiles))]
        assert bar.get_ylim() == (0.0, 1.0)
        assert bar.get_ylabel() == "each filter scaled to its own min..max"
        title = fig.get_suptitle()
        assert path in title and str(activation.shape[1:]) in title
        assert f"sample {sample % len(data)}" in title
        for i, ax in enumerate(tiles):  # each tile holds its real values, by its own range
            values = activation[sample, ..., i]
            np.testing.assert_allclose(ax.images[0].get_array(), values, rtol=1e-5, atol=1e-6)
            lo, hi = ax.images[0].get_clim()
            assert (lo, hi) == pytest.approx((values.min(), values.max()), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("normalize", ["layer", "fixed"])
def test_activations_layer_bar_is_the_layers_range_on_the_sample(seq, data, normalize):
    sample = 2
    figures = plots.plot_activations(seq, data, sample=sample, normalize=normalize)
    maps = actlog.extract(seq, data)
    for fig, activation in zip(figures, maps.values(), strict=True):
        png(fig)
        tiles, bar = tiles_and_bar(fig)
        expected = (activation[sample].min(), activation[sample].max())
        assert bar.get_ylim() == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert "layer's min..max" in bar.get_ylabel()
        assert {ax.images[0].get_clim() for ax in tiles} == {bar.get_ylim()}


def test_activations_max_filters_layers_and_cmap(seq, data):
    (fig,) = plots.plot_activations(seq, data, layers="conv_b", max_filters=3, cmap="magma")
    png(fig)
    tiles, _ = tiles_and_bar(fig)
    assert [ax.get_title() for ax in tiles] == ["0", "1", "2"]
    assert "filters 0-2 of 6" in fig.get_suptitle()
    assert tiles[0].images[0].get_cmap().name.startswith("magma")


def test_activations_1d_and_3d_maps():
    x1 = np.random.default_rng(0).random((2, 20, 2), dtype=np.float32)
    (strips,) = plots.plot_activations(models.conv1d(), x1)
    png(strips)
    tiles, _ = tiles_and_bar(strips)
    assert len(tiles) == 3 and tiles[0].images[0].get_array().shape == (1, 18)

    x3 = np.random.default_rng(1).random((2, 4, 6, 6, 1), dtype=np.float32)
    model = models.conv3d()
    kernel = model.get_layer("c3").kernel  # positive filters on positive inputs: maps not all 0
    kernel.assign(np.abs(keras.ops.convert_to_numpy(kernel)))
    (projected,) = plots.plot_activations(model, x3, sample=1, normalize="layer")
    png(projected)
    tiles, bar = tiles_and_bar(projected)
    depth_max = actlog.extract(model, x3)["c3"][1].max(axis=0)  # (h, w, filters)
    assert len(tiles) == 2 and "max over depth" in projected.get_suptitle()
    np.testing.assert_allclose(tiles[1].images[0].get_array(), depth_max[..., 1], rtol=1e-5)
    assert bar.get_ylim() == pytest.approx((depth_max.min(), depth_max.max()), rel=1e-5)


def test_dead_and_nonfinite_maps_render_without_warnings():
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), layers.Conv2D(2, 3, kernel_initializer="zeros", name="dead")]
    )
    x = np.ones((1, 8, 8, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for normalize in ("filter", "layer"):
            (fig,) = plots.plot_activations(model, x, normalize=normalize)
            png(fig)  # all maps zero: tiles dark, titles and colour bar drawn
            _, bar = tiles_and_bar(fig)
            assert bar.get_ylim()[1] > bar.get_ylim()[0]
    x[0, 0, 0, 0] = np.nan
    (fig,) = plots.plot_activations(model, x)  # NaN flows through the zero kernel: magenta
    image = png(fig)
    assert (np.abs(image.astype(int) - [255, 0, 255]).sum(axis=-1) < 30).any()


def test_weights_symmetric_bar_and_mean_over_inputs(seq):
    figures = plots.plot_weights(seq)
    assert [fig.get_label() for fig in figures] == ["conv_a", "conv_b"]
    for fig, name in zip(figures, ["conv_a", "conv_b"], strict=True):
        png(fig)
        tiles, bar = tiles_and_bar(fig)
        kernel = actlog.layer_kernel(seq.get_layer(name))
        shown = kernel.mean(axis=2)  # (h, w, filters)
        largest = np.abs(shown).max()
        assert len(tiles) == kernel.shape[-1]
        assert [ax.get_title() for ax in tiles] == [str(i) for i in range(len(tiles))]
        assert bar.get_ylim() == pytest.approx((-largest, largest), rel=1e-6)
        for i, ax in enumerate(tiles):
            np.testing.assert_allclose(ax.images[0].get_array(), shown[..., i], rtol=1e-6)
            assert ax.images[0].get_clim() == pytest.approx((-largest, largest), rel=1e-6)
            assert ax.images[0].get_cmap().name.startswith("RdBu_r")
    assert "mean over 4 input channels" in figures[1].get_suptitle()


def test_weights_rgb_depthwise_and_layers_without_kernel():
    model = models.transfer_sequential()
    rgb, depthwise = plots.plot_weights(
        model, layers=["*/Conv1", "*/expanded_conv_depthwise"], max_filters=8
    )
    png(rgb)
    tiles, bar = tiles_and_bar(rgb)
    kernel = actlog.layer_kernel(model.get_layer("mobilenetv2_0.35_32").get_layer("Conv1"))
    largest = np.abs(kernel[..., :8]).max()
    assert len(tiles) == 8 and tiles[0].images[0].get_array().shape == (3, 3, 3)
    assert bar.get_ylim() == pytest.approx((-largest, largest), rel=1e-6)
    assert "filters 0-7 of 16" in rgb.get_suptitle()
    png(depthwise)
    assert len(depthwise.axes) == 8 + 1 and "depthwise" in depthwise.get_suptitle()

    assert len(plots.plot_weights(model, layers=["*/Conv1", "gap"], max_filters=2)) == 1
    with pytest.raises(ValueError, match="has a kernel"):
        plots.plot_weights(model, layers="gap")


def test_overlays_show_the_top_filters_over_the_input(seq, data):
    sample = 3
    figures = plots.plot_overlays(seq, data, top_k=2, sample=sample)
    maps = actlog.extract(seq, data)
    assert [fig.get_label() for fig in figures] == ["conv_a", "conv_b"]
    for fig, activation in zip(figures, maps.values(), strict=True):
        png(fig)
        assert len(fig.axes) == 1 + 2
        top = np.argsort(-activation[sample].mean(axis=(0, 1)), kind="stable")[:2]
        assert fig.axes[0].get_title() == f"input (sample {sample})"
        assert [ax.get_title() for ax in fig.axes[1:]] == [f"filter {i}" for i in top]
        for ax in fig.axes:
            assert ax.images[0].get_array().shape[:2] == data.shape[1:3]  # input pixels
        assert "aligned by receptive field" in fig.get_suptitle()


def test_overlays_fall_back_to_stretching_and_need_2d_maps():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.UpSampling2D(name="up"),
            layers.Conv2D(5, 3, name="after_up"),
        ]
    )
    x = np.random.default_rng(2).random((2, 8, 8, 3), dtype=np.float32)
    (fig,) = plots.plot_overlays(model, x, top_k=9)  # more than the layer has: all 5
    png(fig)
    assert len(fig.axes) == 1 + 5
    assert fig.axes[0].images[0].get_array().shape == (8, 8, 3)  # RGB input
    assert "stretched" in fig.get_suptitle()

    strips = keras.Sequential(
        [keras.Input((8, 8, 1)), layers.Reshape((64, 1)), layers.Conv1D(2, 3, name="c1d")]
    )
    with pytest.raises(ValueError, match="2-D feature maps"):
        plots.plot_overlays(strips, np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="image input"):
        plots.plot_overlays(models.conv1d(), np.zeros((2, 20, 2), np.float32))
    with pytest.raises(ValueError, match="top_k"):
        plots.plot_overlays(model, x, top_k=0)


def test_maximized_grid():
    rng = np.random.default_rng(3)
    fig = plots.plot_maximized(rng.random((5, 16, 16, 3)), filters=[3, 9, 4, 0, 7], title="c")
    png(fig)
    assert [ax.get_title() for ax in fig.axes] == [f"filter {i}" for i in (3, 9, 4, 0, 7)]
    assert fig.get_suptitle() == "c"

    grey = (rng.random((4, 12, 12, 1)) * 255).astype(np.uint8)
    fig = plots.plot_maximized(grey)
    png(fig)
    assert [ax.get_title() for ax in fig.axes] == [f"filter {i}" for i in range(4)]
    assert fig.axes[0].images[0].get_clim() == (0, 255)

    with pytest.raises(ValueError, match="entries for 4 images"):
        plots.plot_maximized(grey, filters=[1, 2])
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plots.plot_maximized(np.zeros((2, 8, 8, 2)))


def test_bad_arguments_raise(seq, data):
    for bad in (4, -5):
        with pytest.raises(ValueError, match="out of range"):
            plots.plot_activations(seq, data, sample=bad)
        with pytest.raises(ValueError, match="out of range"):
            plots.plot_overlays(seq, data, sample=bad)
    with pytest.raises(ValueError, match="integer"):
        plots.plot_activations(seq, data, sample=1.5)
    with pytest.raises(ValueError, match="conv_c"):
        plots.plot_activations(seq, data, layers="conv_c")
    with pytest.raises(ValueError, match="conv_c"):
        plots.plot_weights(seq, layers="conv_c")
    with pytest.raises(ValueError, match="normalize"):
        plots.plot_activations(seq, data, normalize="global")
    with pytest.raises(ValueError, match="colour map"):
        plots.plot_activations(seq, data, cmap="virdis")
    with pytest.raises(ValueError, match="max_filters"):
        plots.plot_weights(seq, max_filters=0)


def test_show_hands_the_figures_to_pyplot(seq, data, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(list(plt.get_fignums())))
    try:
        figures = plots.plot_activations(seq, data, show=True)
        assert len(shown) == 1 and len(shown[0]) == len(figures) == 2
        fig = plots.plot_maximized(np.zeros((1, 4, 4, 1)), show=True)
        assert isinstance(fig, Figure) and len(shown) == 2
    finally:
        plt.close("all")
