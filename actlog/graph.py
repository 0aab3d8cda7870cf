"""The model graph: which operation feeds which, traced once per model, asked by layer object.

:func:`model_graph` re-traces a graph model (Functional or Sequential, with nested graph models
at any depth, such as a ``keras.applications`` backbone inside your model) once on fresh
``keras.Input`` tensors, through public Keras API only (``keras.models.clone_model`` with a
``call_function`` that shares every layer). Each call of each operation is recorded: layers, and
the plain operations a Functional model holds (``x + 3.0`` in MobileNetV3 is an operation, not
a layer). Everything that needs topology reads it from here:

* the feature model of any set of layers (:meth:`ModelGraph.feature_model`), built from the
  traced tensors without tracing again, so repeated use adds nothing to the user's model;
* the consumers of an operation, and the activation a linear conv reaches through
  BatchNormalization (:meth:`ModelGraph.activation_point`);
* the operations from the input to a layer along first inputs (:meth:`ModelGraph.chain`),
  for receptive-field geometry.

A subclassed model (or one whose trace fails) has no graph: :attr:`ModelGraph.traced` is False
and :attr:`ModelGraph.reason` says why; its layers are read by recording their calls instead
(:mod:`actlog.extract`) and measured where they are.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from actlog.layers import LayerRef, unwrap, walk_layers

logger = logging.getLogger(__name__)

#: Layers after which a filter can be dead (its output <= 0 everywhere).
ACTIVATION_LAYER_TYPES: tuple[type[keras.layers.Layer], ...] = (
    keras.layers.ReLU,
    keras.layers.Activation,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)


class NotTraceable(Exception):
    """The model (or a nested model) is not a graph model that can be re-traced."""


class ModelGraph:
    """The traced topology of one model. Build it with :func:`model_graph` (cached per model).

    Attributes:
        refs: every layer of the model with its path, in model order (nested models included).
        traced: whether the model was re-traced (False for subclassed models).
        reason: why it was not traced ("" when it was).
        inputs: the fresh ``keras.Input`` structure the trace started from (None if untraced).
    """

    def __init__(self, model: keras.Model, batch_norm_training: bool = False) -> None:
        #: Traced with every BatchNormalization on batch statistics (``training=True``) and
        #: every other layer that takes ``training`` in inference: how the network that trains
        #: normalizes, with no dropout or augmentation (see :mod:`actlog.capture`).
        self.batch_norm_training = batch_norm_training
        self.refs: list[LayerRef] = list(walk_layers(model))
        self._refs_by_layer: dict[int, LayerRef] = {}
        for ref in self.refs:
            self._refs_by_layer.setdefault(id(ref.layer), ref)
        self.inputs: Any = None
        self.traced = False
        self.reason = ""
        self._ops: dict[int, Any] = {}  # id -> operation (keeps them alive)
        self._outputs: dict[int, Any] = {}  # id(op) -> its first call's output
        self._inputs_of: dict[int, list[Any]] = {}  # id(op) -> first call's input tensors
        self._producer: dict[int, Any] = {}  # id(tensor) -> the operation that made it
        self._consumers: dict[int, list[Any]] = {}  # id(op) -> operations fed by it, once each
        try:
            self.inputs = _fresh_inputs(model)
            self._trace(model, self.inputs)
            self.traced = True
        except NotTraceable as reason:
            self.reason = str(reason)
        except Exception as error:  # a graph Keras cannot re-trace: say so, read calls instead
            self.reason = f"re-tracing failed ({type(error).__name__}: {error})"
            logger.warning("actlog: model %r: %s; layers are read by recording their calls.",
                           model.name, self.reason)  # fmt: skip
        if not self.traced:
            self.inputs = None
            self._outputs.clear()

    def ref(self, layer: keras.layers.Layer) -> LayerRef | None:
        """The path of ``layer`` in the model (its first place), or None if not in it."""
        return self._refs_by_layer.get(id(layer))

    def output(self, layer: Any) -> Any:
        """The symbolic output of the first call of ``layer`` (or a nested model) in the trace.

        Raises:
            KeyError: if the trace never called it (or the model was not traced).
        """
        return self._outputs[id(layer)]

    def reaches(self, layer: Any) -> bool:
        """Whether the trace called ``layer``."""
        return id(layer) in self._outputs

    def consumers(self, op: Any) -> list[Any]:
        """The operations that take ``op``'s output, each once, in call order."""
        return list(self._consumers.get(id(op), ()))

    def first_input_producer(self, op: Any) -> Any | None:
        """The operation that made ``op``'s first input (None for a model input)."""
        inputs = self._inputs_of.get(id(op))
        return self._producer.get(id(inputs[0])) if inputs else None

    def input_tensors(self, op: Any) -> list[Any]:
        """The symbolic inputs of ``op``'s first call."""
        return list(self._inputs_of.get(id(op), ()))

    def largest_output_bytes(self) -> int:
        """The largest output of any operation in the trace, in bytes per sample (0 if the
        model was not traced)."""
        sizes = [sample_bytes(t) for out in self._outputs.values() for t in keras.tree.flatten(out)]
        return max(sizes, default=0)

    def chain(self, layer: keras.layers.Layer) -> list[Any] | None:
        """The operations from the model's input to ``layer`` (included) along first inputs, or
        None when the model was not traced or ``layer`` was never called."""
        if not self.reaches(layer):
            return None
        chain, op = [], layer
        while op is not None:
            chain.append(op)
            op = self.first_input_producer(op)
        return chain[::-1]

    def activation_point(self, ref: LayerRef) -> LayerRef:
        """Where the filters of ``ref`` can die: the layer whose output to measure.

        A layer with its own non-linear activation is measured itself. A layer with a linear
        activation that feeds only a BatchNormalization and/or an activation layer
        (:data:`ACTIVATION_LAYER_TYPES`) is measured after that activation. Anything else,
        and every layer of an untraced model, is measured itself.
        """
        if not _has_linear_activation(ref.layer):
            return ref
        current, passed_norm = ref.layer, False
        while True:
            following = self.consumers(current)
            if len(following) != 1:
                return ref
            (op,) = following
            if isinstance(op, ACTIVATION_LAYER_TYPES):
                return self.ref(op) or ref
            if isinstance(op, keras.layers.BatchNormalization) and not passed_norm:
                current, passed_norm = op, True
                continue
            return ref

    def behind_batch_norm(self, layer: Any) -> bool:
        """Whether a BatchNormalization feeds ``layer``, directly or through others (False for
        an untraced model)."""
        seen: set[int] = set()
        stack = [layer]
        while stack:
            op = stack.pop()
            for tensor in self._inputs_of.get(id(op), ()):
                source = self._producer.get(id(tensor))
                if source is None or id(source) in seen:
                    continue
                if isinstance(source, keras.layers.BatchNormalization):
                    return True
                seen.add(id(source))
                stack.append(source)
        return False

    def feature_model(self, refs: Sequence[LayerRef]) -> keras.Model:
        """A model from the traced inputs to the chosen layers' outputs, sharing every layer
        and weight with the original. Builds no new trace: nothing is added to the layers.

        Raises:
            NotTraceable: if the model was not traced or a chosen layer was never called.
        """
        if not self.traced:
            raise NotTraceable(self.reason)
        missing = [ref.path for ref in refs if not self.reaches(ref.layer)]
        if missing:
            raise NotTraceable(f"layers not reached by the trace: {missing}")
        return keras.Model(self.inputs, [self.output(ref.layer) for ref in refs])

    def _trace(self, model: keras.Model, inputs: Any) -> Any:
        """Calls every operation of ``model`` on ``inputs``, descending into nested graph
        models; returns the model's output."""
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in model.layers:
                x = self._call(layer, x)
            return x
        if not is_graph_model(model):
            raise NotTraceable(f"{model.name} is a subclassed model")
        # The first call of each of this model's operations, by the tensors of the model's own
        # graph (``op.output`` is an operation's first call), maps its outputs to the trace.
        traced: dict[int, Any] = {}

        def call(op: Any, *args: Any, **kwargs: Any) -> Any:
            output = self._call(op, *args, **kwargs)
            try:
                originals = keras.tree.flatten(op.output)
            except (AttributeError, ValueError):
                originals = []
            for original, new in zip(originals, keras.tree.flatten(output), strict=False):
                traced.setdefault(id(original), new)
            return output

        clone = keras.models.clone_model(
            model, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call
        )
        # A nested model that makes this model's output (a backbone called last, as in
        # keras-io's EfficientNet from scratch) maps only its own graph's output through
        # ``op.output``; the clone's outputs are then the traced ones, in order.
        fallback = keras.tree.flatten(clone.outputs)
        if len(fallback) != len(model.outputs):
            fallback = [None] * len(model.outputs)
        pairs = zip(model.outputs, fallback, strict=True)
        outputs = [traced.get(id(tensor), alternative) for tensor, alternative in pairs]
        if any(output is None for output in outputs):
            raise NotTraceable(f"the outputs of {model.name} were not traced")
        return outputs[0] if len(outputs) == 1 else outputs

    def _call(self, op: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(op, keras.Model) and is_graph_model(op):
            output = self._trace(op, args[0])
        else:
            if self.batch_norm_training and _takes_training(op):
                kwargs = {**kwargs, "training": isinstance(op, keras.layers.BatchNormalization)}
            output = op(*args, **kwargs)
            tensors = [t for t in keras.tree.flatten((args, kwargs)) if _is_symbolic(t)]
            if id(op) not in self._inputs_of:
                self._inputs_of[id(op)] = tensors
            for source in {id(self._producer.get(id(t))): self._producer.get(id(t))
                           for t in tensors}.values():  # fmt: skip
                if source is not None and op not in self._consumers.setdefault(id(source), []):
                    self._consumers[id(source)].append(op)
            for tensor in keras.tree.flatten(output):
                self._producer.setdefault(id(tensor), op)
        self._ops[id(op)] = op
        self._outputs.setdefault(id(op), output)
        return output


def sample_bytes(tensor: Any) -> int:
    """Bytes of one sample of a symbolic tensor ``(batch, ...)`` (unknown sizes count 1; 0 for
    what is not a tensor)."""
    shape, dtype = getattr(tensor, "shape", None), getattr(tensor, "dtype", None)
    if shape is None or dtype is None or len(shape) == 0:
        return 0
    try:
        itemsize = np.dtype(str(dtype)).itemsize
    except TypeError:
        itemsize = 2  # bfloat16
    return int(np.prod([d or 1 for d in shape[1:]])) * itemsize


def _takes_training(op: Any) -> bool:
    call = getattr(op, "call", None)
    try:
        return call is not None and "training" in inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False


def _is_symbolic(value: Any) -> bool:
    return isinstance(value, keras.KerasTensor)


def _has_linear_activation(layer: keras.layers.Layer) -> bool:
    activation = getattr(unwrap(layer), "activation", None)
    return activation is None or activation is keras.activations.linear


def is_graph_model(model: keras.Model) -> bool:
    """Whether ``model`` is a Sequential, or a model with symbolic inputs and outputs (a
    Functional one), rather than a subclassed model."""
    if isinstance(model, keras.Sequential):
        return True
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _fresh_inputs(model: keras.Model) -> Any:
    if not is_graph_model(model):
        raise NotTraceable(f"{model.name} is a subclassed model")
    try:
        structure = model.input if not isinstance(model, keras.Sequential) else model.inputs[0]
    except (AttributeError, ValueError, IndexError) as error:
        raise NotTraceable(f"{model.name} has no symbolic inputs (not built yet)") from error
    return keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=(None, *t.shape[1:]), dtype=t.dtype, name=t.name),
        structure,
    )


_graphs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_graph(model: keras.Model, batch_norm_training: bool = False) -> ModelGraph:
    """The graph of ``model``, traced at the first call and cached while the model lives (and
    keeps its layers and built state), so repeated use neither re-traces nor grows it.
    ``batch_norm_training`` gives the trace whose BatchNormalization layers use batch
    statistics (:attr:`ModelGraph.batch_norm_training`), cached beside it.

    Example:
        ```python
        graph = model_graph(model)
        conv = graph.refs[1]
        graph.activation_point(conv).path  # "relu": the conv's filters die there
        ```
    """
    key = (bool(model.built), tuple(id(ref.layer) for ref in walk_layers(model)))
    cached = _graphs.setdefault(model, {}).get(batch_norm_training)
    if cached is not None and cached[0] == key:
        return cached[1]
    graph = ModelGraph(model, batch_norm_training)
    _graphs[model][batch_norm_training] = (key, graph)
    return graph
