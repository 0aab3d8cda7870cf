"""Read back what an offline wandb run wrote, straight from its files, with no mocks.

An offline run (`WANDB_MODE=offline`) writes `<dir>/wandb/offline-run-<time>-<id>/` holding
`run-<id>.wandb` and the logged media under `files/`. The `.wandb` file is a 7-byte header
(`:W&B`, magic 0xBEE1 as a little-endian uint16, version 0) followed by LevelDB-log framing:
32 KiB blocks counted from the start of the file (header included), each chunk a 7-byte header
(uint32 CRC, uint16 length, uint8 type; little-endian) and its payload. A record fits in one FULL
chunk or is split into FIRST, MIDDLE..., LAST chunks; a block tail too short for a chunk header
is zero padding. The CRC is plain zlib CRC-32 (IEEE, not LevelDB's masked CRC-32C) over the type
byte followed by the payload, and is verified. Each record is a
`wandb.proto.wandb_internal_pb2.Record`.

History items are flattened by wandb: an image logged under `activations/conv2d` is stored as
items with `nested_key` `["activations/conv2d", "_type"]`, `["activations/conv2d", "filenames"]`
and so on. `history_rows` nests them back, so a row maps the logged key (which may itself contain
`/`) to the value wandb serialized for it, e.g. `row["activations/conv2d"]["_type"]`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from wandb.proto import wandb_internal_pb2 as pb

FILE_IDENT = b":W&B"
FILE_MAGIC = 0xBEE1
FILE_VERSION = 0
BLOCK_SIZE = 32 * 1024

FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4

_FILE_HEADER = struct.Struct("<4sHB")
_CHUNK_HEADER = struct.Struct("<IHB")
_CHUNK_NAMES = {FULL: "full", FIRST: "first", MIDDLE: "middle", LAST: "last"}


class WandbFileError(ValueError):
    """The `.wandb` file is not in the expected format, or is damaged or truncated."""


def find_run_dir(root: str | os.PathLike[str]) -> Path:
    """The single `<root>/wandb/offline-run-*` directory; raise if there is none or several."""
    base = Path(root) / "wandb"
    found = sorted(p for p in base.glob("offline-run-*") if p.is_dir())
    if not found:
        raise FileNotFoundError(f"no offline wandb run directory under {base}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise RuntimeError(
            f"expected one offline wandb run under {base}, found {len(found)}: {names}"
        )
    return found[0]


def run_file(run_dir: str | os.PathLike[str]) -> Path:
    """The `run-<id>.wandb` file of a run directory; raise if there is none or several."""
    run_dir = Path(run_dir)
    found = sorted(run_dir.glob("run-*.wandb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one run-*.wandb in {run_dir}, found {len(found)}")
    return found[0]


def chunk_crc(kind: int, payload: bytes) -> int:
    """The CRC wandb stores for a chunk: CRC-32 (zlib) over the type byte then the payload."""
    return zlib.crc32(payload, zlib.crc32(bytes([kind])))


def read_payloads(path: str | os.PathLike[str], *, verify_crc: bool = True) -> list[bytes]:
    """The raw serialized records of a `.wandb` file, chunks reassembled, in file order."""
    data = Path(path).read_bytes()
    if len(data) < _FILE_HEADER.size:
        raise WandbFileError(f"{path}: {len(data)} bytes, too short for the file header")
    ident, magic, version = _FILE_HEADER.unpack_from(data)
    if ident != FILE_IDENT or magic != FILE_MAGIC or version != FILE_VERSION:
        raise WandbFileError(
            f"{path}: bad header {data[: _FILE_HEADER.size]!r} "
            f"(want {FILE_IDENT!r}, magic {FILE_MAGIC:#x}, version {FILE_VERSION})"
        )
    payloads: list[bytes] = []
    pending: bytearray | None = None
    pos = _FILE_HEADER.size
    while pos < len(data):
        left_in_block = BLOCK_SIZE - pos % BLOCK_SIZE
        if left_in_block < _CHUNK_HEADER.size:
            padding = data[pos : pos + left_in_block]
            if padding.strip(b"\0"):
                raise WandbFileError(f"{path}: non-zero block padding at offset {pos}")
            pos += left_in_block
            continue
        if len(data) - pos < _CHUNK_HEADER.size:
            raise WandbFileError(f"{path}: truncated chunk header at offset {pos}")
        crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        start = pos + _CHUNK_HEADER.size
        end = start + length
        if kind not in _CHUNK_NAMES:
            raise WandbFileError(f"{path}: unknown chunk type {kind} at offset {pos}")
        if length > left_in_block - _CHUNK_HEADER.size:
            raise WandbFileError(f"{path}: chunk at offset {pos} crosses a block boundary")
        if end > len(data):
            raise WandbFileError(f"{path}: truncated chunk at offset {pos}")
        payload = data[start:end]
        if verify_crc and crc != chunk_crc(kind, payload):
            raise WandbFileError(f"{path}: CRC mismatch in chunk at offset {pos}")
        if kind in (FULL, FIRST):
            if pending is not None:
                raise WandbFileError(
                    f"{path}: {_CHUNK_NAMES[kind]} chunk at offset {pos} "
                    "inside an unfinished record"
                )
            if kind == FULL:
                payloads.append(payload)
            else:
                pending = bytearray(payload)
        else:
            if pending is None:
                raise WandbFileError(
                    f"{path}: {_CHUNK_NAMES[kind]} chunk at offset {pos} without a first chunk"
                )
            pending += payload
            if kind == LAST:
                payloads.append(bytes(pending))
                pending = None
        pos = end
    if pending is not None:
        raise WandbFileError(f"{path}: file ends inside a record")
    return payloads


def read_records(path: str | os.PathLike[str], *, verify_crc: bool = True) -> list[pb.Record]:
    """Every `Record` of a `.wandb` file, in file order."""
    records = []
    for payload in read_payloads(path, verify_crc=verify_crc):
        record = pb.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def _item_keys(item: Any) -> list[str]:
    """The key path of a history/config/summary item: `nested_key` if set, else `[key]`."""
    return list(item.nested_key) if item.nested_key else [item.key]


def _put(target: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set `target[k0][k1]...[kn] = value`, creating intermediate dicts."""
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _history_value(item: pb.HistoryItem) -> Any:
    """The value of a history item: `value_json` decoded, or the typed `value` field."""
    if item.value_json:
        return json.loads(item.value_json)
    kind = item.WhichOneof("value")
    if kind is None or kind == "none":
        return None
    if kind == "json":
        return json.loads(item.json)
    return getattr(item, kind)


def history_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One dict per history record, logged keys mapping to their (nested) decoded values."""
    rows = []
    for record in read_records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        row: dict[str, Any] = {}
        for item in record.history.item:
            _put(row, _item_keys(item), _history_value(item))
        rows.append(row)
    return rows


def run_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The run's config: the run record's config, then `config` records applied in order."""
    config: dict[str, Any] = {}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            updates = record.run.config
        elif kind == "config":
            updates = record.config
        else:
            continue
        for item in updates.update:
            _put(config, _item_keys(item), json.loads(item.value_json))
        for item in updates.remove:
            keys = _item_keys(item)
            parent = config
            for key in keys[:-1]:
                parent = parent.get(key, {})
            parent.pop(keys[-1], None)
    return config


def metric_definitions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The `define_metric` calls recorded in the file, in order, as plain dicts."""
    definitions = []
    for record in read_records(path):
        if record.WhichOneof("record_type") != "metric":
            continue
        metric = record.metric
        summary = [f.name for f, on in metric.summary.ListFields() if on]
        definitions.append(
            {
                "name": metric.name,
                "glob_name": metric.glob_name,
                "step_metric": metric.step_metric,
                "step_sync": metric.options.step_sync,
                "hidden": metric.options.hidden,
                "summary": summary,
                "goal": pb.MetricRecord.MetricGoal.Name(metric.goal),
            }
        )
    return definitions


def media_path(run_dir: str | os.PathLike[str], relative: str) -> Path:
    """Where a `path`/`filenames` entry of a history value lives: `<run_dir>/files/<relative>`."""
    files = (Path(run_dir) / "files").resolve()
    candidate = (files / relative).resolve()
    if not candidate.is_relative_to(files):
        raise ValueError(f"media path {relative!r} points outside {files}")
    return candidate


def media_files(run_dir: str | os.PathLike[str], value: dict[str, Any]) -> list[Path]:
    """The files of one logged media value: `filenames` of an image list or `path` of one."""
    if "filenames" in value:
        return [media_path(run_dir, name) for name in value["filenames"]]
    if "path" in value:
        return [media_path(run_dir, value["path"])]
    raise ValueError(f"value of type {value.get('_type')!r} has no media files")


def offline_env(mp: pytest.MonkeyPatch, root: Path) -> None:
    """Point wandb at `root`, offline and quiet, for the duration of `mp`."""
    mp.setenv("WANDB_MODE", "offline")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("WANDB_CONSOLE", "off")
    mp.setenv("WANDB_DIR", str(root))
    mp.setenv("WANDB_CONFIG_DIR", str(root / "config"))
    mp.setenv("WANDB_CACHE_DIR", str(root / "cache"))
    mp.setenv("WANDB_DATA_DIR", str(root / "data"))
