"""Pure NumPy image functions: known arrays in, known pixels out."""

import numpy as np
import pytest

from actlog.images import (
    NONFINITE_RGB,
    SEPARATOR_GRAY,
    GridRenderer,
    check_cmap,
    colormap_lut,
    feature_maps,
    render_grids,
    resize_nearest,
    tile,
)
from actlog.layout import tile_size


def ramp_maps(batch=2, h=4, w=4, channels=3):
    """Filter c of sample b is a ramp from b*10 + c over the map: distinct, non-constant."""
    base = np.arange(h * w, dtype=np.float32).reshape(h, w)
    out = np.empty((batch, h, w, channels), np.float32)
    for b in range(batch):
        for c in range(channels):
            out[b, :, :, c] = base * (c + 1) + b * 10
    return out


def tiles_of(image, count, th, tw, cols):
    """Cuts a grid back into its tiles (inverse of the row-major layout with separators)."""
    return [
        image[
            (i // cols) * (th + 1) : (i // cols) * (th + 1) + th,
            (i % cols) * (tw + 1) : (i % cols) * (tw + 1) + tw,
        ]
        for i in range(count)
    ]


def test_filter_normalization_spans_full_range_per_tile():
    grids, _ = render_grids(ramp_maps(), normalize="filter", min_tile_size=4)
    assert grids.images.shape == (2, 4 * 2 + 1, 4 * 2 + 1, 1)
    assert grids.images.dtype == np.uint8
    for image in grids.images:
        for t in tiles_of(image[..., 0], 3, 4, 4, cols=2):
            assert t.min() == 0 and t.max() == 255


def test_constant_maps_become_zero_not_nan():
    acts = np.full((1, 5, 5, 2), 3.0, np.float32)
    acts[..., 1] = 0.0
    grids, _ = render_grids(acts, normalize="filter", min_tile_size=5)
    for t in tiles_of(grids.images[0, ..., 0], 2, 5, 5, cols=2):
        assert (t == 0).all()
    constant_layer = np.full((1, 5, 5, 2), 3.0, np.float32)
    for mode in ("layer", "fixed"):
        grids, _ = render_grids(constant_layer, normalize=mode, min_tile_size=5)
        for t in tiles_of(grids.images[0, ..., 0], 2, 5, 5, cols=2):
            assert (t == 0).all()
        assert grids.nonfinite == 0


def test_layer_normalization_keeps_order_between_filters():
    acts = ramp_maps(batch=1, channels=3)  # filter c is (c + 1) times filter 0
    grids, _ = render_grids(acts, normalize="layer", min_tile_size=4)
    means = [t.mean() for t in tiles_of(grids.images[0, ..., 0], 3, 4, 4, cols=2)]
    assert means[0] < means[1] < means[2]
    assert grids.images[0].max() == 255
    per_filter, _ = render_grids(acts, normalize="filter", min_tile_size=4)
    assert len({t.tobytes() for t in tiles_of(per_filter.images[0, ..., 0], 3, 4, 4, 2)}) == 1


def test_fixed_normalization_shows_a_doubled_activation_brighter():
    acts = ramp_maps(batch=1)
    renderer = GridRenderer(normalize="fixed", min_tile_size=4)
    first = renderer.render("conv", acts).images.astype(int)
    doubled = renderer.render("conv", acts * 2).images.astype(int)
    assert doubled.sum() > first.sum()
    assert (doubled >= first).all()
    layer_mode = GridRenderer(normalize="layer", min_tile_size=4)
    layer_mode.render("conv", acts)
    np.testing.assert_array_equal(layer_mode.render("conv", acts * 2).images, first)


def test_fixed_scale_waits_for_a_non_constant_first_range():
    renderer = GridRenderer(normalize="fixed", min_tile_size=2)
    assert renderer.render("l", np.zeros((1, 2, 2, 1), np.float32)).images.max() == 0
    ramp = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    assert renderer.render("l", ramp).images.max() == 255
    assert renderer.render("l", ramp / 2).images.max() < 255


def test_nan_and_inf_are_counted_and_drawn_distinctly():
    acts = ramp_maps(batch=1, channels=1)
    acts[0, 0, 0, 0] = np.nan
    acts[0, 1, 1, 0] = np.inf
    grids, _ = render_grids(acts, min_tile_size=4)
    assert grids.nonfinite == 2
    image = grids.images[0]
    assert image.shape[-1] == 3
    assert tuple(image[0, 0]) == NONFINITE_RGB
    assert tuple(image[1, 1]) == NONFINITE_RGB
    assert tuple(image[3, 3]) == (255, 255, 255)  # max of the finite values
    assert tuple(image[0, 1]) == (0, 0, 0)  # min of the finite values


def test_all_nan_map_does_not_crash():
    grids, _ = render_grids(np.full((1, 3, 3, 2), np.nan, np.float32), normalize="layer")
    assert grids.nonfinite == 18
    assert np.isin(grids.images, [0, 255, SEPARATOR_GRAY]).all()


def test_small_maps_are_upscaled_by_an_integer_nearest_factor():
    acts = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    grids, _ = render_grids(acts, min_tile_size=16)
    image = grids.images[0, ..., 0]
    assert image.shape == (18, 18)  # factor 6
    expected = np.kron(np.round(np.arange(9).reshape(3, 3) / 8 * 255), np.ones((6, 6)))
    np.testing.assert_array_equal(image, expected.astype(np.uint8))


def test_grid_is_near_square_row_major_with_separators():
    acts = np.zeros((1, 2, 2, 5), np.float32)
    for c in range(5):
        acts[0, 0, 0, c] = 1.0  # each map: one bright pixel top-left, rest dark
    grids, _ = render_grids(acts, min_tile_size=2)
    image = grids.images[0, ..., 0]
    assert image.shape == (2 * 2 + 1, 3 * 2 + 2)  # 3 columns, 2 rows
    assert (image[2, :] == SEPARATOR_GRAY).all()
    assert (image[:, 2] == SEPARATOR_GRAY).all() and (image[:, 5] == SEPARATOR_GRAY).all()
    assert [image[r, c] for r, c in [(0, 0), (0, 3), (0, 6), (3, 0), (3, 3)]] == [255] * 5
    assert (image[3:, 6:] == SEPARATOR_GRAY).all()  # the empty sixth cell


def test_max_filters_keeps_the_first_filters_by_index():
    acts = ramp_maps(batch=1, channels=10)
    grids, _ = render_grids(acts, max_filters=4, normalize="layer", min_tile_size=4)
    assert (grids.filters_shown, grids.filters_total) == (4, 10)
    full, _ = render_grids(acts[..., :4], normalize="layer", min_tile_size=4)
    np.testing.assert_array_equal(grids.images, full.images)


def test_image_size_is_capped():
    grids, _ = render_grids(np.random.rand(1, 64, 64, 64).astype(np.float32), max_image_size=200)
    assert max(grids.images.shape[1:3]) <= 200
    cols, _th, tw = tile_size(64, 64, 64, False, 16, 200)
    assert cols == 8 and cols * tw + cols - 1 <= 200


def test_one_d_maps_become_stacked_strips():
    acts = np.zeros((2, 10, 3), np.float32)
    acts[:, 7, :] = 1.0
    grids, _ = render_grids(acts, min_tile_size=16)
    image = grids.images[0, ..., 0]
    cols, th, tw = tile_size(3, 1, 10, True, 16, 1024)
    assert (cols, th) == (1, 8) and tw >= 64
    assert image.shape == (3 * th + 2, tw)
    strip = image[:th]
    assert (strip == strip[0]).all()  # every row of a strip is the same
    hot = np.flatnonzero(strip[0])
    assert hot.min() == 7 * tw // 10 and hot.max() == 8 * tw // 10 - 1


def test_three_d_maps_are_projected_by_max_over_depth():
    acts = np.zeros((1, 4, 3, 3, 1), np.float32)
    acts[0, 2, 1, 1, 0] = 5.0
    maps = feature_maps(acts)
    assert maps.shape == (1, 1, 3, 3)
    assert maps[0, 0, 1, 1] == 5.0 and maps.sum() == 5.0
    grids, _ = render_grids(acts, min_tile_size=3)
    assert grids.images[0, 1, 1, 0] == 255 and grids.images[0].sum() == 255


def test_colormap_gives_rgb_from_the_lut():
    acts = ramp_maps(batch=1, channels=1)
    grids, _ = render_grids(acts, cmap="viridis", min_tile_size=4)
    lut = colormap_lut("viridis")
    assert grids.images.shape[-1] == 3
    np.testing.assert_array_equal(grids.images[0, 0, 0], lut[0])
    np.testing.assert_array_equal(grids.images[0, 3, 3], lut[255])


def test_unknown_colormap_suggests_close_names():
    with pytest.raises(ValueError, match="viridis"):
        check_cmap("viridiss")


def test_unknown_normalization_is_rejected():
    with pytest.raises(ValueError, match="filter, layer, fixed"):
        render_grids(ramp_maps(), normalize="global")


def test_resize_and_tile_shapes():
    images = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2, 1)
    bigger = resize_nearest(images, 4, 4)
    np.testing.assert_array_equal(
        bigger[0, 0, ..., 0], np.kron(images[0, 0, ..., 0], np.ones((2, 2)))
    )
    assert tile(bigger, cols=2).shape == (2, 9, 9, 1)


def test_input_array_is_not_modified():
    acts = ramp_maps()
    acts[0, 0, 0, 0] = np.nan
    before = acts.copy()
    render_grids(acts, normalize="fixed")
    np.testing.assert_array_equal(acts, before)
