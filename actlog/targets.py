"""Which model the logger reads: the model being fit, or, for a model that only wraps others
(keras-io's distillation ``Distiller(student, teacher)``, ``GAN(discriminator, generator)``, a
VAE of an encoder and a decoder, contrastive learning), a view over the sub-models that take the
probe.

A wrapper is a subclassed ``keras.Model`` holding ``keras.Model`` attributes. It may have no
``call`` at all (a GAN trains through its own ``train_step``), or one that runs only some of
them (a Distiller's ``call`` runs the student). Its sub-models are built when it is made, so what
can be logged is known at train begin. The view is a Functional model that calls each sub-model
that accepts the probe on the same input: it shares their layers and weights, and every path
starts with the sub-model's name (``"student/conv2d"``, ``"teacher/conv2d"``).

Example:
    ```python
    target = watched_model(distiller, probe)  # a view over the student and the teacher
    target = watched_model(gan, latent_probe, pin="generator")  # the generator only
    ```
"""

from __future__ import annotations

import weakref
from typing import Any

import keras

from actlog.graph import is_graph_model
from actlog.probe import Probe, fit_probe_to_model

#: A sub-model to read, given as the model object or its name.
Pin = keras.Model | str | None

_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sub_models(model: keras.Model) -> list[keras.Model]:
    """The ``keras.Model`` layers ``model`` holds directly, in the order Keras tracks them."""
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def is_wrapper(model: keras.Model) -> bool:
    """Whether ``model`` is a subclassed model holding sub-models to read instead of it: it has
    no ``call`` (it trains through its own ``train_step``), or it holds nothing but sub-models
    and has not been built while they are (a Distiller with its own ``compute_loss`` is never
    built by ``fit``). A subclassed model with layers of its own beside a backbone is read
    through its ``call``."""
    subs = sub_models(model)
    if is_graph_model(model) or not subs:
        return False
    only_models = len(subs) == len(model.layers)
    return not _has_own_call(model) or (
        only_models and not model.built and all(sub.built for sub in subs))


def watched_model(model: keras.Model, probe: Probe, pin: Pin = None,
                  wrapper: bool | None = None) -> keras.Model:  # fmt: skip
    """The model the logger reads for ``model`` and ``probe``.

    Args:
        model: the model being fit.
        probe: the probe (its shapes decide which sub-models accept it).
        pin: a sub-model of ``model`` (the object or its name) to read alone.
        wrapper: read ``model``'s sub-models (True), ``model`` itself (False), or decide by
            :func:`is_wrapper` (None).

    Returns:
        ``model`` itself; or a Functional view over the sub-models that accept the probe (or the
        pinned one), each called on the same input.

    Raises:
        ValueError: for a ``pin`` that names no sub-model, or when no sub-model accepts the
            probe (the message lists each sub-model and the input it takes).
    """
    if pin is None and not (is_wrapper(model) if wrapper is None else wrapper):
        return model
    candidates = sub_models(model)
    if pin is not None:
        chosen = [m for m in candidates if m is pin or m.name == pin]
        if not chosen:
            names = [m.name for m in candidates]
            raise ValueError(
                f"model={pin if isinstance(pin, str) else pin.name!r} is not a sub-model of "
                f"{model.name!r}; its sub-models are {names}. Pass one of them (the object or "
                "its name), or model=None."
            )
        fit_probe_to_model(probe, chosen[0])  # raises with the probe's mistake named
        return _view(model, chosen)
    accepting = []
    for candidate in candidates:
        try:
            fit_probe_to_model(probe, candidate)
        except ValueError:
            continue
        accepting.append(candidate)
    if not accepting:
        takes = "; ".join(f"{m.name!r} takes {_input_shapes(m)}" for m in candidates)
        raise ValueError(
            f"No sub-model of {model.name!r} accepts the probe of shape {probe.shapes}: {takes}. "
            "Pass a probe that one of them takes (for a generator, a batch of latent vectors), "
            "or name one with model=...."
        )
    return _view(model, accepting)


def _view(model: keras.Model, targets: list[keras.Model]) -> keras.Model:
    """A Functional model calling each of ``targets`` on one input, built once per wrapper and
    set of targets (building it adds one call to each sub-model's graph)."""
    key = tuple(id(t) for t in targets)
    cached = _views.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    first = targets[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=(None, *t.shape[1:]), dtype=t.dtype),
        first.input if len(first.inputs) > 1 else first.inputs[0],
    )
    outputs = [target(inputs) for target in targets]
    view = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                       name=f"{model.name}_watched")  # fmt: skip
    _views[model] = (key, view)
    return view


def _input_shapes(model: keras.Model) -> Any:
    try:
        shapes = [tuple(spec.shape) for spec in model.inputs]
    except (AttributeError, ValueError):
        return "an input it has not been built for"
    return shapes[0] if len(shapes) == 1 else shapes


def _has_own_call(model: keras.Model) -> bool:
    return type(model).call is not keras.Model.call
