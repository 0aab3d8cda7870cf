"""The probe: the fixed batch of inputs whose feature maps are logged, taken from user input.

Accepted forms, as ``model.fit`` takes them:

* an array or tensor ``x``;
* a tuple ``(x, y)`` or ``(x, y, sample_weight)``: ``y`` labels the images' captions;
* a list or dict of arrays for a multi-input model;
* a ``tf.data.Dataset`` of any of those, batched or not: up to ``probe_size`` samples are taken
  once, at train begin.

The probe's arrays are copies, so the caller's arrays are never modified and later changes to
them do not change what is logged.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from actlog.probe_fit import diagnose, dtype_note

ProbeInputs = np.ndarray | list[np.ndarray] | dict[str, np.ndarray]


@dataclass(frozen=True)
class Probe:
    """A fixed batch of inputs, with optional labels.

    Attributes:
        x: an array, or a list or dict of arrays for a multi-input model, all of one batch size.
        y: labels (class indices, one-hot rows or any values), or None.
    """

    x: ProbeInputs
    y: np.ndarray | None = None
    #: What fitting the probe to the model did that the user may not expect (a dtype cast).
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """The number of samples."""
        return len(_flat(self.x)[0])

    @property
    def shapes(self) -> Any:
        """The shape of each input, in the structure of :attr:`x`."""
        return keras.tree.map_structure(lambda array: tuple(array.shape), self.x)

    def captions(self) -> list[str]:
        """One caption per sample: its index, and its label when there are labels."""
        if self.y is None:
            return [f"probe {i}" for i in range(self.size)]
        return [f"probe {i}: label {_label_text(label)}" for i, label in enumerate(self.y)]


def is_dataset(data: Any) -> bool:
    """Whether ``data`` is a ``tf.data.Dataset`` (checked without importing TensorFlow)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def make_probe(data: Any, probe_size: int = 8, model: keras.Model | None = None) -> Probe:
    """Turns what the user passed as ``probe`` into a :class:`Probe`.

    Args:
        data: see the module docstring for the accepted forms.
        probe_size: how many samples to take from a dataset (arrays are used whole).
        model: used to tell a batched dataset from an unbatched one by its input rank.

    Raises:
        ValueError: for an empty probe, arrays of different lengths, NaN or Inf values, or
            labels that do not match the number of samples.
        TypeError: for values that are not numeric arrays.
    """
    if is_dataset(data):
        data = _take_from_dataset(data, probe_size, model)
    if isinstance(data, tuple):
        if not 1 <= len(data) <= 3:
            raise ValueError(
                "A tuple probe is (x,), (x, y) or (x, y, sample_weight), as model.fit takes it; "
                f"got a tuple of {len(data)}. Pass a list for a multi-input model."
            )
        x, y = data[0], (data[1] if len(data) > 1 else None)
    else:
        x, y = data, None
    x = _copy_inputs(x)
    if not _flat(x):
        raise ValueError("The probe is empty: pass at least one sample, e.g. probe=x_val[:8].")
    sizes = {len(a) if a.ndim else 0 for a in _flat(x)}
    if len(sizes) != 1:
        raise ValueError(f"All probe inputs need the same number of samples; got sizes {sizes}.")
    size = sizes.pop()
    if size == 0:
        raise ValueError("The probe is empty: pass at least one sample, e.g. probe=x_val[:8].")
    labels = None
    if y is not None:
        labels = np.array(keras.ops.convert_to_numpy(y), copy=True)
        if labels.ndim == 0 or len(labels) != size:
            raise ValueError(
                f"The probe has {size} samples but {labels.shape} labels: pass one label per "
                "sample."
            )
    return Probe(x, labels)


def fit_probe_to_model(probe: Probe, model: keras.Model) -> Probe:
    """Checks the probe against the model's inputs and casts it to their dtypes.

    Models without symbolic inputs (subclassed) are checked when the probe first runs.

    Raises:
        ValueError: when the number, names, ranks or known dimensions of the inputs differ.
    """
    try:
        specs = list(model.inputs)
    except (AttributeError, ValueError):
        return probe
    if not specs:
        return probe
    if isinstance(probe.x, dict):
        names = [_input_name(spec) for spec in specs]
        if set(probe.x) != set(names):
            raise ValueError(
                f"The probe is a dict with keys {sorted(probe.x)}, but model {model.name!r} "
                f"takes inputs named {names}."
            )
        arrays = [probe.x[name] for name in names]
    else:
        arrays = _flat(probe.x)
        if len(arrays) != len(specs):
            raise ValueError(
                f"Model {model.name!r} takes {len(specs)} input(s) but the probe holds "
                f"{len(arrays)}: pass one array per input (a list or dict for several)."
            )
    cast, notes = [], []
    for spec, array in zip(specs, arrays, strict=True):
        expected = (None, *spec.shape[1:])
        fits = array.ndim == len(expected) and all(
            want is None or want == got
            for want, got in zip(expected[1:], array.shape[1:], strict=True)
        )
        if not fits:
            hint = diagnose(array.shape, expected)
            raise ValueError(
                f"The probe's input of shape {array.shape} does not fit model {model.name!r}'s "
                f"input {_input_name(spec)!r} of shape {expected} (batch first)."
                + (f" {hint}" if hint else "")
            )
        dtype = keras.backend.standardize_dtype(spec.dtype)
        note = dtype_note(str(array.dtype), dtype)
        if note and note not in notes:
            notes.append(note)
        cast.append(array.astype(dtype, copy=False))
    if isinstance(probe.x, dict):
        x: ProbeInputs = dict(zip([_input_name(s) for s in specs], cast, strict=True))
    elif isinstance(probe.x, list):
        x = cast
    else:
        x = cast[0]
    return Probe(x, probe.y, tuple(notes))


def _input_name(spec: Any) -> str:
    return str(spec.name)


def _flat(x: ProbeInputs) -> list[np.ndarray]:
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, list):
        return x
    return [x]


def _copy_inputs(x: Any) -> ProbeInputs:
    if isinstance(x, Mapping):
        return {str(k): _copy_array(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_copy_array(v) for v in x]
    return _copy_array(x)


def _copy_array(value: Any) -> np.ndarray:
    array = np.array(keras.ops.convert_to_numpy(value), copy=True)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(
            f"Probe inputs must be numeric arrays; got dtype {array.dtype}. Convert the inputs "
            "as the model expects them (e.g. float32 images)."
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        rows = array.reshape(array.shape[0], -1) if array.ndim else array.reshape(1, 1)
        bad = np.flatnonzero(~np.isfinite(rows).all(axis=1)).tolist()
        raise ValueError(
            f"The probe holds NaN or Inf values (in samples {bad[:10]}); every activation of "
            "those samples would be NaN. Pass finite inputs, e.g. probe=x_val[:8] after the "
            "preprocessing the model trains on."
        )
    return array


def _label_text(label: np.ndarray) -> str:
    label = np.asarray(label)
    if label.ndim == 1 and label.size > 1:  # one-hot or probabilities
        return str(int(np.argmax(label)))
    value = label.reshape(-1)[0] if label.size else label
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if np.issubdtype(np.asarray(value).dtype, np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _take_from_dataset(dataset: Any, probe_size: int, model: keras.Model | None) -> Any:
    batched = _is_batched(dataset, model)
    source = dataset.unbatch() if batched else dataset
    elements = [
        keras.tree.map_structure(keras.ops.convert_to_numpy, element)
        for element in source.take(probe_size)
    ]
    if not elements:
        raise ValueError("The probe dataset is empty: it yielded no sample.")
    return keras.tree.map_structure(lambda *values: np.stack(values), *elements)


def _is_batched(dataset: Any, model: keras.Model | None) -> bool:
    spec = dataset.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    first = keras.tree.flatten(x_spec)[0]
    try:
        first_input = model.inputs[0] if model is not None else None
    except (AttributeError, ValueError, IndexError):
        first_input = None
    if first_input is not None:
        if isinstance(x_spec, Mapping) and _input_name(first_input) in x_spec:
            first = x_spec[_input_name(first_input)]
        return len(first.shape) == len(first_input.shape)
    # Without a model, a batched dataset is told by its unknown batch size.
    return len(first.shape) > 0 and first.shape[0] is None


def first_input(x: Any) -> Any:
    """The first input of a batch: the array itself, a list's or tuple's first, a dict's first
    value."""
    if isinstance(x, Mapping):
        return next(iter(x.values()))
    return x[0] if isinstance(x, list | tuple) else x
