"""``ActivationLogger``: the Keras callback. It only orchestrates: when to log, and the lifecycle.

The work is done by :mod:`actlog.probe` (the fixed input), :mod:`actlog.layers` and
:mod:`actlog.extract` (the feature model), :mod:`actlog.images` (grids) and :mod:`actlog.sinks`
(writing).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Literal

import keras
import numpy as np

from actlog.extract import FeatureExtractor, FeatureMapError
from actlog.images import GridRenderer
from actlog.layers import LayerRef, LayerSpec, check_layer_spec, select_layers
from actlog.probe import Probe, fit_probe_to_model, is_dataset, make_probe
from actlog.sinks import Sink, TensorBoardSink

logger = logging.getLogger(__name__)

#: The step of the image logged at train begin, before any weight update: it sorts before
#: epoch 0 on TensorBoard's step slider.
INITIAL_STEP = -1


class ActivationLogger(keras.callbacks.Callback):
    """Logs the feature maps of a model's convolution layers as image grids while it trains.

    At train begin (``log_initial``) and at the end of every ``every_n_epochs`` epochs, the
    fixed ``probe`` batch runs through a feature model built and compiled once; each chosen
    layer's maps are normalized to [0, 1], tiled into one grid per probe sample and written to
    TensorBoard under ``activations/<layer path>``, at ``step = epoch`` (0-based, as Keras's
    own TensorBoard callback counts epochs) and :data:`INITIAL_STEP` (-1) for the untrained
    model. Scrub TensorBoard's step slider to watch the filters form.

    Args:
        probe: the inputs to look at, fixed for the whole run: an array or tensor; an
            ``(x, y)`` tuple (labels go into the captions); a list or dict of arrays for a
            multi-input model; or a ``tf.data.Dataset`` (batched or not), from which
            ``probe_size`` samples are taken once at train begin. Arrays are copied.
        layers: ``"conv"`` (every convolution layer, inside nested models too), or layer names,
            paths (``"backbone/block_1_expand"``), glob patterns over paths, layer classes, or a
            list of those. Any layer whose output is a feature map may be named.
        log_dir: the TensorBoard run directory actlog writes to (its own run: don't share it
            with another writer).
        every_n_epochs: log at the end of every this many epochs (epochs n-1, 2n-1, ...).
        normalize: ``"filter"`` (each map by its own range), ``"layer"`` (one range per layer
            and probe sample: weak filters look dark) or ``"fixed"`` (the layer range frozen at
            the first logged event: changes over epochs are real).
        max_filters: tile at most this many filters per layer, the first by index (None: all).
        cmap: a matplotlib colour map name (``"viridis"``, ``"magma"``...); None is greyscale.
        probe_size: the number of samples taken from a ``tf.data.Dataset`` probe.
        log_initial: also log once at train begin, at step -1, before any weight update. A
            model that is built by its first training step (a Sequential without
            ``keras.Input``, a subclassed model never called) is logged after that step.
        min_tile_size: maps smaller than this many pixels are upscaled (nearest neighbour, by
            an integer factor) so 3x3 maps stay visible.
        max_image_size: the largest height and width of one grid, in pixels.
        on_error: ``"warn"``: a failure while logging warns once and training goes on;
            ``"raise"``: it stops training. Errors in the set-up always raise, before the
            first training step.

    Raises:
        ValueError, TypeError: for bad arguments, in the constructor; for a probe or layer
            choice that does not fit the model, at train begin.

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
        *,
        probe_size: int = 8,
        log_initial: bool = True,
        min_tile_size: int = 16,
        max_image_size: int = 1024,
        on_error: Literal["warn", "raise"] = "warn",
    ) -> None:
        super().__init__()
        _check_positive_int("every_n_epochs", every_n_epochs)
        _check_positive_int("probe_size", probe_size)
        _check_positive_int("min_tile_size", min_tile_size)
        _check_positive_int("max_image_size", max_image_size)
        if max_filters is not None:
            _check_positive_int("max_filters", max_filters)
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' or 'raise'; got {on_error!r}.")
        check_layer_spec(layers)
        if os.path.isfile(log_dir):
            raise ValueError(f"log_dir {os.fspath(log_dir)!r} is a file; pass a directory.")
        self.layers = layers
        self.every_n_epochs = every_n_epochs
        self.probe_size = probe_size
        self.log_initial = log_initial
        self.on_error = on_error
        self.renderer = GridRenderer(normalize, max_filters, cmap, min_tile_size, max_image_size)
        self.sinks: list[Sink] = [TensorBoardSink(log_dir)]
        self._probe_source = probe if is_dataset(probe) else None
        self._given_probe: Probe | None = None if is_dataset(probe) else make_probe(probe)
        self._probe: Probe | None = None
        self._refs: list[LayerRef] = []
        self._extractor: FeatureExtractor | None = None
        self._warned: set[str] = set()

    @property
    def extractor(self) -> FeatureExtractor | None:
        """The feature extractor built at train begin (None before)."""
        return self._extractor

    @property
    def layer_paths(self) -> list[str]:
        """The paths of the logged layers, in model order (empty before train begin)."""
        return [ref.path for ref in self._refs]

    def on_train_begin(self, logs: dict | None = None) -> None:
        probe = self._given_probe
        if probe is None:
            probe = make_probe(self._probe_source, self.probe_size, self.model)
        self._probe = probe
        self._refs = select_layers(self.model, self.layers)
        self._extractor = None
        for sink in self.sinks:
            sink.open()
        if self.model.built:
            self._build_and_log_initial()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._extractor is None:
            self._build_and_log_initial()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._extractor is None:
            self._build_and_log_initial()
        if (epoch + 1) % self.every_n_epochs == 0:
            self._log_event(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        for sink in self.sinks:
            self._guarded(sink.close, f"closing {sink.name}", key=f"close:{sink.name}")

    def _build_and_log_initial(self) -> None:
        assert self._probe is not None, "on_train_begin sets the probe"
        self._probe = fit_probe_to_model(self._probe, self.model)
        self._extractor = FeatureExtractor(self.model, self._refs)
        try:
            maps = self._extractor(self._probe.x)
        except FeatureMapError:
            raise
        except Exception as error:
            raise ValueError(
                f"actlog could not run the probe through model {self.model.name!r} "
                f"({type(error).__name__}: {error}). Pass a probe of the shape and dtype the "
                "model takes, with the batch axis first."
            ) from error
        if self.log_initial:
            self._log_event(INITIAL_STEP, maps)

    def _log_event(self, step: int, maps: dict[str, np.ndarray] | None = None) -> None:
        def log() -> None:
            assert self._extractor is not None and self._probe is not None
            activations = maps if maps is not None else self._extractor(self._probe.x)
            captions = self._probe.captions()
            for ref in self._refs:
                grids = self.renderer.render(ref.path, activations[ref.path])
                description = (
                    f"Feature maps of layer `{ref.path}` ({type(ref.layer).__name__}), one "
                    f"image per probe sample: filters 0-{grids.filters_shown - 1} of "
                    f"{grids.filters_total}, row-major, '{self.renderer.normalize}' "
                    "normalization. Step -1 is before training."
                )
                for sink in self.sinks:
                    sink.write_images(
                        f"activations/{ref.path}", grids.images, step, captions, description
                    )
                if grids.nonfinite:
                    self._warn_once(
                        f"nonfinite:{ref.path}",
                        f"Layer {ref.path!r} produced {grids.nonfinite} NaN or infinite values at "
                        f"step {step}; they are drawn in magenta and counted under "
                        f"nonfinite/{ref.path}.",
                    )
                    for sink in self.sinks:
                        sink.write_scalar(f"nonfinite/{ref.path}", grids.nonfinite, step)
            for sink in self.sinks:
                sink.flush()

        self._guarded(log, f"logging activations at step {step}", key="logging")

    def _guarded(self, action: Any, what: str, key: str) -> None:
        try:
            action()
        except Exception as error:
            if self.on_error == "raise":
                raise
            self._warn_once(
                f"{key}:{type(error).__name__}",
                f"actlog: {what} failed ({type(error).__name__}: {error}); training goes on. "
                "Pass on_error='raise' to stop instead.",
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
        logger.debug(message)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
