"""The typed records that producers make and sinks write: all a sink ever sees.

A record is a value with a tag; the step is given with it when it is written. Records know
nothing of Keras (producers make them from NumPy arrays) and nothing of the sinks (each sink
writes each kind its own way; see :meth:`actlog.sinks.Sink.write`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The step of the event logged at train begin, before any weight update: it sorts before
#: epoch 0 on TensorBoard's step slider.
INITIAL_STEP = -1


@dataclass(frozen=True)
class ImageSet:
    """uint8 images ``(k, height, width, 1 or 3)`` under one tag, all kept.

    Attributes:
        captions: one per image (the probe sample and its label), or None.
        description: what the images show, for the tag's card.
    """

    tag: str
    images: np.ndarray = field(repr=False)
    captions: Sequence[str] | None = None
    description: str | None = None


@dataclass(frozen=True)
class Scalar:
    """One number under a tag."""

    tag: str
    value: float


@dataclass(frozen=True)
class Histogram:
    """The distribution of ``values`` under a tag."""

    tag: str
    values: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Table:
    """A small table: column names and rows of plain values."""

    tag: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Animation:
    """An animated GIF file (written by the producer) under a tag."""

    tag: str
    path: Path


@dataclass(frozen=True)
class Html:
    """A self-contained HTML file (the run's report, :mod:`actlog.view.report`) under a tag."""

    tag: str
    path: Path


@dataclass(frozen=True)
class Document:
    """A JSON-able mapping under a tag: the data actlog's view reads (one per event; the
    contract is :mod:`actlog.view.metadata`). TensorBoard keeps it as a summary of actlog's
    own plugin; W&B and MLflow as JSON."""

    tag: str
    content: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Params:
    """The logger's options, once per run (with its first event): MLflow params, W&B config,
    a table in TensorBoard's Text tab."""

    tag: str
    values: Mapping[str, str | int | float | bool | None]


Record = ImageSet | Scalar | Histogram | Table | Animation | Html | Document | Params
