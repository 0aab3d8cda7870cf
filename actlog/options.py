"""The options of a logging run, validated once: :class:`LoggerOptions`, and the checks that
the plots and the CLI share with it.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong kind of ``layers``) naming the
option, what it must be and what was given, so a bad option fails in the constructor, before
any training step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from actlog.images import check_cmap, check_normalize
from actlog.layers import LayerSpec, check_layer_spec

MeasureAt = Literal["activation", "layer"]
MEASURE_AT = ("activation", "layer")


def check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    """Raises ValueError unless ``value`` is an integer >= 1 (or None with ``allow_none``)."""
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        also = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= 1{also}; got {value!r}.")


def check_measure_at(measure_at: Any) -> None:
    """Raises ValueError unless ``measure_at`` is ``"activation"`` or ``"layer"``."""
    if measure_at not in MEASURE_AT:
        raise ValueError(f"measure_at must be 'activation' or 'layer'; got {measure_at!r}.")


@dataclass(frozen=True)
class LoggerOptions:
    """Everything :class:`actlog.ActivationLogger` takes besides the probe, the sinks and the
    sub-model to read (objects, not option values); each field is documented there. Validated
    on construction.

    Example:
        ```python
        options = LoggerOptions(every_n_epochs=2, normalize="layer")
        ```
    """

    layers: LayerSpec = "conv"
    log_dir: str | os.PathLike[str] = "logs/actlog"
    every_n_epochs: int = 1
    normalize: Literal["filter", "layer", "fixed"] = "filter"
    max_filters: int | None = 64
    cmap: str | None = None
    probe_size: int = 8
    log_initial: bool = True
    min_tile_size: int = 16
    max_image_size: int = 1024
    max_pending: int = 2
    stats: bool = True
    dormant_threshold: float = 0.025
    measure_at: MeasureAt = "activation"
    dead_warn_fraction: float = 0.1
    timeline: bool = True
    convergence: bool = True
    weights: bool = False
    weights_cmap: str | None = None
    overlays: int = 0
    maximize_every_n_epochs: int | None = None
    maximize_steps: int = 30
    animate: bool = False
    report: bool = True
    on_error: Literal["warn", "raise"] = "warn"
    max_layers: int | None = 16
    max_event_mb: float = 5.0
    sample_images: bool = False
    verbose: int = 1

    def params(self) -> dict[str, str | int | float | bool | None]:
        """The options as flat values, what a tracker keeps as a run's parameters (a list of
        layers or a selecting function as its text)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: value if value is None or isinstance(value, str | int | float | bool)
                else str(value) for name, value in values.items()}  # fmt: skip

    def __post_init__(self) -> None:
        for name in ("every_n_epochs", "probe_size", "min_tile_size", "max_image_size",
                     "max_pending", "maximize_steps"):  # fmt: skip
            check_positive_int(name, getattr(self, name))
        check_positive_int("max_filters", self.max_filters, allow_none=True)
        check_positive_int("max_layers", self.max_layers, allow_none=True)
        mb = self.max_event_mb
        if isinstance(mb, bool) or not isinstance(mb, int | float) or not mb > 0:
            raise ValueError(f"max_event_mb must be a number of megabytes > 0; got {mb!r}.")
        check_positive_int("maximize_every_n_epochs", self.maximize_every_n_epochs, True)
        overlays = self.overlays
        if isinstance(overlays, bool) or not isinstance(overlays, int) or overlays < 0:
            raise ValueError(
                f"overlays must be an integer >= 0 (filters per image); got {overlays!r}."
            )
        check_measure_at(self.measure_at)
        if self.dormant_threshold < 0 or not 0.0 <= self.dead_warn_fraction <= 1.0:
            raise ValueError("dormant_threshold must be >= 0 and dead_warn_fraction in [0, 1].")
        check_normalize(self.normalize)
        check_cmap(self.cmap)
        check_cmap(self.weights_cmap)
        if self.on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' or 'raise'; got {self.on_error!r}.")
        check_layer_spec(self.layers)
        if os.path.isfile(self.log_dir):
            raise ValueError(f"log_dir {os.fspath(self.log_dir)!r} is a file; pass a directory.")
