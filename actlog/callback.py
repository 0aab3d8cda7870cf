"""``ActivationLogger``: the Keras callback. It only maps Keras's hooks onto a logging run.

Options are validated in :mod:`actlog.options`; the probe comes from :mod:`actlog.probe`, the
layers from :mod:`actlog.layers` and the model graph (:mod:`actlog.graph`); the kinds of output
are :mod:`actlog.producers`, captured together by :mod:`actlog.capture`; :mod:`actlog.run` owns
the lifecycle (open, capture, write, close) and :mod:`actlog.failures` the error policy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Literal

import keras

from actlog.backend import collective_forward, is_chief
from actlog.capture import Capture
from actlog.extract import LayersNotCalled
from actlog.failures import FailurePolicy
from actlog.layers import LayerRef, LayerSpec, select_layers
from actlog.options import LoggerOptions, MeasureAt
from actlog.probe import Probe, fit_probe_to_model, is_dataset, make_probe
from actlog.producers.convergence import ConvergenceProducer
from actlog.producers.report import ReportProducer
from actlog.producers.stats import StatsProducer
from actlog.records import INITIAL_STEP
from actlog.run import LoggingRun
from actlog.setup import build_run, say
from actlog.sinks import Sink, make_sinks
from actlog.targets import Pin, sub_models, watched_model
from actlog.userwarn import warn
from actlog.worker import WorkerStats

logger = logging.getLogger(__name__)

__all__ = ["INITIAL_STEP", "ActivationLogger"]


class ActivationLogger(keras.callbacks.Callback):
    """Logs the feature maps of a model's convolution layers as image grids while it trains.

    At train begin (``log_initial``) and at the end of every ``every_n_epochs`` epochs, the
    fixed ``probe`` batch runs through a feature model built and compiled once; each chosen
    layer's maps are normalized to [0, 1], tiled into one grid per probe sample (side by side
    in one image) and written to every sink under ``activations/<layer path>``, at
    ``step = epoch`` (0-based, as Keras's TensorBoard callback counts) and -1 before training.
    Scrub TensorBoard's step slider to watch the filters form. Step -1 is logged once per
    logger; ``fit(initial_epoch=k)`` continues at step k, and another ``fit`` with the same
    logger (freeze, then fine-tune) appends to the same run after the last step.

    The training thread only runs the forward pass and copies the maps to the host; rendering,
    encoding and writing run on one background thread behind a bounded queue. A failing sink
    warns once and the others go on. In a distributed run only the chief logs.

    Args:
        probe: the inputs to look at, fixed for the whole run: an array or tensor; an
            ``(x, y)`` tuple (labels go into the captions); a list or dict of arrays for a
            multi-input model; or a ``tf.data.Dataset`` (batched or not), from which
            ``probe_size`` samples are taken once at train begin. Arrays are copied.
        layers: ``"conv"`` (the convolution layers, nested models included; see
            ``max_layers``), or layer names, paths (``"backbone/block_1_expand"``), globs over
            paths, layer classes, or a list of those: any layer whose output is a feature map.
        log_dir: the TensorBoard run directory (its own run: don't share it with another
            writer). Used by the ``"tensorboard"`` sink.
        every_n_epochs: log at the end of every this many epochs (epochs n-1, 2n-1, ...).
        normalize: ``"filter"`` (each map by its own range), ``"layer"`` (one range per layer
            and probe sample: weak filters look dark) or ``"fixed"`` (the layer range frozen at
            the first logged event: changes over epochs are real).
        max_filters: tile at most this many filters per layer, the first by index (None: all).
        cmap: a matplotlib colour map name (``"viridis"``, ``"magma"``...); None is greyscale.
        sinks: where to write: ``"tensorboard"`` (default), ``"wandb"``, ``"mlflow"``,
            :class:`Sink` objects such as ``WandbSink(project=...)`` or
            ``MlflowSink(experiment_name=...)``, or a list of those. Every sink gets the same
            tags.
        probe_size: the number of samples taken from a ``tf.data.Dataset`` probe.
        log_initial: also log once at train begin, at step -1, before any weight update. A
            model that is built by its first training step (a Sequential without
            ``keras.Input``, a subclassed model never called) is logged after that step.
        min_tile_size: maps smaller than this many pixels are upscaled (nearest neighbour, by
            an integer factor) so 3x3 maps stay visible.
        max_image_size: the largest height and width of one grid, in pixels.
        max_pending: how many captured events may wait for the background writer. When that
            many wait, the training thread waits for room (nothing is dropped; the waits are
            counted in :attr:`worker_stats`).
        stats: also log per-layer statistics, dead filters and since when (see
            :mod:`actlog.measure`), frame them in red, and warn at train end about them.
        dormant_threshold: tau of the dormant-filter test (see :mod:`actlog.stats`).
        measure_at: ``"activation"``: a conv layer with a linear activation followed by
            BatchNormalization and/or an activation layer is measured after that activation,
            where its filters can die; ``"layer"``: each layer's own output.
        dead_warn_fraction: warn at train end for every layer whose share of dead filters is
            at least this.
        timeline: with ``stats``, also log ``filter_health/<layer path>``: one image per layer
            of every filter's on-rate at every logged step so far (a row per filter, a column
            per step, dead cells red; see :mod:`actlog.timeline`). It reads what the
            statistics read (no extra capture), but takes a share of ``max_event_mb``.
        convergence: also log how much each layer's output on the probe still changes: the
            debiased linear CKA over every channel (:func:`actlog.linear_cka` with
            ``debiased=True``) to the previous event under
            ``convergence/<layer path>`` (1: unchanged) and to the first event under
            ``convergence_to_first/<layer path>``, a table ``convergence_settled/all`` of since
            which step each layer has stayed at CKA >= 0.99, and one line on it at train end (see
            :mod:`actlog.producers.convergence` and :attr:`settled`).
        weights: also log each layer's filter weights under ``weights/<layer path>``.
        weights_cmap: colour map of the weight images (a diverging one such as ``"RdBu_r"``
            shows the sign); None is grey (RGB for kernels with 3 input channels).
        overlays: also log, under ``overlays/<layer path>``, the this many most active filters
            of each probe sample as heatmaps over the input image (0: off). Needs an image
            input ``(batch, height, width, channels)``.
        maximize_every_n_epochs: also log, every this many epochs (off by default), the
            inputs that maximize each shown filter (``maximized/<layer path>``, see
            :mod:`actlog.maximize`); it runs on the training thread (``bench/`` measures it).
        maximize_steps: gradient-ascent steps per maximization.
        animate: at train end, save per layer an animated GIF of its image epoch after epoch
            (``<log_dir>/animations/``), and log it to W&B as a video where that sink is used.
        report: at train end, write the run's view as one self-contained HTML file,
            ``<log_dir>/report.html`` (:mod:`actlog.view.report`: the actlog tab without a
            server, at most 20 MB, steps thinned evenly beyond that), read back from the
            TensorBoard sink's run, and log it to W&B as HTML media (``actlog/report``) and to
            MLflow as the artifact ``actlog/report.html`` where those sinks are used. Needs the
            ``"tensorboard"`` sink.
        on_error: ``"warn"``: a failing sink or logging event warns once (per sink or kind of
            failure) and training goes on; ``"raise"``: the error stops training at the next
            epoch end. Errors in the set-up always raise, before the first
            training step (a model that its first step builds: right after it), with nothing
            started.
        max_layers: with ``layers="conv"``, a model with more conv layers than this logs one
            per resolution stage (:mod:`actlog.choice`); 1x1-pixel maps are left out. None
            logs every conv layer.
        max_event_mb: the most megabytes one logging event writes: images are sized to fit.
        sample_images: one image per probe sample and layer (one TensorBoard card each)
            instead of one image per layer with the samples side by side, captioned.
        model: for a model that wraps others (keras-io's ``Distiller(student, teacher)``,
            ``GAN(discriminator, generator)``, a VAE): the sub-model to read, or its name.
            By default a wrapper's sub-models that accept the probe are all read, each through
            itself, with paths starting with its name (``"student/conv2d"``); see
            :mod:`actlog.targets`.
        verbose: 1 prints one line at train begin (what is logged, how big it gets); 0 only
            logs it (``logging``, logger ``actlog``).

    Raises:
        ValueError, TypeError: for bad arguments, in the constructor; for a probe or layer
            choice that does not fit the model, at train begin.
        ImportError: for the ``"wandb"`` sink without wandb installed.

    Example:
        ```python
        import actlog

        model.fit(
            x_train, y_train, epochs=10, validation_data=(x_val, y_val),
            callbacks=[actlog.ActivationLogger(probe=(x_val[:8], y_val[:8]),
                                               log_dir="logs/actlog")],
        )
        # then: tensorboard --logdir logs   (the actlog tab)
        ```
    """

    def __init__(
        self,
        probe: Any,
        layers: LayerSpec = "conv",
        log_dir: str | os.PathLike[str] = "logs/actlog",
        every_n_epochs: int = 1,
        normalize: Literal["filter", "layer", "fixed"] = "filter",
        max_filters: int | None = 64,
        cmap: str | None = None,
        sinks: str | Sink | Sequence[str | Sink] = "tensorboard",
        *,
        probe_size: int = 8,
        log_initial: bool = True,
        min_tile_size: int = 16,
        max_image_size: int = 1024,
        max_pending: int = 2,
        stats: bool = True,
        dormant_threshold: float = 0.025,
        measure_at: MeasureAt = "activation",
        dead_warn_fraction: float = 0.1,
        timeline: bool = True,
        convergence: bool = True,
        weights: bool = False,
        weights_cmap: str | None = None,
        overlays: int = 0,
        maximize_every_n_epochs: int | None = None,
        maximize_steps: int = 30,
        animate: bool = False,
        report: bool = True,
        on_error: Literal["warn", "raise"] = "warn",
        max_layers: int | None = 16,
        max_event_mb: float = 5.0,
        sample_images: bool = False,
        model: Pin = None,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        self.options = LoggerOptions(
            layers, log_dir, every_n_epochs, normalize, max_filters, cmap, probe_size,
            log_initial, min_tile_size, max_image_size, max_pending, stats, dormant_threshold,
            measure_at, dead_warn_fraction, timeline, convergence, weights, weights_cmap,
            overlays, maximize_every_n_epochs, maximize_steps, animate, report, on_error,
            max_layers,
            max_event_mb, sample_images, verbose,
        )  # fmt: skip
        self.sinks: list[Sink] = make_sinks(sinks, log_dir)
        self.failures = FailurePolicy(on_error)
        self._probe_source = probe if is_dataset(probe) else None
        self._given_probe: Probe | None = None if is_dataset(probe) else make_probe(probe)
        self._probe: Probe | None = None
        self._refs: list[LayerRef] = []
        self._run: LoggingRun | None = None
        self._run_model: keras.Model | None = None
        self._active = False  # this process runs the probe (the chief, or all under JAX)
        self._chief = True  # this process writes
        self._initial_logged = False
        self._last_step: int | None = None  # the last epoch end's step, over every fit
        self._step_offset: int | None = None  # step - epoch in this fit
        if not (model is None or isinstance(model, str | keras.Model)):
            raise TypeError(f"model must be a sub-model of the model being fit, its name, or "
                            f"None; got {model!r}.")  # fmt: skip
        self._pin = model
        self._target: keras.Model | None = None  # the model read: see actlog.targets

    @property
    def sink_failures(self) -> dict[str, int]:
        """Failures per sink that failed, counted on the background thread, one count per sink
        object. Each is keyed by the sink's name (``"tensorboard"``, ``"wandb"``) where no
        other sink of the logger has that name; sinks that share a name are keyed by name and
        destination (``"tensorboard:logs/a"``, the TensorBoard sink's log directory) or, where
        that does not tell them apart, by name and place in ``sinks`` (``"wandb#2"``, the
        second sink named ``wandb``). Warnings name the sink the same way."""
        return self.failures.sink_failures

    @property
    def extractor(self) -> Capture | None:
        """The run's compiled capture (``trace_count``, ``method``); None before train begin
        and off the chief."""
        return None if self._run is None else self._run.capture

    @property
    def layer_paths(self) -> list[str]:
        """The paths of the logged layers, in model order (empty before train begin)."""
        return [ref.path for ref in (self._run.layers if self._run else self._refs)]

    @property
    def worker_stats(self) -> WorkerStats | None:
        """What the background writer did in the last run (None before train begin)."""
        return None if self._run is None else self._run.worker_stats

    @property
    def background_seconds(self) -> dict[str, float]:
        """Seconds the background writer spent in the last run, per producer (``"grids"``,
        ``"stats"``, ``"timeline"``, ``"convergence"``, ...), per sink (``"sink
        tensorboard"``, its PNG encoding included; see ``TensorBoardSink.encode_seconds``) and
        on the dead-in-training checks (``"batch-statistics check"``)."""
        return {} if self._run is None else dict(self._run.seconds)

    @property
    def latest_stats(self) -> dict[str, Any]:
        """The statistics of the last logged event, per layer path (see :mod:`actlog.stats`)."""
        stats = self._run.producer(StatsProducer) if self._run else None
        return {} if stats is None else dict(stats.latest)

    @property
    def settled(self) -> dict[str, int | None]:
        """Per logged layer path, the step since which it has settled: its output's debiased
        linear CKA to the previous event's was at least 0.99 at that event and at every one after
        (:mod:`actlog.producers.convergence`); None where the last event's was not, or before two
        events were compared. Empty before train begin and with ``convergence=False``."""
        producer = self._run.producer(ConvergenceProducer) if self._run else None
        return {} if producer is None else producer.settled

    def on_train_begin(self, logs: dict | None = None) -> None:
        probe = self._given_probe
        if probe is None:
            probe = make_probe(self._probe_source, self.options.probe_size, self.model)
        self._probe = probe
        self._target = watched_model(self.model, probe, self._pin)
        refs = select_layers(self._target, self.options.layers)
        same = self._run is not None and self._run_model is self.model and (
            [ref.layer for ref in refs] == [ref.layer for ref in self._refs])
        self._refs = refs
        self.failures.clear()
        self._chief = chief = is_chief(self.model)
        self._active = chief or collective_forward()
        self._step_offset = None
        if not chief:
            logger.info(
                "actlog: not the chief of this cluster; this process writes nothing%s.",
                " (it runs the probe with the chief: the model spans both)" if self._active else "",
            )  # fmt: skip
        if not self._active:
            return
        if same:  # another fit of the same model: the same run goes on, in the same log
            assert self._run is not None
            self._run.start()
        else:
            self._run = None
            if self._target.built:
                self._start()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        # Not on_train_batch_end: overriding it turns off Keras's asynchronous batch dispatch.
        if self._active and self._run is None and self._target.built:
            self._start()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._active:
            return
        self.failures.raise_pending()
        if self._run is None:
            self._start()
        assert self._run is not None
        if self._step_offset is None:  # a later fit that restarts at epoch 0 goes on after
            last = self._last_step
            self._step_offset = 0 if last is None or epoch > last else last + 1 - epoch
        self._last_step = step = epoch + self._step_offset
        self._run.log(step, logs=logs)
        self.failures.raise_pending()

    def on_train_end(self, logs: dict | None = None) -> None:
        if not self._active or self._run is None:
            return
        self._run.close()
        self.failures.raise_pending()
        convergence = self._run.producer(ConvergenceProducer)
        settled = convergence.summary() if convergence else None
        if settled:
            say(settled, self.options.verbose, logger.info)
        report = self._run.producer(ReportProducer)
        line = report.line([sink.name for sink in self.sinks]) if report else None
        if line:
            say(line, self.options.verbose, logger.info)
        stats = self._run.producer(StatsProducer)
        summary = stats.dead_summary(self.options.dead_warn_fraction) if stats else None
        if summary:
            warn(summary)

    def flush(self) -> None:
        """Waits until every captured event has been written and flushed."""
        if self._run is not None:
            self._run.flush()

    def _start(self) -> None:
        """Builds the run on the first chance the model is built (any set-up error raises
        here, before the first step, with nothing started), then opens the sinks and logs
        step -1."""
        assert self._probe is not None, "on_train_begin sets the probe"
        probe = self._probe = fit_probe_to_model(self._probe, self._target)
        sinks = self.sinks if self._chief else []
        epochs = (self.params or {}).get("epochs")
        try:
            run, captured, line = build_run(self.options, self._target, self._refs, probe, sinks,
                                            self.failures, epochs)  # fmt: skip
        except LayersNotCalled:
            if self._target is not self.model or not sub_models(self.model):
                raise
            # A call that runs only some sub-models (a Distiller's runs the student): read
            # every sub-model that takes the probe, each through itself.
            self._target = watched_model(self.model, self._probe, wrapper=True)
            self._refs = select_layers(self._target, self.options.layers)
            return self._start()
        run.start()
        self._run, self._run_model = run, self.model
        if self._chief:
            say(" ".join([line, *probe.notes]), self.options.verbose, logger.info)
        if self.options.log_initial and not self._initial_logged:
            self._initial_logged = True
            run.log(INITIAL_STEP, captured)
            self.failures.raise_pending()
