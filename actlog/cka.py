"""Linear centred kernel alignment (CKA): how alike two representations of the same inputs are.

Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited")
compares two ``(samples, features)`` arrays ``X`` and ``Y`` that hold the same samples in the
same order. With the columns centred,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F),

a number in [0, 1]: 1 when ``Y`` is ``X`` up to an orthogonal transform and an isotropic
scaling (a layer that did not change, or only rotated or rescaled its channels), and near 0 for
unrelated features, but only when there are many more samples than features. For ``d``
independent isotropic features in each of ``n`` samples it reads about ``d / (n + d)`` (seen
here: (64, 64) gives 0.50, (64, 512) 0.89, (512, 64) 0.11, (256, 16) 0.06): linear CKA is biased
towards 1 when features are not much fewer than samples.

For a conv layer's output ``(batch, spatial..., channels)`` the samples are the probe samples
times the spatial positions and the features the channels. :func:`conv_features` keeps the
samples well above the features: at most :data:`MAX_ROWS` positions, drawn once at fixed places
(:func:`actlog.stats.sample_positions`, the same ones at every event), and at most
:data:`MAX_CHANNELS` channels (the first ones by index), fewer where a small map has few
positions, so that there are always at least :data:`ROWS_PER_CHANNEL` rows per channel (when
the map has at least that many positions): the bias of unrelated features stays at about
``1 / (ROWS_PER_CHANNEL + 1)`` = 0.06 at most, 0.03 with the full 2048 rows and 64 channels.

Pure: NumPy, no I/O. :func:`conv_features` also runs on ``keras.ops`` inside the compiled
capture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actlog.stats import sample_positions

#: The most rows (probe sample x spatial position) taken from one layer's output.
MAX_ROWS = 2048
#: The most channels taken from one layer's output, the first ones by index.
MAX_CHANNELS = 64
#: Rows per channel at least (where the map has that many positions): independent features
#: would read about ``1 / (ROWS_PER_CHANNEL + 1)``, not 0.
ROWS_PER_CHANNEL = 16


def linear_cka(a: Any, b: Any) -> float:
    """Linear CKA of two ``(samples, features)`` arrays with the same samples in the same order.

    Computed in float64: the columns centred, then ``||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)``
    (through the ``samples x samples`` Gram matrices where features outnumber samples, which is
    the same number). Invariant under an orthogonal transform and an isotropic scaling of
    either array; the feature counts of ``a`` and ``b`` may differ.

    Degenerate cases:

    - identical arrays give exactly 1.0, whatever they hold (a frozen layer, or a dead layer
      that stays all zeros, did not change);
    - otherwise, an array with no variance (every column constant, such as a dead layer) or a
      NaN or infinite value gives NaN: there is no pattern to compare.

    The result is clipped to [0, 1] (rounding can put it a hair outside).

    Args:
        a: ``(samples, features)``, such as a layer's output at one event.
        b: ``(samples, features')``, the same samples at another event or in another layer.

    Returns:
        The similarity in [0, 1], or NaN (see above).

    Raises:
        ValueError: unless both are 2-D with the same number of samples.

    Example:
        ```python
        rng = np.random.default_rng(0)
        x = rng.normal(size=(1000, 8))
        q, _ = np.linalg.qr(rng.normal(size=(8, 8)))  # an orthogonal matrix
        actlog.linear_cka(x, 3 * x @ q)  # 1.0 (to rounding): rotated and scaled
        actlog.linear_cka(x, rng.normal(size=(1000, 8)))  # about 0.01: unrelated
        ```
    """
    x, y = np.asarray(a), np.asarray(b)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(
            "linear_cka takes two (samples, features) arrays with the same samples; got shapes "
            f"{x.shape} and {y.shape}. For conv maps use actlog.cka.conv_features first."
        )
    if x.shape == y.shape and np.array_equal(x, y):
        return 1.0
    x, y = _centred(x), _centred(y)
    if x is None or y is None:
        return float("nan")
    if len(x) < max(x.shape[1], y.shape[1]):  # the Gram form: (samples, samples)
        gx, gy = x @ x.T, y @ y.T
        cross, norm_x, norm_y = np.vdot(gx, gy), np.linalg.norm(gx), np.linalg.norm(gy)
    else:
        cross = np.sum((y.T @ x) ** 2)
        norm_x, norm_y = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    return float(np.clip(cross / (norm_x * norm_y), 0.0, 1.0))


def _centred(array: np.ndarray) -> np.ndarray | None:
    """``array`` in float64 with every column centred (a constant column exactly 0), or None
    when it has no variance at all or a value that is not finite."""
    x = np.asarray(array, np.float64)
    if not np.all(np.isfinite(x)):
        return None
    constant = np.ptp(x, axis=0) == 0 if len(x) else np.ones(x.shape[1], bool)
    if constant.all():
        return None
    x = x - x.mean(axis=0)
    x[:, constant] = 0.0
    return x


def feature_shape(positions: int, channels: int) -> tuple[int, int]:
    """How many rows and channels :func:`conv_features` takes from an output with ``positions``
    rows (probe samples x spatial positions) and ``channels`` channels.

    Rows: all positions, at most :data:`MAX_ROWS`. Channels: at most :data:`MAX_CHANNELS`, and
    at most one per :data:`ROWS_PER_CHANNEL` rows (at least 1).

    Example:
        ```python
        feature_shape(8 * 56 * 56, 256)  # (2048, 64)
        feature_shape(8 * 2 * 2, 512)    # (32, 2): a tiny map keeps 16 rows per channel
        ```
    """
    rows = min(positions, MAX_ROWS)
    return rows, max(1, min(channels, MAX_CHANNELS, rows // ROWS_PER_CHANNEL))


def conv_features(activation: Any, xp: Any = np) -> Any:
    """The ``(rows, channels)`` float32 features of a channels-last output ``(batch, spatial...,
    channels)`` that :func:`linear_cka` compares: rows are probe samples x spatial positions at
    the fixed places of :func:`actlog.stats.sample_positions` (the same at every event for the
    same shape), channels the first ones by index, as many as :func:`feature_shape` says.

    Written once for NumPy (``xp=numpy``) and for ``keras.ops`` (inside the compiled capture,
    so only these rows leave the device). Where the shape is not known when traced, the first
    :data:`MAX_ROWS` rows are taken instead of spread ones.

    Example:
        ```python
        conv_features(maps["conv2d"]).shape  # (2048, 32) for (8, 26, 26, 32) maps
        ```
    """
    channels = int(activation.shape[-1])
    flat = xp.reshape(activation, (-1, channels))
    dims = activation.shape[:-1]
    if any(d is None for d in dims):
        rows, keep = feature_shape(MAX_ROWS, channels)
        taken = flat[:rows]
    else:
        positions = int(np.prod(dims))
        rows, keep = feature_shape(positions, channels)
        taken = xp.take(flat, sample_positions(positions, rows), axis=0)
    if xp is np:
        return np.asarray(taken[:, :keep], np.float32)
    return xp.cast(taken[:, :keep], "float32")
