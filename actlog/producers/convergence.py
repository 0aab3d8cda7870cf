"""Layer convergence: how much each logged layer's representation of the probe still changes,
as debiased linear CKA (:mod:`actlog.cka`) between this event's output and the previous event's,
and the first event's; and since which step each layer has settled."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actlog.cka import gram_cka, unbiased_gram
from actlog.layers import LayerRef
from actlog.producers.base import Event, Needs, Producer, Setup
from actlog.records import Record, Scalar, Table

#: A layer has settled from the event whose CKA to the previous event is at least this, when
#: every later event's is too.
SETTLED_THRESHOLD = 0.99
#: The run-wide table of which layer settled since when: one table for every layer, so the part
#: after the kind is ``all``, not a layer key (a kind of its own: it can never clash with one).
SETTLED_TAG = "convergence_settled/all"
#: Its columns.
SETTLED_COLUMNS = ("layer", "settled since step", "last CKA")


@dataclass
class LayerConvergence:
    """One layer's convergence so far.

    Attributes:
        last: the CKA of the last event's output to the previous event's (None before the
            second event; NaN where undefined, see :func:`actlog.cka.linear_cka`).
        to_first: the CKA of the last event's output to the first event's.
        settled_since: the first step of the current run of events whose CKA to the previous
            one is at least :data:`SETTLED_THRESHOLD` (None when the last one's is not).
    """

    last: float | None = None
    to_first: float = 1.0
    settled_since: int | None = None


class ConvergenceProducer(Producer):
    """Scalars ``convergence/<layer>`` (debiased linear CKA of the layer's output on the probe to
    the previous event's; from the second event on) and ``convergence_to_first/<layer>`` (to the
    first event's: 1 at the first event), and the table :data:`SETTLED_TAG`: per layer, since
    which step its CKA to the previous event has stayed at least :data:`SETTLED_THRESHOLD`
    ("-" while it has not) and its last CKA.

    Each layer's own output is measured (the tensor its grid shows): every channel at the
    :func:`actlog.cka.conv_features` positions taken inside the compiled capture. Each event's
    :func:`actlog.cka.unbiased_gram` is made once, and the first and the previous event's are
    kept with their features (per layer two ``rows x rows`` matrices and two feature arrays).
    A layer whose features did not change at all reads exactly 1 (a frozen layer whose inputs
    are frozen too).
    The table is written at every event from the second on; its last one is the final state
    (:attr:`settled`, and :meth:`summary` at train end). Each layer's state after the event is
    left in ``event.facts["convergence"]`` (for the view's document).

    Args:
        layers: the logged layers, in model order.
        every: log at step -1 and every this many epochs.

    Example:
        ```python
        producer = ConvergenceProducer(refs, every=1)
        producer.produce(Event(-1, features={"conv2d": before}))  # convergence_to_first: 1
        producer.produce(Event(0, features={"conv2d": after}))  # convergence/conv2d, the table
        producer.settled  # {"conv2d": 0} if linear_cka(before, after, debiased=True) >= 0.99
        ```
    """

    name = "convergence"

    def __init__(self, layers: list[LayerRef], every: int) -> None:
        self.layers, self.every = layers, every
        #: Layer path -> its convergence so far.
        self.state: dict[str, LayerConvergence] = {}
        self._first: dict[str, _Kept] = {}
        self._previous: dict[str, _Kept] = {}

    @classmethod
    def create(cls, setup: Setup) -> ConvergenceProducer | None:
        if not setup.options.convergence:
            return None
        return cls(setup.layers, setup.options.every_n_epochs)

    def needs(self) -> Needs:
        return Needs(features=tuple(self.layers))

    def produce(self, event: Event) -> list[Record]:
        records: list[Record] = []
        compared = False
        facts = event.facts.setdefault("convergence", {})
        for ref in self.layers:
            features = np.asarray(event.features[ref.path])
            gram = unbiased_gram(features)
            kept = _Kept(features, None if gram is None else gram.astype(np.float32))
            state = self.state.setdefault(ref.path, LayerConvergence())
            first = self._first.setdefault(ref.path, kept)
            previous = self._previous.get(ref.path)
            self._previous[ref.path] = kept
            state.to_first = first.cka(kept)
            records.append(Scalar(self.tag("convergence_to_first", ref.path), state.to_first))
            facts[ref.path] = state
            if previous is None:
                continue
            compared = True
            state.last = cka = previous.cka(kept)
            if not cka >= SETTLED_THRESHOLD:  # NaN too
                state.settled_since = None
            elif state.settled_since is None:
                state.settled_since = event.step
            records.append(Scalar(self.tag("convergence", ref.path), cka))
        if compared:
            records.append(self.table())
        return records

    @property
    def settled(self) -> dict[str, int | None]:
        """Layer path -> the step since which it has settled, or None (see the class)."""
        return {ref.path: self.state[ref.path].settled_since if ref.path in self.state else None
                for ref in self.layers}  # fmt: skip

    def table(self) -> Table:
        """The settled table as it stands."""
        rows = []
        for ref in self.layers:
            state = self.state.get(ref.path, LayerConvergence())
            # text in every row: W&B tables reject a column of numbers and "-" mixed
            since = "-" if state.settled_since is None else str(state.settled_since)
            last = _cka(state.last)
            rows.append([ref.path, since, last])
        return Table(SETTLED_TAG, list(SETTLED_COLUMNS), rows)

    def summary(self) -> str | None:
        """One line on which layers have settled and since when, and which still change; None
        before two events were compared."""
        compared = {p: s for p, s in self.state.items() if s.last is not None}
        if not compared:
            return None
        settled = [f"{p} (since step {s.settled_since})" for p, s in compared.items()
                   if s.settled_since is not None]  # fmt: skip
        moving = [f"{p} ({_cka(s.last)})" for p, s in compared.items() if s.settled_since is None]
        parts = [f"{len(settled)} of {len(compared)} layers settled (debiased linear CKA of their "
                 f"output on the probe to the previous event >= {SETTLED_THRESHOLD:g} from then "
                 "on)"]
        if settled:
            parts.append("settled: " + ", ".join(settled))
        if moving:
            parts.append("still changing, last CKA: " + ", ".join(moving))
        return (f"actlog: at the end of training {'; '.join(parts)}. See convergence/<layer> and "
                f"the table {SETTLED_TAG}.")


@dataclass(frozen=True)
class _Kept:
    """What is kept of one event's features: the features (identical ones read exactly 1) and
    their unbiased Gram matrix (float32: half the memory; compared in float64)."""

    features: np.ndarray
    gram: np.ndarray | None

    def cka(self, other: _Kept) -> float:
        if self.features is other.features or np.array_equal(self.features, other.features):
            return 1.0
        if self.gram is None or other.gram is None or self.gram.shape != other.gram.shape:
            return float("nan")
        return gram_cka(self.gram, other.gram)


def _cka(value: float | None) -> str:
    if value is None:
        return "-"
    return "NaN" if math.isnan(value) else f"{value:.4f}"
