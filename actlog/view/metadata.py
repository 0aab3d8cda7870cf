"""The summary contract between what actlog writes at every logging event and what its view
reads: one JSON document per event (:class:`actlog.records.Document`, tag :data:`EVENT_TAG`).

In TensorBoard the document is a scalar string tensor whose summary metadata names the plugin
:data:`PLUGIN_NAME` (so no stock dashboard shows it), with :data:`CONTENT_VERSION` as the
plugin content. W&B and MLflow keep the same document as JSON (see their sinks).

The document of one event (version 1)::

    {
      "version": 1, "step": 3,
      "logs": {"loss": 0.12, "accuracy": 0.97, ...},        # Keras's logs of that epoch
      "options": {"normalize": "filter", "cmap": null, "every_n_epochs": 1, ...},
      "probe": {"size": 8, "captions": ["probe 0: label 7", ...]},   # the shown samples
      "layers": [{
        "path": "conv2d", "key": "conv2d", "class": "Conv2D", "position": 0,
        "shape": [null, 26, 26, 32],          # the output shape, null where not known
        "measured_at": "conv2d", "dead_applies": true,
        "tags": {"activations": "activations/conv2d", "weights": ..., ...},  # logged images
        "grid": {"count": 32, "cols": 6, "height": 26, "width": 26,          # the tile layout
                 "total": 32, "origins": [[top, left], ...], "per_sample": false},
        "filters": {"on_rate": [812, ...], "max": [1.93, ...],   # per filter; on-rate in
                    "dead": [3, 17], "dormant": [3, 9, 17],      # thousandths, null: NaN
                    "dead_inference": [3, 5, 17]},  # behind a BatchNormalization: dead with
                                                    # the moving statistics (dead: with both)
        "convergence": {"previous": 0.998, "first": 0.91, "settled_since": 2},
        "layouts": {"weights": {...}, "maximized": {...}, "overlays": {...}}
      }, ...]
    }

``grid.origins`` holds, per shown probe sample, the ``(top, left)`` of its grid in the image:
in the one contact sheet of every sample (``per_sample`` false, image 0), or in image ``i``
(``per_sample`` true, one image per sample). Filter ``k``'s tile is then at
``origin + (row * (height + 1), col * (width + 1))`` with ``row, col = divmod(k, cols)``.
Absent keys mean "not logged": a layer without statistics has no ``filters``.

Readers accept any document whose ``version`` is at most :data:`CONTENT_VERSION`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

#: The plugin name in the summary metadata of actlog's own summaries, and the plugin's name.
PLUGIN_NAME = "actlog"
#: The fewest images per tag TensorBoard is made to keep where actlog is installed (its
#: plugin raises ``--samples_per_plugin`` to this, so the view has every step of a run).
MIN_IMAGE_SAMPLES = 1000
#: The version of the document format.
CONTENT_VERSION = 1
#: The tag of the document of each event.
EVENT_TAG = "actlog/event"


def encode(document: Mapping[str, Any]) -> bytes:
    """The document as compact UTF-8 JSON. NaN and infinities, which JSON lacks, become null."""
    return json.dumps(_finite(document), separators=(",", ":"), allow_nan=False).encode()


def decode(data: bytes | str) -> dict[str, Any]:
    """A document from :func:`encode`'s bytes.

    Raises:
        ValueError: for bytes that are not a JSON object, or a version newer than this reader.
    """
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError(f"an actlog document is a JSON object; got {type(document).__name__}")
    version = document.get("version")
    if not isinstance(version, int) or version > CONTENT_VERSION:
        raise ValueError(
            f"actlog document version {version!r} is newer than this actlog reads "
            f"({CONTENT_VERSION}); upgrade actlog to view this run."
        )
    return document


def summary_metadata() -> Any:
    """TensorBoard's ``SummaryMetadata`` of the documents: plugin :data:`PLUGIN_NAME`, read as
    a tensor by the data provider."""
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=str(CONTENT_VERSION).encode()
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def summary(tag: str, document: Mapping[str, Any]) -> Any:
    """A TensorBoard ``Summary`` holding ``document`` under ``tag``: a scalar string tensor."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[encode(document)],
    )
    value = summary_pb2.Summary.Value(tag=tag, metadata=summary_metadata(), tensor=tensor)
    return summary_pb2.Summary(value=[value])


def permille(rates: Any) -> list[int | None]:
    """Shares in [0, 1] as whole thousandths (the on-rates of a document); NaN becomes None."""
    return [None if not math.isfinite(r) else round(r * 1000) for r in map(float, rates)]


def rounded(values: Any, digits: int = 4) -> list[float | None]:
    """Numbers to ``digits`` significant digits (the maxima of a document); NaN and
    infinities become None."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in map(float, values)]


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
