"""Layer convergence: how much each logged layer's representation of the probe still changes,
as linear CKA (:mod:`actlog.cka`) between this event's output and the previous event's, and the
first event's; and since which step each layer has settled."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actlog.cka import linear_cka
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
    """Scalars ``convergence/<layer>`` (linear CKA of the layer's output on the probe to the
    previous event's; from the second event on) and ``convergence_to_first/<layer>`` (to the
    first event's: 1 at the first event), and the table :data:`SETTLED_TAG`: per layer, since
    which step its CKA to the previous event has stayed at least :data:`SETTLED_THRESHOLD`
    ("-" while it has not) and its last CKA.

    Each layer's own output is measured (the tensor its grid shows), as the
    :func:`actlog.cka.conv_features` rows and channels taken inside the compiled capture.
    A layer that did not change reads exactly 1 (a frozen layer whose inputs are frozen too).
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
        producer.settled  # {"conv2d": 0} if linear_cka(before, after) >= 0.99, else None
        ```
    """

    name = "convergence"

    def __init__(self, layers: list[LayerRef], every: int) -> None:
        self.layers, self.every = layers, every
        #: Layer path -> its convergence so far.
        self.state: dict[str, LayerConvergence] = {}
        self._first: dict[str, np.ndarray] = {}
        self._previous: dict[str, np.ndarray] = {}

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
            features = event.features[ref.path]
            state = self.state.setdefault(ref.path, LayerConvergence())
            first = self._first.setdefault(ref.path, features)
            previous = self._previous.get(ref.path)
            self._previous[ref.path] = features
            state.to_first = linear_cka(first, features)
            records.append(Scalar(self.tag("convergence_to_first", ref.path), state.to_first))
            facts[ref.path] = state
            if previous is None:
                continue
            compared = True
            state.last = cka = linear_cka(previous, features)
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
        parts = [f"{len(settled)} of {len(compared)} layers settled (linear CKA of their output "
                 f"on the probe to the previous event >= {SETTLED_THRESHOLD:g} from then on)"]
        if settled:
            parts.append("settled: " + ", ".join(settled))
        if moving:
            parts.append("still changing, last CKA: " + ", ".join(moving))
        return (f"actlog: at the end of training {'; '.join(parts)}. See convergence/<layer> and "
                f"the table {SETTLED_TAG}.")


def _cka(value: float | None) -> str:
    if value is None:
        return "-"
    return "NaN" if math.isnan(value) else f"{value:.4f}"
