"""``ActivationLogger``: the Keras callback. It only orchestrates: when to log, and the lifecycle.

The work is done by :mod:`actlog.probe` (the fixed input), :mod:`actlog.layers` and
:mod:`actlog.extract` (the feature model), :mod:`actlog.events` (what an event writes: grids,
statistics, weights, overlays), :mod:`actlog.sinks` (writing) and :mod:`actlog.worker` (the
background thread that builds and writes events).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np

from actlog.animate import animate_layers
from actlog.backend import is_chief
from actlog.events import EventBuilder, LayerPlan, write_record
from actlog.extract import FeatureExtractor, FeatureMapError
from actlog.geometry import layer_geometry
from actlog.images import GridRenderer, check_cmap
from actlog.kernels import layer_kernel
from actlog.layers import LayerRef, LayerSpec, check_layer_spec, select_layers
from actlog.maximize import FilterMaximizer
from actlog.measure import measure_points
from actlog.options import MeasureAt
from actlog.overlays import stretch_geometry
from actlog.probe import Probe, fit_probe_to_model, is_dataset, make_probe
from actlog.sinks import Sink, TensorBoardSink, make_sinks
from actlog.worker import BackgroundWorker, WorkerStats

logger = logging.getLogger(__name__)

#: The step of the image logged at train begin, before any weight update: it sorts before
#: epoch 0 on TensorBoard's step slider.
INITIAL_STEP = -1


class ActivationLogger(keras.callbacks.Callback):
    """Logs the feature maps of a model's convolution layers as image grids while it trains.

    At train begin (``log_initial``) and at the end of every ``every_n_epochs`` epochs, the
    fixed ``probe`` batch runs through a feature model built and compiled once; each chosen
    layer's maps are normalized to [0, 1], tiled into one grid per probe sample and written to
    every sink under ``activations/<layer path>``, at ``step = epoch`` (0-based, as Keras's own
    TensorBoard callback counts epochs) and :data:`INITIAL_STEP` (-1) for the untrained model.
    Scrub TensorBoard's step slider to watch the filters form.

    The training thread only runs the forward pass and copies the maps to the host; rendering,
    encoding and writing run on one background thread behind a bounded queue. A failing sink
    warns once and the others go on. In a distributed run only the chief logs.

    Args:
        probe: the inputs to look at, fixed for the whole run: an array or tensor; an
            ``(x, y)`` tuple (labels go into the captions); a list or dict of arrays for a
            multi-input model; or a ``tf.data.Dataset`` (batched or not), from which
            ``probe_size`` samples are taken once at train begin. Arrays are copied.
        layers: ``"conv"`` (every convolution layer, inside nested models too), or layer names,
            paths (``"backbone/block_1_expand"``), glob patterns over paths, layer classes, or a
            list of those. Any layer whose output is a feature map may be named.
        log_dir: the TensorBoard run directory (its own run: don't share it with another
            writer). Used by the ``"tensorboard"`` sink.
        every_n_epochs: log at the end of every this many epochs (epochs n-1, 2n-1, ...).
        normalize: ``"filter"`` (each map by its own range), ``"layer"`` (one range per layer
            and probe sample: weak filters look dark) or ``"fixed"`` (the layer range frozen at
            the first logged event: changes over epochs are real).
        max_filters: tile at most this many filters per layer, the first by index (None: all).
        cmap: a matplotlib colour map name (``"viridis"``, ``"magma"``...); None is greyscale.
        sinks: where to write: ``"tensorboard"`` (default), ``"wandb"``, :class:`Sink` objects
            such as ``WandbSink(project=...)``, or a list of those. Every sink gets the same
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
        stats: also log per-layer statistics (scalars ``dead_filters/``, ``on_rate/``,
            ``mean_activation/``; histogram ``activation_hist/``; table ``dead_filter_list/``
            with since when each filter has been dead), frame dead filters in red in the grids,
            and warn at train end about layers with many dead filters.
        dormant_threshold: tau of the dormant-filter test (see :mod:`actlog.stats`).
        measure_at: ``"activation"``: a conv layer with a linear activation followed by
            BatchNormalization and/or an activation layer is measured after that activation,
            where its filters can die; ``"layer"``: each layer's own output.
        dead_warn_fraction: warn at train end for every layer whose share of dead filters is
            at least this.
        weights: also log each layer's filter weights under ``weights/<layer path>``.
        weights_cmap: colour map of the weight images (a diverging one such as ``"RdBu_r"``
            shows the sign); None is grey (RGB for kernels with 3 input channels).
        overlays: also log, under ``overlays/<layer path>``, the this many most active filters
            of each probe sample as heatmaps over the input image (0: off). Needs an image
            input ``(batch, height, width, channels)``.
        maximize_every_n_epochs: also log, every this many epochs (off by default), what each
            filter looks for: ``maximized/<layer path>``, a grid of the inputs that maximize
            each shown filter (:mod:`actlog.maximize`), at the same steps as the activations
            (and -1 with ``log_initial``). It runs ``maximize_steps`` forward and backward
            passes of a batch of ``max_filters`` images per layer on the training thread:
            ``bench/`` measures its cost. Needs one image input of fixed size.
        maximize_steps: gradient-ascent steps per maximization.
        animate: at train end, save per layer an animated GIF of the first probe sample's
            grids epoch after epoch beside the TensorBoard run (``<log_dir>/animations/``),
            and log it to W&B as a video where that sink is used.
        on_error: ``"warn"``: a failing sink or logging event warns once (per sink or kind of
            failure) and training goes on; ``"raise"``: the error stops training at the next
            epoch end. Errors in the set-up always raise, before the first training step.

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
        # then: tensorboard --logdir logs   (the Images tab)
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
        weights: bool = False,
        weights_cmap: str | None = None,
        overlays: int = 0,
        maximize_every_n_epochs: int | None = None,
        maximize_steps: int = 30,
        animate: bool = False,
        on_error: Literal["warn", "raise"] = "warn",
    ) -> None:
        super().__init__()
        for name, value in [
            ("every_n_epochs", every_n_epochs),
            ("probe_size", probe_size),
            ("min_tile_size", min_tile_size),
            ("max_image_size", max_image_size),
            ("max_pending", max_pending),
        ]:
            _check_positive_int(name, value)
        if max_filters is not None:
            _check_positive_int("max_filters", max_filters)
        if maximize_every_n_epochs is not None:
            _check_positive_int("maximize_every_n_epochs", maximize_every_n_epochs)
        _check_positive_int("maximize_steps", maximize_steps)
        if isinstance(overlays, bool) or not isinstance(overlays, int) or overlays < 0:
            raise ValueError(
                f"overlays must be an integer >= 0 (filters per image); got {overlays!r}."
            )
        if measure_at not in ("activation", "layer"):
            raise ValueError(f"measure_at must be 'activation' or 'layer'; got {measure_at!r}.")
        if dormant_threshold < 0 or not 0.0 <= dead_warn_fraction <= 1.0:
            raise ValueError("dormant_threshold must be >= 0 and dead_warn_fraction in [0, 1].")
        check_cmap(weights_cmap)
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' or 'raise'; got {on_error!r}.")
        check_layer_spec(layers)
        if os.path.isfile(log_dir):
            raise ValueError(f"log_dir {os.fspath(log_dir)!r} is a file; pass a directory.")
        self.layers = layers
        self.every_n_epochs = every_n_epochs
        self.probe_size = probe_size
        self.log_initial = log_initial
        self.max_pending = max_pending
        self.on_error = on_error
        self.stats = stats
        self.dormant_threshold = dormant_threshold
        self.measure_at = measure_at
        self.dead_warn_fraction = dead_warn_fraction
        self.weights = weights
        self.weights_cmap = weights_cmap
        self.overlays = overlays
        self.maximize_every_n_epochs = maximize_every_n_epochs
        self.maximize_steps = maximize_steps
        self.animate = animate
        self.renderer = GridRenderer(normalize, max_filters, cmap, min_tile_size, max_image_size)
        self.sinks: list[Sink] = make_sinks(sinks, log_dir)
        #: Failures per sink name, counted on the background thread.
        self.sink_failures: dict[str, int] = {}
        self._probe_source = probe if is_dataset(probe) else None
        self._given_probe: Probe | None = None if is_dataset(probe) else make_probe(probe)
        self._probe: Probe | None = None
        self._refs: list[LayerRef] = []
        self._extractor: FeatureExtractor | None = None
        self._builder: EventBuilder | None = None
        self._maximizers: dict[str, FilterMaximizer] = {}
        self._worker: BackgroundWorker | None = None
        self._active = False
        self._pending_error: BaseException | None = None
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def extractor(self) -> FeatureExtractor | None:
        """The feature extractor built at train begin (None before, and off the chief)."""
        return self._extractor

    @property
    def layer_paths(self) -> list[str]:
        """The paths of the logged layers, in model order (empty before train begin)."""
        return [ref.path for ref in self._refs]

    @property
    def worker_stats(self) -> WorkerStats | None:
        """What the background writer did in the last run (None before train begin)."""
        return None if self._worker is None else self._worker.stats

    @property
    def latest_stats(self) -> dict[str, Any]:
        """The statistics of the last logged event, per layer path (see :mod:`actlog.stats`)."""
        return {} if self._builder is None else dict(self._builder.latest_stats)

    def on_train_begin(self, logs: dict | None = None) -> None:
        probe = self._given_probe
        if probe is None:
            probe = make_probe(self._probe_source, self.probe_size, self.model)
        self._probe = probe
        self._refs = select_layers(self.model, self.layers)
        self._extractor = None
        self._pending_error = None
        self._active = is_chief(self.model)
        if not self._active:
            logger.info("actlog: not the chief of this cluster; this process logs nothing.")
            return
        for sink in self.sinks:
            sink.open()
        self._worker = BackgroundWorker(self.max_pending, on_error=self._job_failed)
        atexit.register(self._finish)
        if self.model.built:
            self._build_and_log_initial()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._active and self._extractor is None:
            self._build_and_log_initial()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._active:
            return
        self._raise_pending_error()
        if self._extractor is None:
            self._build_and_log_initial()
        if (epoch + 1) % self.every_n_epochs == 0:
            self._capture(epoch)
        if self._maximizers and (epoch + 1) % self.maximize_every_n_epochs == 0:
            self._capture_maximized(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._active:
            atexit.unregister(self._finish)
            if self.animate and self._worker is not None and self._builder is not None:
                self._worker.submit(self._write_animations)
            self._finish()
            self._raise_pending_error()
            if self.stats:
                self._warn_dead_layers()

    def flush(self) -> None:
        """Waits until every captured event has been written and flushed."""
        if self._worker is not None:
            self._worker.drain()

    def _finish(self) -> None:
        """Writes what is queued, closes the sinks and stops the worker. Also runs at
        interpreter exit when ``fit`` ended by an exception, so nothing captured is lost."""
        worker = self._worker
        if worker is None or not worker.alive:
            return
        worker.close()
        for sink in self.sinks:
            self._guard_sink(sink, sink.close)
        stats = worker.stats
        logger.info(
            "actlog: %d logging events written in %.2f s off the training thread; the training "
            "thread waited %d times (%.2f s) for a full queue.",
            stats.jobs,
            stats.busy_seconds,
            stats.full_waits,
            stats.full_wait_seconds,
        )

    def _build_and_log_initial(self) -> None:
        assert self._probe is not None, "on_train_begin sets the probe"
        probe = self._probe = fit_probe_to_model(self._probe, self.model)
        measured = (
            measure_points(self.model, self._refs, self.measure_at) if self.stats else self._refs
        )
        extracted = list({ref.path: ref for ref in [*self._refs, *measured]}.values())
        self._extractor = FeatureExtractor(self.model, extracted)
        try:
            maps = self._extractor(probe.x)
        except FeatureMapError:
            raise
        except Exception as error:
            raise ValueError(
                f"actlog could not run the probe through model {self.model.name!r} "
                f"({type(error).__name__}: {error}). Pass a probe of the shape and dtype the "
                "model takes, with the batch axis first."
            ) from error
        images = _first_input(probe) if self.overlays else None
        if self.overlays and (images is None or images.ndim != 4):
            raise ValueError(
                "overlays need an image input (batch, height, width, channels) to draw on; "
                "the probe's first input has shape "
                f"{None if images is None else images.shape}. Pass overlays=0."
            )
        plans = [
            LayerPlan(
                ref.path,
                type(ref.layer).__name__,
                point.path,
                self._geometry(ref, maps[ref.path], images) if self.overlays else None,
            )
            for ref, point in zip(self._refs, measured, strict=True)
        ]
        self._builder = EventBuilder(
            plans,
            self.renderer,
            probe.captions(),
            self.stats,
            self.dormant_threshold,
            self.weights,
            self.weights_cmap,
            self.overlays,
            images,
            self._warn_once,
        )
        self._maximizers = self._make_maximizers(maps) if self.maximize_every_n_epochs else {}
        if self.log_initial:
            self._capture(INITIAL_STEP, maps)
            if self._maximizers:
                self._capture_maximized(INITIAL_STEP)

    def _make_maximizers(self, maps: dict[str, np.ndarray]) -> dict[str, FilterMaximizer]:
        """One compiled maximizer per layer with 2-D maps, for its first ``max_filters``."""
        maximizers = {}
        for ref in self._refs:
            if maps[ref.path].ndim == 4:
                count = maps[ref.path].shape[-1]
                filters = range(min(count, self.renderer.max_filters or count))
                maximizers[ref.path] = FilterMaximizer(
                    self.model, ref, filters, steps=self.maximize_steps
                )
        return maximizers

    def _geometry(self, ref: LayerRef, maps: np.ndarray, images: np.ndarray) -> Any:
        if maps.ndim != 4:
            return None  # 1-D or 3-D maps: no 2-D overlay
        size = images.shape[1:3]
        geometry = layer_geometry(self.model, ref, size)
        if geometry is None:
            logger.info("actlog: overlays of %s stretch the map over the input.", ref.path)
            geometry = stretch_geometry(size, maps.shape[1:3])
        return geometry

    def _capture(self, step: int, maps: dict[str, np.ndarray] | None = None) -> None:
        """On the training thread: the forward pass and host copies, then hand over."""
        assert self._extractor is not None and self._worker is not None
        if not any(sink.enabled for sink in self.sinks):
            return
        try:
            activations = maps if maps is not None else self._extractor(self._probe.x)
            kernels = {}
            if self.weights:
                for ref in self._refs:
                    kernel = layer_kernel(ref.layer)
                    if kernel is not None:
                        kernels[ref.path] = kernel
        except Exception as error:
            self._failed("extract", f"extracting activations at step {step}", error)
            self._raise_pending_error()
            return
        self._worker.submit(functools.partial(self._write_event, step, activations, kernels))

    def _capture_maximized(self, step: int) -> None:
        """On the training thread (it needs the model): the gradient ascent; then hand over."""
        assert self._builder is not None and self._worker is not None
        if not any(sink.enabled for sink in self.sinks):
            return
        try:
            results = {path: maximizer(seed=0) for path, maximizer in self._maximizers.items()}
        except Exception as error:
            self._failed("maximize", f"maximizing filters at step {step}", error)
            self._raise_pending_error()
            return
        build = functools.partial(self._builder.maximized_records, results)
        self._worker.submit(lambda: self._write_records(step, build()))

    def _write_event(
        self, step: int, activations: dict[str, np.ndarray], kernels: dict[str, np.ndarray]
    ) -> None:
        """On the background thread: build the event's records and write them to each sink."""
        assert self._builder is not None
        self._write_records(step, self._builder.build(step, activations, kernels))

    def _write_records(self, step: int, records: list) -> None:
        sinks = [sink for sink in self.sinks if sink.enabled]
        for record in records:
            for sink in sinks:
                self._guard_sink(sink, write_record, sink, record, step)
        for sink in sinks:
            self._guard_sink(sink, sink.flush)

    def _write_animations(self) -> None:
        """On the background thread, after every event: one GIF per layer of the first probe
        sample's grids, step after step, read back from the TensorBoard run."""
        runs = [sink for sink in self.sinks if isinstance(sink, TensorBoardSink)]
        if not runs:
            self._warn_once("animate", "actlog: animate=True needs a TensorBoard sink to read.")
            return
        folder = Path(runs[0].log_dir) / "animations"
        paths = [plan.path for plan in self._builder.plans]
        for path, (gif, last_step) in animate_layers(runs[0].log_dir, paths, folder).items():
            logger.info("actlog: wrote %s", gif)
            for sink in self.sinks:
                if sink.enabled:
                    self._guard_sink(
                        sink, sink.write_animation, f"animations/{path}", str(gif), last_step
                    )
        for sink in self.sinks:
            self._guard_sink(sink, sink.flush)

    def _warn_dead_layers(self) -> None:
        dying = [
            f"{path} ({len(stats.dead)}/{stats.filters} = {stats.dead_fraction:.0%})"
            for path, stats in self.latest_stats.items()
            if stats.filters and stats.dead_fraction >= self.dead_warn_fraction
        ]
        if dying:
            warnings.warn(
                "actlog: at the end of training these layers have dead filters (output <= 0 "
                f"for every probe sample): {', '.join(dying)}. A lower learning rate, "
                "LeakyReLU or a different initialization may help; a bigger probe makes sure.",
                RuntimeWarning,
                stacklevel=3,
            )

    def _guard_sink(self, sink: Sink, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except Exception as error:
            with self._lock:
                self.sink_failures[sink.name] = self.sink_failures.get(sink.name, 0) + 1
            self._failed(f"sink:{sink.name}", f"the {sink.name} sink failed", error)

    def _job_failed(self, error: BaseException) -> None:
        self._failed("job", "a logging event failed", error)

    def _failed(self, key: str, what: str, error: BaseException) -> None:
        if self.on_error == "raise":
            with self._lock:
                self._pending_error = self._pending_error or error
            return
        self._warn_once(
            f"{key}:{type(error).__name__}",
            f"actlog: {what} ({type(error).__name__}: {error}); training goes on. Pass "
            "on_error='raise' to stop instead.",
        )

    def _raise_pending_error(self) -> None:
        with self._lock:
            error, self._pending_error = self._pending_error, None
        if error is not None:
            raise RuntimeError(f"actlog: logging failed: {error}") from error

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                logger.debug(message)
                return
            self._warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")


def _first_input(probe: Probe) -> np.ndarray:
    x = probe.x
    if isinstance(x, dict):
        return next(iter(x.values()))
    return x[0] if isinstance(x, list) else x
