"""MLflow: step-indexed images, metrics, tables and GIFs in an MLflow run.

MLflow's fluent API keeps the active run per thread, and sinks write on the logger's
background thread; so the run is resolved once in :meth:`MlflowSink.open`, on the training
thread, and every write goes through an :class:`mlflow.MlflowClient` with that run's id.

MLflow's HTTP client retries a request to an unreachable server for about 4 minutes
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, 7 retries with backoff) before it raises. So that a
stopped server does not hold up the writer (and, through its full queue, training) that long at
every event, the sink tries a plain TCP connection to an ``http(s)`` server (at most
:data:`PROBE_TIMEOUT` seconds) before the first record of each logging event: if nothing
answers, every record of that event raises at once and nothing is sent.
"""

from __future__ import annotations

import logging
import math
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from actlog.extras import install_hint
from actlog.sinks.base import Sink
from actlog.sinks.mlflow_run import experiment_id_for, is_connection_error, same_uri, unreachable
from actlog.view import metadata as view_metadata

logger = logging.getLogger(__name__)

_INSTALL_HINT = f"MlflowSink needs the mlflow package: {install_hint('mlflow')}"

#: Bins of the histograms written as JSON (TensorBoard's default bucket count).
HISTOGRAM_BINS = 30
#: The most metrics one ``log_batch`` request carries (MLflow's limit).
MAX_METRICS_PER_BATCH = 1000

# MLflow's image keys allow these characters only (metric names a few more).
_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_\-./ ]")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return mlflow


def mlflow_key(tag: str) -> str:
    """The MLflow metric and image key of an actlog tag: the tag itself, with every character
    that MLflow's image keys do not allow (anything but ASCII letters, digits, ``_ - . /`` and
    space) replaced by ``_``. actlog's tags from Keras layer names pass unchanged.

    Example:
        ```python
        mlflow_key("activations/011 block_1_expand_relu")  # unchanged
        mlflow_key("activations/conv:0")                    # "activations/conv_0"
        ```
    """
    key = _NOT_IN_KEY.sub("_", tag)
    # MLflow rejects keys that a path normalization changes ("a//b", "a/./b", "a/..").
    return "/".join(part if part.strip(".") else part.replace(".", "_") or "_"
                    for part in key.split("/"))  # fmt: skip


class MlflowSink(Sink):
    """Logs to an MLflow run.

    The run: ``run_id`` if given; else the active run at train begin (``mlflow.active_run()``
    on the thread that calls ``fit``: yours, or the one ``mlflow.keras.autolog()`` starts
    around ``fit``); else a new run that the sink creates in ``experiment_name`` and ends
    (``FINISHED``) at train end; another ``fit`` with the same logger reopens that run and
    appends to it. A run the sink did not create is left as it was (``RUNNING``). A run the
    sink creates is not made the active run: fluent calls (``mlflow.log_metric``,
    ``mlflow.keras.MlflowCallback``) do not log to it; start a run yourself to share one.

    What goes where, under the same tags as TensorBoard (see :func:`mlflow_key`):

    - images: ``client.log_image(run_id, image, key=tag, step=step)``, one image per tag and
      step (MLflow's UI shows it with a step slider); with ``sample_images=True``, one key per
      probe sample, ``<tag>/probe <i>``. Captions and descriptions are not sent.
    - scalars: metrics with steps, one ``log_batch`` per logging event.
    - tables: per logging event one JSON artifact ``tables/step_<step>.json``:
      ``{tag: {"columns": [...], "data": [[...], ...]}}``.
    - histograms: per logging event one JSON artifact ``histograms/step_<step>.json``:
      ``{tag: {"edges": [...], "counts": [...], "nonfinite": n}}``, 30 bins over the finite
      values (MLflow has no histogram type).
    - animations: the GIF file under ``animations/``.
    - the view's documents (:mod:`actlog.view.metadata`): one JSON artifact per logging event,
      ``actlog/event/step_<step>.json``.

    Args:
        run_id: the id of the run to log to (left running).
        experiment_name: the experiment of a run the sink creates (created if missing);
            default: the one ``mlflow.set_experiment``, ``MLFLOW_EXPERIMENT_NAME`` or
            ``MLFLOW_EXPERIMENT_ID`` chose, else MLflow's default experiment.
        tracking_uri: the tracking server; default MLflow's own (``mlflow.set_tracking_uri``,
            ``MLFLOW_TRACKING_URI``). An active run is used only where it lives at this URI.
        run_name: the name of a run the sink creates.
        tags: tags of a run the sink creates.

    Raises:
        ImportError: if mlflow is not installed, naming ``pip install "actlog[mlflow]"``.

    Example:
        ```python
        with mlflow.start_run():
            model.fit(x, y, epochs=10, callbacks=[actlog.ActivationLogger(
                probe, sinks=["tensorboard", actlog.MlflowSink()])])
        ```
    """

    name = "mlflow"

    def __init__(
        self,
        run_id: str | None = None,
        experiment_name: str | None = None,
        tracking_uri: str | None = None,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self._mlflow = _import_mlflow()
        from mlflow.entities import Metric, Param

        self._metric, self._param = Metric, Param
        self._given_run_id, self._experiment_name = run_id, experiment_name
        self._tracking_uri, self._run_name = tracking_uri, run_name
        self._tags = dict(tags) if tags else None
        self._client: Any = None
        self._uri: str | None = None
        self._run_id: str | None = None
        self._owns_run = False
        self._created: tuple[str, str] | None = None  # (tracking URI, id) of the run it made
        self._empty = False  # the run it made holds nothing yet
        self._reset()

    def _reset(self) -> None:
        self._metrics: list[Any] = []
        self._tables: dict[str, Any] = {}
        self._histograms: dict[str, Any] = {}
        self._documents: dict[str, Any] = {}
        self._step: int | None = None  # the step of what is staged
        self._checked = False  # the server was checked for this logging event
        self._unreachable: str | None = None  # why this event is not sent

    @property
    def run_id(self) -> str | None:
        """The id of the run written to (None before train begin)."""
        return self._run_id

    @property
    def destination(self) -> str:
        return self._uri or self._tracking_uri or self._mlflow.get_tracking_uri()

    def check(self) -> None:
        """Checks the arguments and that the tracking URI parses; contacts nothing."""
        for what, value in (("run_id", self._given_run_id),
                            ("experiment_name", self._experiment_name)):  # fmt: skip
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"MlflowSink: {what} must be a non-empty string; got {value!r}.")
        uri = self.destination
        try:
            parts = urllib.parse.urlsplit(uri)
            _ = parts.port  # raises for a port that is not a number
        except ValueError as error:
            raise ValueError(f"MlflowSink: bad tracking URI {uri!r}: {error}") from None
        if parts.scheme in ("http", "https") and not parts.hostname:
            raise ValueError(f"MlflowSink: the tracking URI {uri!r} names no host.")

    def open(self) -> None:
        """Resolves the run (on the training thread, where the active run is known): the given
        one, the active one, or a new one. Raises if the server cannot be reached or the run
        does not exist."""
        if self._run_id is not None:
            return
        mlflow = self._mlflow
        uri = self._tracking_uri or mlflow.get_tracking_uri()
        problem = unreachable(uri)
        if problem is not None:
            raise ConnectionError(f"Cannot reach the MLflow tracking server {uri!r}: {problem}")
        client = mlflow.MlflowClient(uri)
        active = mlflow.active_run()
        same_store = self._tracking_uri is None or same_uri(uri, mlflow.get_tracking_uri())
        if self._given_run_id is not None:
            run_id, owns = client.get_run(self._given_run_id).info.run_id, False
        elif active is not None and same_store:
            run_id, owns = active.info.run_id, False
        elif self._created is not None and self._created[0] == uri:  # another fit
            run_id, owns = self._created[1], True
            client.update_run(run_id, status="RUNNING")
        else:
            experiment_id = experiment_id_for(client, self._experiment_name)
            run = client.create_run(experiment_id, tags=self._tags, run_name=self._run_name)
            run_id, owns = run.info.run_id, True
            self._created = (uri, run_id)
            self._empty = True
        self._client, self._uri, self._run_id, self._owns_run = client, uri, run_id, owns
        self._reset()

    def _ready(self, step: int) -> None:
        """Before each record: a new logging event flushes what is staged and checks the
        server once; an event whose server is unreachable raises for every record."""
        if self._run_id is None:
            raise RuntimeError("MlflowSink is not open: it opens at train begin.")
        if self._step is not None and step != self._step:
            self.flush()
        self._step = step
        if not self._checked:
            self._checked = True
            problem = unreachable(self._uri or "")
            self._unreachable = None if problem is None else f"cannot be reached ({problem})"
        if self._unreachable is not None:
            raise ConnectionError(f"the MLflow tracking server {self._uri!r} {self._unreachable}: "
                                  f"nothing of step {step} is sent")  # fmt: skip

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        """``client.<method>(run_id, ...)``; a connection that fails even after MLflow's
        retries makes the rest of the event fail at once."""
        try:
            getattr(self._client, method)(self._run_id, *args, **kwargs)
        except Exception as error:
            if is_connection_error(error):
                self._unreachable = f"failed to answer ({type(error).__name__}: {error})"
            raise
        self._empty = False

    def write_images(
        self,
        tag: str,
        images: np.ndarray,
        step: int,
        captions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> None:
        self._ready(step)
        key = mlflow_key(tag)
        for index, image in enumerate(images):
            name = key if len(images) == 1 else f"{key}/probe {index}"
            self._call("log_image", np.asarray(image, np.uint8), key=name, step=step)

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        self._ready(step)
        metric = self._metric(mlflow_key(tag), float(value), int(time.time() * 1000), step)
        self._metrics.append(metric)

    def write_histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._ready(step)
        values = np.asarray(values, np.float64).ravel()
        finite = values[np.isfinite(values)]
        counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
        self._histograms[tag] = {"edges": edges.tolist(), "counts": counts.tolist(),
                                 "nonfinite": int(values.size - finite.size)}  # fmt: skip

    def write_table(
        self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[object]], step: int
    ) -> None:
        self._ready(step)
        self._tables[tag] = {"columns": [str(column) for column in columns],
                             "data": [[_plain(cell) for cell in row] for row in rows]}  # fmt: skip

    def write_animation(self, tag: str, gif_path: str, step: int) -> None:
        self._ready(step)
        self._call("log_artifact", str(gif_path), "animations")

    def write_html(self, tag: str, html_path: str, step: int) -> None:
        """The report as the run's artifact ``actlog/<file name>``, which MLflow's artifact
        viewer shows."""
        self._ready(step)
        self._call("log_artifact", str(html_path), "actlog")

    def write_params(
        self, tag: str, values: Mapping[str, str | int | float | bool | None], step: int
    ) -> None:
        """The options as the run's params ``<tag>.<option>`` (``actlog.every_n_epochs``). A
        param the run already holds is left as it is (MLflow refuses to change one): a later
        fit into the same run with other options logs at INFO what it kept."""
        self._ready(step)
        held = self._client.get_run(self._run_id).data.params
        params, kept = [], []
        for name, value in values.items():
            key, text = f"{tag}.{name}", str(value)
            if key not in held:
                params.append(self._param(key, text))
            elif held[key] != text:
                kept.append(f"{key}={held[key]!r} (now {text!r})")
        if params:
            self._call("log_batch", params=params)
        if kept:
            logger.info("actlog: MLflow run %s keeps its params %s.", self._run_id,
                        ", ".join(kept))  # fmt: skip

    def write_document(self, tag: str, content: Mapping[str, Any], step: int) -> None:
        self._ready(step)
        self._documents[tag] = content

    def flush(self) -> None:
        """Sends the staged metrics, tables and histograms of the event (dropped, not sent
        later, if its server was unreachable)."""
        metrics, tables, histograms, step = (self._metrics, self._tables, self._histograms,
                                             self._step)  # fmt: skip
        documents = self._documents
        unreachable = self._unreachable
        self._reset()
        if unreachable is not None or self._run_id is None:
            return
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            self._call("log_batch", metrics=metrics[start : start + MAX_METRICS_PER_BATCH])
        if tables:
            self._call("log_dict", tables, f"tables/step_{step}.json")
        if histograms:
            self._call("log_dict", histograms, f"histograms/step_{step}.json")
        for tag, document in documents.items():
            name = f"{mlflow_key(tag)}/step_{step}.json"  # actlog/event/step_3.json
            self._call("log_text", view_metadata.encode(document).decode(), name)

    def close(self) -> None:
        """Flushes, and ends the run if the sink created it (not if its server is
        unreachable: then it raises, and the run stays ``RUNNING``). A run it created and
        never wrote to (a set-up that failed after this sink opened) is deleted instead."""
        if self._run_id is None:
            return
        try:
            self.flush()
        finally:
            run_id, owns = self._run_id, self._owns_run
            self._run_id, self._owns_run = None, False
            if owns:
                problem = unreachable(self._uri or "")
                if problem is not None:
                    raise ConnectionError(
                        f"the MLflow tracking server {self._uri!r} cannot be reached "
                        f"({problem}): run {run_id} was not ended"
                    )
                if self._empty:
                    self._client.delete_run(run_id)
                    self._created, self._empty = None, False
                else:
                    self._client.set_terminated(run_id, "FINISHED")


def _plain(cell: object) -> object:
    """A table cell as JSON takes it."""
    if isinstance(cell, np.generic):
        cell = cell.item()
    if isinstance(cell, float) and not math.isfinite(cell):
        return str(cell)
    return cell if isinstance(cell, str | int | float | bool) or cell is None else str(cell)
