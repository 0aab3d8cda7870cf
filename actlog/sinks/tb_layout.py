"""The layout of TensorBoard's Custom Scalars tab: every layer's statistic of one kind on one
chart (``dead_filters``, ``dormant_filters``, ``on_rate``, ``convergence``), where the Scalars
tab gives each layer a card of its own.

The layout is a :class:`tensorboard.plugins.custom_scalar.layout_pb2.Layout`, written once per
event file as a summary with the tag ``custom_scalars__config__`` (the plugin reads the first
one of each run and merges equal charts across runs). Built here with TensorBoard's protos, not
``tensorboard.summary`` (that needs TensorFlow). Pure: no I/O.

Example:
    ```python
    summary = layout_summary({"dead_filters", "on_rate"})  # two charts
    ```
"""

from __future__ import annotations

from collections.abc import Iterable

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

#: The category holding actlog's charts.
CATEGORY = "actlog: every layer on one chart"

#: (chart title, the tag regex of its lines, the scalar kinds that show it is logged).
CHARTS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("dead filters: fraction of the layer's filters never on for the probe",
     r"dead_filters/.*", frozenset({"dead_filters"})),
    ("dormant filters: fraction of the layer's filters almost never on",
     r"dormant_filters/.*", frozenset({"dormant_filters"})),
    ("on rate: fraction of the layer's activations above the floor",
     r"on_rate/.*", frozenset({"on_rate"})),
    ("convergence: CKA of the layer's output to the previous event's",
     r"convergence/.*", frozenset({"convergence", "convergence_to_first"})),
)  # fmt: skip


def scalar_kind(tag: str) -> str:
    """The kind of a scalar tag: ``"dead_filters"`` for ``"dead_filters/conv2d"``."""
    return tag.split("/", 1)[0]


def layout_summary(kinds: Iterable[str]) -> summary_pb2.Summary | None:
    """The Custom Scalars layout of the charts whose kinds were logged, or ``None`` if none."""
    logged = set(kinds)
    charts = [
        layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=[regex]))
        for title, regex, shown_by in CHARTS
        if logged & shown_by
    ]
    if not charts:
        return None
    layout = layout_pb2.Layout(category=[layout_pb2.Category(title=CATEGORY, chart=charts)])
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[layout.SerializeToString()],
    )
    value = summary_pb2.Summary.Value(
        tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
        metadata=custom_scalar_metadata.create_summary_metadata(),
        tensor=tensor,
    )
    return summary_pb2.Summary(value=[value])
