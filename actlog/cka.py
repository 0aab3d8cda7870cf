"""Linear centred kernel alignment (CKA): how alike two representations of the same inputs are.

Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited")
compares two ``(samples, features)`` arrays ``X`` and ``Y`` that hold the same samples in the
same order. With the columns centred,

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F),

a number in [0, 1]: 1 when ``Y`` is ``X`` up to an orthogonal transform and an isotropic
scaling (a layer that did not change, or only rotated or rescaled its channels). This plain
estimator is biased towards 1 when features are not many fewer than samples: ``d`` independent
isotropic features in each of ``n`` samples read about ``d / (n + d)`` (seen here: (64, 64)
gives 0.50, (64, 512) 0.89, (512, 64) 0.11).

The **debiased** estimator (``debiased=True``) replaces each Hilbert-Schmidt independence
criterion with its unbiased form (Song et al. 2012, as Kornblith et al. 2019 and Nguyen et al.
2021 use it): unrelated features read about 0 whatever ``n`` and ``d``, so every channel of a
layer can be compared. It works through the ``n x n`` Gram matrices (:func:`unbiased_gram`,
:func:`gram_cka`), needs at least 4 samples, and is clipped to [0, 1] (an estimate below 0 is
unrelated features).

For a conv layer's output ``(batch, spatial..., channels)`` the samples are the probe samples
times the spatial positions and the features are every channel. :func:`conv_features` takes at
most :data:`MAX_ROWS` positions, drawn once at fixed places
(:func:`actlog.stats.sample_rows`, the same at every event), and every channel: on a
trained CNN and ResNet50's stages this reads within 0.003 of the same measure over every
position, within 0.03 where a layer changed a lot (``bench/convergence.py``).

Pure: NumPy, no I/O. :func:`conv_features` also runs on ``keras.ops`` inside the compiled
capture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from actlog.stats import sample_rows

#: The most rows (probe sample x spatial position) taken from one layer's output.
MAX_ROWS = 256


def linear_cka(a: Any, b: Any, debiased: bool = False) -> float:
    """Linear CKA of two ``(samples, features)`` arrays with the same samples in the same order.

    Computed in float64: the columns centred, then ``||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)``
    (through the ``samples x samples`` Gram matrices where features outnumber samples, which is
    the same number); with ``debiased``, from the unbiased HSIC (:func:`gram_cka`), which reads
    about 0 for unrelated features however many there are. Invariant under an orthogonal
    transform and an isotropic scaling of either array; the feature counts of ``a`` and ``b``
    may differ.

    Degenerate cases:

    - identical arrays give exactly 1.0, whatever they hold (a frozen layer, or a dead layer
      that stays all zeros, did not change);
    - otherwise, an array with no variance (every column constant, such as a dead layer) or a
      NaN or infinite value gives NaN: there is no pattern to compare; so do fewer than 4
      samples with ``debiased``.

    The result is clipped to [0, 1] (rounding can put it a hair outside; the debiased estimate
    of unrelated features can fall below 0).

    Args:
        a: ``(samples, features)``, such as a layer's output at one event.
        b: ``(samples, features')``, the same samples at another event or in another layer.
        debiased: use the unbiased HSIC (Song et al. 2012), as the logger does.

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
        actlog.linear_cka(x[:50], rng.normal(size=(50, 500)), debiased=True)  # about 0
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
    if debiased:
        return gram_cka(unbiased_gram(x), unbiased_gram(y))
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


def unbiased_gram(features: Any) -> np.ndarray | None:
    """The Gram matrix of ``(samples, features)`` under unbiased centring (Song et al. 2012; as
    Kornblith et al.'s ``center_gram(unbiased=True)``), float64 ``(samples, samples)``: what
    :func:`gram_cka` compares. None where there is no pattern: fewer than 4 samples, every
    column constant, or a value that is not finite.

    Example:
        ```python
        gram = unbiased_gram(conv_features(maps["conv2d"]))  # (256, 256)
        ```
    """
    x = np.asarray(features, np.float32)  # the product, the costly part, in float32
    if x.ndim != 2 or len(x) < 4 or not np.isfinite(x).all():
        return None
    x = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)  # centred: no cancellation
    if not np.any(np.ptp(x, axis=0)):
        return None
    n = len(x)
    gram = (x @ x.T).astype(np.float64)
    np.fill_diagonal(gram, 0.0)
    means = gram.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    gram -= means[:, None]
    gram -= means[None, :]
    np.fill_diagonal(gram, 0.0)
    return gram


def gram_cka(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Debiased linear CKA from two :func:`unbiased_gram` matrices of the same samples (float64,
    or float32 to keep: the sums are taken in float64 either way): their unbiased HSIC over the
    square root of each one's with itself, clipped to [0, 1]; NaN if either is None."""
    if a is None or b is None:
        return float("nan")
    norm = np.sqrt(_dot(a, a) * _dot(b, b))
    if not norm > 0:
        return float("nan")
    return float(np.clip(_dot(a, b) / norm, 0.0, 1.0))


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, b, dtype=np.float64))


def feature_shape(
    dims: Sequence[int], channels: int, samples: int | None = None
) -> tuple[int, int]:
    """How many rows and channels :func:`conv_features` takes from an output of ``dims``
    (probe samples, spatial...) and ``channels`` channels: about :data:`MAX_ROWS` rows, the same
    places in every sample, or every position of a small map; every channel.

    Example:
        ```python
        feature_shape((8, 56, 56), 256)  # (256, 256): 32 places in each sample
        feature_shape((8, 3, 3), 512)    # (72, 512): every position of a small map
        ```
    """
    return len(sample_rows(dims, MAX_ROWS, samples)), channels


def conv_features(
    activation: Any, xp: Any = np, samples: int | None = None, start: Any = 0
) -> Any:
    """The ``(rows, channels)`` float32 features of a channels-last output ``(batch, spatial...,
    channels)`` that the debiased CKA compares: rows are probe samples x spatial positions at
    the fixed places of :func:`actlog.stats.sample_rows` (the same at every event for the
    same shape), about :data:`MAX_ROWS`; every channel. ``samples`` and ``start``: the whole
    probe's count and the part's first sample when ``activation`` is a part of it (the parts'
    rows, stacked, are the whole's).

    Written once for NumPy (``xp=numpy``) and for ``keras.ops`` (inside the compiled capture,
    so only these rows leave the device). Where the shape is not known when traced, the first
    :data:`MAX_ROWS` rows are taken instead of spread ones.

    Example:
        ```python
        conv_features(maps["conv2d"]).shape  # (256, 32) for (8, 26, 26, 32) maps
        ```
    """
    channels = int(activation.shape[-1])
    flat = xp.reshape(activation, (-1, channels))
    dims = activation.shape[:-1]
    if any(d is None for d in dims):
        taken = flat[:MAX_ROWS]
    else:
        taken = xp.take(flat, sample_rows(dims, MAX_ROWS, samples, start, xp), axis=0)
    if xp is np:
        return np.asarray(taken, np.float32)
    return xp.cast(taken, "float32")
