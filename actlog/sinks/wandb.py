"""Weights & Biases: images, scalars and histograms in a W&B run, on actlog's own step axis."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from actlog.extras import install_hint
from actlog.sinks.base import Sink
from actlog.view import metadata as view_metadata

#: The step metric of every key actlog logs to W&B: the epoch (-1 before training). Keys are
#: bound to it with ``define_metric``, so actlog never clashes with ``WandbMetricsLogger``
#: (``epoch/epoch``) or the user's own ``wandb.log`` calls.
STEP_METRIC = "actlog/step"

_INSTALL_HINT = f"WandbSink needs the wandb package: {install_hint('wandb')}"


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return wandb


class WandbSink(Sink):
    """Logs to a Weights & Biases run.

    Uses ``run`` if given, else the active ``wandb.run``; if there is none at train begin, it
    starts one with ``wandb.init(project=project, **init_kwargs)`` and finishes it at train end
    (a run it did not start is left open). Each logging event is one ``run.log`` call: per tag,
    a list of images (one per probe sample, captioned with its index and label), plus
    ``actlog/step``. In a disabled run (``mode="disabled"``) nothing is rendered or logged.

    Args:
        run: the W&B run to log to.
        project: the project of a run this sink starts.
        **init_kwargs: more arguments for ``wandb.init`` (``entity``, ``name``, ``mode``,
            ``dir``, ...).

    Raises:
        ImportError: if wandb is not installed, naming ``pip install "actlog[wandb]"``.

    Example:
        ```python
        logger = actlog.ActivationLogger(probe, sinks=["tensorboard", actlog.WandbSink(
            project="digits")])
        ```
    """

    name = "wandb"

    def __init__(self, run: Any = None, project: str | None = None, **init_kwargs: Any) -> None:
        self._wandb = _import_wandb()
        self._given_run = run
        self._init_kwargs = {"project": project, **init_kwargs}
        self._run: Any = None
        self._owns_run = False
        self._defined: set[str] = set()
        self._documents: set[str] = set()  # the run's files written to
        self._pending: dict[str, Any] = {}
        self._pending_step: int | None = None

    @property
    def run(self) -> Any:
        """The run written to (None before train begin)."""
        return self._run

    @property
    def enabled(self) -> bool:
        return self._run is None or not _is_disabled(self._run)

    def open(self) -> None:
        if self._run is not None:
            return
        run = self._given_run or self._wandb.run
        self._owns_run = run is None
        if run is None:
            run = self._wandb.init(**self._init_kwargs)
        self._run = run
        self._defined.clear()
        self._documents.clear()
        if self.enabled:
            run.define_metric(STEP_METRIC)

    def _stage(self, tag: str, value: Any, step: int) -> None:
        if self._pending_step is not None and step != self._pending_step:
            self.flush()
        if tag not in self._defined:
            self._run.define_metric(tag, step_metric=STEP_METRIC)
            self._defined.add(tag)
        self._pending[tag] = value
        self._pending_step = step

    def write_images(
        self,
        tag: str,
        images: np.ndarray,
        step: int,
        captions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        captions = list(captions) if captions else [None] * len(images)
        # wandb casts to uint8 itself: float images in [0, 1] would turn black. Pass uint8.
        media = [
            self._wandb.Image(image[..., 0] if image.shape[-1] == 1 else image, caption=caption)
            for image, caption in zip(images, captions, strict=True)
        ]
        self._stage(tag, media, step)

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        if self.enabled:
            self._stage(tag, float(value), step)

    def write_params(
        self, tag: str, values: Mapping[str, str | int | float | bool | None], step: int
    ) -> None:
        """The options in the run's config, under ``tag`` (``actlog``)."""
        if self.enabled:
            self._run.config.update({tag: dict(values)}, allow_val_change=True)

    def write_histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        if self.enabled:
            self._stage(tag, self._wandb.Histogram(np.asarray(values).ravel()), step)

    def write_table(
        self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[object]], step: int
    ) -> None:
        if self.enabled:
            table = self._wandb.Table(columns=list(columns), data=[list(row) for row in rows])
            self._stage(tag, table, step)

    def write_animation(self, tag: str, gif_path: str, step: int) -> None:
        if self.enabled:
            self._stage(tag, self._wandb.Video(str(gif_path), format="gif"), step)

    def write_html(self, tag: str, html_path: str, step: int) -> None:
        """The report as W&B HTML media, unchanged (no stylesheet injected): the run page
        shows it under ``tag``."""
        if self.enabled:
            self._stage(tag, self._wandb.Html(str(html_path), inject=False), step)

    def write_document(self, tag: str, content: Mapping[str, Any], step: int) -> None:
        """One JSON line per event in the run's file ``<tag>.jsonl`` (``actlog/event.jsonl``),
        which W&B uploads with the run's files."""
        if not self.enabled:
            return
        path = os.path.join(self._run.dir, f"{tag}.jsonl")
        if path not in self._documents:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._documents.add(path)
            self._run.save(path, base_path=self._run.dir, policy="live")
        with open(path, "ab") as handle:
            handle.write(view_metadata.encode(content) + b"\n")

    def flush(self) -> None:
        if self._pending and self._run is not None:
            self._run.log({**self._pending, STEP_METRIC: self._pending_step})
        self._pending, self._pending_step = {}, None

    def close(self) -> None:
        if self._run is None:
            return
        try:
            self.flush()
        finally:
            if self._owns_run:
                self._run.finish()
            self._run, self._owns_run = None, False


def _is_disabled(run: Any) -> bool:
    if getattr(run, "disabled", False):
        return True
    settings = getattr(run, "settings", None)
    return getattr(settings, "mode", None) == "disabled"
