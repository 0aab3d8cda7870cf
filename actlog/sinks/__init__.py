"""Destinations for logged images and numbers, behind one interface (:class:`Sink`)."""

from actlog.sinks.base import Sink
from actlog.sinks.tensorboard import TensorBoardSink

__all__ = ["Sink", "TensorBoardSink"]
