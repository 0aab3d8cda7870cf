"""Digit images for demos and tests: MNIST when it can be downloaded, synthetic otherwise.

``synthetic_digits`` renders the glyphs 0-9 once with the fonts that ship with matplotlib
(DejaVu Sans / Sans Mono / Serif, STIX, Computer Modern; regular, bold and italic faces),
thickens or thins their strokes, and caches them. Samples are then drawn with NumPy alone: a
random affine warp (rotation, scale, stretch, shear, shift), a smooth elastic distortion,
random contrast, blur and noise. A small CNN learns to classify them well, which makes them a
stand-in for MNIST on machines without network access.

Example:
    >>> (x_train, y_train), (x_test, y_test), source = load_digits("synthetic", 600, 100)
    >>> x_train.shape, x_train.dtype, y_train.dtype, source
    ((600, 28, 28, 1), dtype('float32'), dtype('int64'), 'synthetic')
"""

from __future__ import annotations

import functools
import os

import numpy as np

from actlog.userwarn import warn

__all__ = ["load_digits", "synthetic_digits"]

_SIZE = 28  # Output images are _SIZE x _SIZE, as MNIST.
_BOX = 20  # Like MNIST, each glyph is scaled so that its longer side is _BOX pixels.
_CANVAS = 40  # Side of the cached glyph templates, leaving room around the glyph.

# Font files bundled with matplotlib (mpl-data/fonts/ttf); those missing are skipped.
_FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
)
# Stroke widths, in pixels of the high-resolution render, that each font is thickened (or
# slightly thinned) towards. Glyphs there are about 60 px tall, 3x their final size, so these
# are 2 to 4 px strokes in the 28x28 images, like MNIST's pen strokes.
_STROKE_WIDTHS = (6.0, 8.0, 10.0, 12.0)
_CELL = 100  # Pixels per glyph cell in the high-resolution render.

# Ranges of the random changes applied to each sample.
_ROTATION_DEG = 12.0  # Rotation in [-12, 12] degrees.
_SHEAR = 0.25  # Horizontal shear factor in [-0.25, 0.25].
_SCALE = (0.8, 1.1)  # Height relative to MNIST's 20-pixel box.
_ASPECT = (0.8, 1.15)  # Width scale relative to the height scale.
_SHIFT = 1.0  # Translation of the centre of mass, in [-1, 1] pixels on each axis.
_ELASTIC = 1.2  # Largest standard deviation, in pixels, of the smooth elastic displacement.
_BLUR = 0.7  # Largest weight of a 3x3 box blur mixed into the image.
_GAIN = (0.7, 1.0)  # Peak intensity.
_NOISE = 0.08  # Largest standard deviation of the additive Gaussian noise.


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generates ``n`` MNIST-like images of printed digits, offline and deterministically.

    The ten classes are balanced (counts differ by at most one) and shuffled. The first call
    renders and caches the glyph templates (well under a second); later calls only
    warp and add noise with NumPy.

    Args:
        n: Number of images, at least 0.
        seed: Seed of the random generator; the same ``(n, seed)`` gives the same arrays
            (with the same NumPy and matplotlib versions, since the glyphs are rendered).

    Returns:
        ``(x, y)``: ``x`` float32 of shape ``(n, 28, 28, 1)`` with values in [0, 1] (white
        digit on black, like MNIST), ``y`` int64 of shape ``(n,)`` with labels 0-9.

    Raises:
        ValueError: If ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _generate(int(n), np.random.default_rng(seed))


def load_digits(
    source: str = "auto",
    n_train: int = 6000,
    n_test: int = 1000,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """Loads a train and a test set of 28x28 digit images.

    Args:
        source: ``"mnist"`` downloads MNIST through ``keras.datasets.mnist`` (or reads Keras's
            cache) and raises if that fails; ``"synthetic"`` generates digits with
            :func:`synthetic_digits`; ``"auto"`` tries MNIST and, if that fails for any
            reason, issues a ``UserWarning`` that says why and falls back to synthetic digits.
        n_train: Number of training images. MNIST is subsampled at random (without
            replacement) to at most its 60000 training images.
        n_test: Number of test images, MNIST capped at its 10000 test images.
        seed: Seed for the subsampling or the generation. The synthetic train and test sets
            come from independent streams, so they do not overlap.

    Returns:
        ``((x_train, y_train), (x_test, y_test), source_used)`` with ``x`` float32 of shape
        ``(n, 28, 28, 1)`` in [0, 1], ``y`` int64 labels 0-9, and ``source_used`` either
        ``"mnist"`` or ``"synthetic"``.

    Raises:
        ValueError: If ``source`` is unknown or a count is negative.
        RuntimeError: If ``source="mnist"`` and MNIST cannot be loaded.
    """
    if source not in ("auto", "mnist", "synthetic"):
        raise ValueError(f"source must be 'auto', 'mnist' or 'synthetic', got {source!r}")
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, got {n_train} and {n_test}")

    if source in ("auto", "mnist"):
        try:
            train, test = _load_mnist(n_train, n_test, seed)
            return train, test, "mnist"
        except Exception as exc:  # Any failure means "no MNIST here".
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
            if source == "mnist":
                raise RuntimeError(
                    f"Could not load MNIST with keras.datasets.mnist.load_data() ({reason}). "
                    "It needs network access on first use (it then caches the file in "
                    "~/.keras/datasets); use source='synthetic' to work offline."
                ) from exc
            warn(
                f"MNIST is unavailable ({reason}); using synthetic digits rendered from "
                "matplotlib's fonts instead.",
                UserWarning,
            )

    train = _generate(n_train, np.random.default_rng([seed, 0]))
    test = _generate(n_test, np.random.default_rng([seed, 1]))
    return train, test, "synthetic"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _load_mnist(
    n_train: int, n_test: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    import keras  # Imported here so that synthetic data does not need TensorFlow.

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    rng = np.random.default_rng(seed)

    def subsample(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.sort(rng.choice(len(x), size=min(n, len(x)), replace=False))
        images = (x[idx].astype(np.float32) / 255.0)[..., np.newaxis]
        return images, y[idx].astype(np.int64)

    return subsample(x_train, y_train, n_train), subsample(x_test, y_test, n_test)


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Renders every (font, digit, stroke) glyph once.

    Returns:
        ``(images, centers, labels)``: float32 ``(k, 40, 40)`` glyphs in [0, 1] whose longer
        side is 20 pixels, float32 ``(k, 2)`` centres of mass (row, column), int64 ``(k,)``.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font_dir = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    fonts = [os.path.join(font_dir, f) for f in _FONT_FILES]
    fonts = [f for f in fonts if os.path.exists(f)]
    if not fonts:
        raise RuntimeError(f"No bundled matplotlib fonts found in {font_dir}")

    # One figure, one row per font and one column per digit, drawn in a single pass.
    dpi = 100
    rows = len(fonts)
    fig = Figure(figsize=(10 * _CELL / dpi, rows * _CELL / dpi), dpi=dpi, facecolor="black")
    for r, font in enumerate(fonts):
        props = FontProperties(fname=font, size=60)
        for digit in range(10):
            fig.text(
                (digit + 0.5) / 10,
                1 - (r + 0.5) / rows,
                str(digit),
                fontproperties=props,
                color="white",
                ha="center",
                va="center",
                usetex=False,
                parse_math=False,
            )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    sheet = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255.0

    images, centers, labels = [], [], []
    for r in range(rows):
        strip = sheet[r * _CELL : (r + 1) * _CELL]
        # Grow or thin the strokes towards each target width, whatever the font's own width.
        width = _stroke_width(strip)
        radii = {max(-1, round((target - width) / 2)) for target in _STROKE_WIDTHS}
        for radius in sorted(radii):
            stroked = _dilate(strip, radius)
            for digit in range(10):
                glyph = _normalize_glyph(stroked[:, digit * _CELL : (digit + 1) * _CELL])
                if glyph is not None:
                    images.append(glyph[0])
                    centers.append(glyph[1])
                    labels.append(digit)
    return (
        np.stack(images),
        np.asarray(centers, np.float32),
        np.asarray(labels, np.int64),
    )


def _normalize_glyph(cell: np.ndarray) -> tuple[np.ndarray, tuple[float, float]] | None:
    """Crops a glyph, scales its longer side to _BOX pixels and centres it on a canvas.

    Returns:
        The ``(_CANVAS, _CANVAS)`` image and its centre of mass (row, column), or ``None`` for
        a blank cell.
    """
    from PIL import Image

    ys, xs = np.nonzero(cell > 0.1)
    if ys.size == 0:
        return None
    glyph = cell[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = glyph.shape
    scale = _BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(np.round(glyph * 255).astype(np.uint8))
    small = np.asarray(pil.resize(size, Image.LANCZOS), np.float32) / 255
    image = np.zeros((_CANVAS, _CANVAS), np.float32)
    top, left = (_CANVAS - size[1]) // 2, (_CANVAS - size[0]) // 2
    image[top : top + size[1], left : left + size[0]] = small
    mass = image.sum()
    if mass <= 0:
        return None
    rows, cols = np.indices(image.shape)
    return image, (float((rows * image).sum() / mass), float((cols * image).sum() / mass))


def _stroke_width(image: np.ndarray) -> float:
    """Mean stroke width in pixels of the ink in ``image``: twice the area over the perimeter."""
    ink = image > 0.5
    area = ink.sum()
    perimeter = (ink[1:] != ink[:-1]).sum() + (ink[:, 1:] != ink[:, :-1]).sum()
    return float(2 * area / max(perimeter, 1))


def _dilate(image: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation (radius > 0) or erosion (radius < 0) with an octagon of that radius.

    Alternates 3x3 square and cross steps, each computed as row then column maxima (minima).
    """
    reduce = np.maximum if radius > 0 else np.minimum
    fill = 0.0 if radius > 0 else 1.0
    out = image
    for step in range(abs(radius)):
        p = np.pad(out, 1, constant_values=fill)
        rows = reduce(reduce(p[:-2], p[1:-1]), p[2:])[:, 1:-1]  # vertical 3-neighbourhood
        if step % 2 == 0:  # square: then horizontal max of the vertical max
            p = np.pad(rows, ((0, 0), (1, 1)), constant_values=fill)
            out = reduce(reduce(p[:, :-2], p[:, 1:-1]), p[:, 2:])
        else:  # cross: union of the vertical and horizontal 3-neighbourhoods
            cols = reduce(reduce(p[1:-1, :-2], p[1:-1, 1:-1]), p[1:-1, 2:])
            out = reduce(rows, cols)
    return out


def _upsample_matrix(coarse: int, fine: int) -> np.ndarray:
    """Linear interpolation weights ``(fine, coarse)`` from a coarse grid to a fine one."""
    pos = np.linspace(0, coarse - 1, fine)
    lo = np.minimum(np.floor(pos).astype(int), coarse - 2)
    frac = pos - lo
    m = np.zeros((fine, coarse), np.float32)
    m[np.arange(fine), lo] = 1 - frac
    m[np.arange(fine), lo + 1] = frac
    return m


def _generate(n: int, rng: np.random.Generator, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    images, centers, template_labels = _templates()
    if n == 0:
        return np.zeros((0, _SIZE, _SIZE, 1), np.float32), np.zeros((0,), np.int64)
    # Templates grouped by digit: those of digit d are by_digit[first[d] : first[d] + count[d]].
    by_digit = np.argsort(template_labels, kind="stable")
    count = np.bincount(template_labels, minlength=10)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    f32 = np.float32

    y = rng.permutation(np.arange(n) % 10).astype(np.int64)
    x = np.empty((n, _SIZE, _SIZE), f32)
    up = _upsample_matrix(4, _SIZE)
    grid = np.arange(_SIZE, dtype=f32) - f32((_SIZE - 1) / 2)
    gy, gx = np.meshgrid(grid, grid, indexing="ij")  # Output pixel offsets from the centre.

    for start in range(0, n, chunk):
        labels = y[start : start + chunk]
        b = len(labels)
        pick = (rng.random(b) * count[labels]).astype(np.int64)
        which = by_digit[first[labels] + pick]

        # Forward transform: rotate(shear(scale(glyph))) then shift; we need its inverse.
        angle = np.deg2rad(rng.uniform(-_ROTATION_DEG, _ROTATION_DEG, b))
        shear = rng.uniform(-_SHEAR, _SHEAR, b)
        sy = rng.uniform(*_SCALE, b)
        sx = sy * rng.uniform(*_ASPECT, b)
        cos, sin = np.cos(angle), np.sin(angle)
        # A = R @ H @ S with R = [[c, -s], [s, c]], H = [[1, 0], [k, 1]] (rows are y, x).
        a00, a01 = cos * sy - sin * shear * sy, -sin * sx
        a10, a11 = sin * sy + cos * shear * sy, cos * sx
        det = a00 * a11 - a01 * a10
        inv = np.stack([a11, -a01, -a10, a00], axis=1).astype(f32) / det[:, None].astype(f32)
        shift = rng.uniform(-_SHIFT, _SHIFT, (b, 2)).astype(f32)

        oy = gy[None] - shift[:, 0, None, None]
        ox = gx[None] - shift[:, 1, None, None]
        src_y = inv[:, 0, None, None] * oy + inv[:, 1, None, None] * ox
        src_x = inv[:, 2, None, None] * oy + inv[:, 3, None, None] * ox

        # Smooth elastic distortion: random 4x4 displacements, linearly interpolated.
        strength = rng.uniform(0.0, _ELASTIC, (b, 1, 1)).astype(f32)
        field = up @ rng.standard_normal((b, 2, 4, 4), dtype=f32) @ up.T
        src_y += strength * field[:, 0] + centers[which, 0, None, None]
        src_x += strength * field[:, 1] + centers[which, 1, None, None]

        x[start : start + b] = _bilinear(images, which, src_y, src_x)

    # Photometric changes: blur, contrast, noise.
    alpha = rng.uniform(0.0, _BLUR, (n, 1, 1)).astype(f32)
    x += alpha * (_box_blur(x) - x)
    peak = np.maximum(x.reshape(n, -1).max(axis=1), 1e-3)[:, None, None]
    x *= rng.uniform(*_GAIN, (n, 1, 1)).astype(f32) / peak
    x += rng.uniform(0.0, _NOISE, (n, 1, 1)).astype(f32) * rng.standard_normal(x.shape, dtype=f32)
    np.clip(x, 0.0, 1.0, out=x)
    return x[..., np.newaxis], y


def _bilinear(
    images: np.ndarray, which: np.ndarray, src_y: np.ndarray, src_x: np.ndarray
) -> np.ndarray:
    """Samples ``images[which[b]]`` at float coordinates; outside the canvas reads as 0."""
    size = images.shape[-1]
    stride = size + 2
    # A zero border of one pixel: clamped coordinates then read zeros outside the glyph.
    flat = np.pad(images, ((0, 0), (1, 1), (1, 1))).reshape(-1)
    yy = np.clip(src_y + 1, 0, size)
    xx = np.clip(src_x + 1, 0, size)
    y0 = yy.astype(np.int32)  # Non-negative, so truncation is floor.
    x0 = xx.astype(np.int32)
    fy = yy - y0
    fx = xx - x0
    idx = y0 * stride + x0 + (which.astype(np.int32) * stride * stride)[:, None, None]
    v00 = flat[idx]
    v01 = flat[idx + 1]
    v10 = flat[idx + stride]
    v11 = flat[idx + stride + 1]
    top = v00 + fx * (v01 - v00)
    bottom = v10 + fx * (v11 - v10)
    return top + fy * (bottom - top)


def _box_blur(x: np.ndarray) -> np.ndarray:
    """3x3 mean filter over the last two axes, with zero padding."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]  # Separable: rows, then columns.
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]) * np.float32(1 / 9)
