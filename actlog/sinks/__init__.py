"""Destinations for logged images and numbers, behind one interface (:class:`Sink`)."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

from actlog.sinks.base import Sink
from actlog.sinks.mlflow import MlflowSink
from actlog.sinks.tensorboard import TensorBoardSink
from actlog.sinks.wandb import WandbSink

__all__ = ["MlflowSink", "Sink", "TensorBoardSink", "WandbSink", "make_sinks"]

SINK_NAMES = ("tensorboard", "wandb", "mlflow")


def make_sinks(
    sinks: Sequence[str | Sink] | str | Sink, log_dir: str | PathLike[str]
) -> list[Sink]:
    """Sink objects from names (``"tensorboard"``: a :class:`TensorBoardSink` on ``log_dir``;
    ``"wandb"``: a :class:`WandbSink` on the active or a new run; ``"mlflow"``: a
    :class:`MlflowSink` on the active or a new run) and sink objects.

    Raises:
        ValueError: for an unknown name or an empty list.
        TypeError: for anything else.
        ImportError: for ``"wandb"`` or ``"mlflow"`` without that package installed.
    """
    items = [sinks] if isinstance(sinks, str | Sink) else list(sinks)
    if not items:
        raise ValueError("sinks is empty: pass 'tensorboard', 'wandb', 'mlflow' or Sink objects.")
    made: list[Sink] = []
    for item in items:
        if isinstance(item, Sink):
            made.append(item)
        elif item == "tensorboard":
            made.append(TensorBoardSink(log_dir))
        elif item == "wandb":
            made.append(WandbSink())
        elif item == "mlflow":
            made.append(MlflowSink())
        elif isinstance(item, str):
            raise ValueError(f"Unknown sink {item!r}: use one of {SINK_NAMES} or a Sink object.")
        else:
            raise TypeError(f"sinks takes names {SINK_NAMES} or Sink objects; got {item!r}.")
    return made
