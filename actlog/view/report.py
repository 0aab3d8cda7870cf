"""The view as one self-contained HTML file: the report.

:func:`write_report` reads one run, or every run of a log directory that holds actlog's
documents (:mod:`actlog.view.events`: no TensorFlow), and writes the plugin's frontend (the same
``static/`` modules, the same data contract) with the answers to its routes embedded: the run
overviews, each layer's per-filter numbers, and every image the view shows, as data URLs. The
page opens from disk in any browser: no server, nothing loaded from another host. One-filter
filmstrips are cut from the embedded grids in the page (``static/report.js``).

A report is bounded (``max_mb``): where a run's steps do not fit, they are thinned evenly, the
first and the last kept, and the page says which steps it shows.

Example:
    ```python
    from actlog.view.report import write_report

    report = write_report("logs/actlog", "report.html")
    report.steps_shown, report.steps_logged  # (41, 41): everything fitted
    ```
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from actlog.runs import event_run_dirs
from actlog.view import data
from actlog.view.events import read_images, scan_run

#: The default bound on a report's size, in megabytes.
DEFAULT_MAX_MB = 20.0
_STATIC = resources.files("actlog.view") / "static"
_IMPORT = re.compile(r"""(from\s+|import\s*\(\s*)(["'])\./([\w-]+\.js)\2""")


class NoActlogData(ValueError):
    """The path holds no run with actlog's documents."""


@dataclass
class RunData:
    """One run read for a report: its documents, the bytes of its images by step, and (after
    thinning, :meth:`load`) the images of the steps kept, by tag and step."""

    name: str
    directory: Path
    documents: dict[int, bytes]
    image_bytes: dict[int, int]
    kept: list[int] = field(default_factory=list)
    images: dict[str, dict[int, list[bytes]]] = field(default_factory=dict)

    def step_bytes(self) -> dict[int, int]:
        """What each step adds to the page, at most: its numbers (the routes' answers hold a
        document's numbers about once over, plus the overview's) and its images as data URLs
        (base64, with their prefix and quotes: :func:`actlog.view.events.scan_run`)."""
        return {step: 5 * len(document) // 4 + 4 * self.image_bytes.get(step, 0) // 3
                for step, document in self.documents.items()}  # fmt: skip

    def load(self) -> None:
        """Reads the images of the kept steps (only those: a long run is not held whole)."""
        self.images = read_images(self.directory, set(self.kept))


@dataclass
class Report:
    """What :func:`write_report` wrote: the file, its size, and how many steps it shows of
    those logged (over every run)."""

    path: Path
    bytes: int
    steps_shown: int
    steps_logged: int
    runs: list[str]


def write_report(source: str | os.PathLike[str], output: str | os.PathLike[str],
                 max_mb: float = DEFAULT_MAX_MB) -> Report:  # fmt: skip
    """Writes the view of ``source`` (a run directory, or a log directory of runs) to the HTML
    file ``output``, at most ``max_mb`` megabytes.

    Raises:
        FileNotFoundError: if ``source`` is not a directory.
        NoActlogData: if no run under ``source`` holds actlog's documents.
        ValueError: if ``max_mb`` leaves no room for one step of each run.
    """
    runs = read_runs(source)
    frontend = _frontend()
    _thin(runs, max_mb, len(frontend) + 4096)
    for run in runs:
        run.load()
    page = _page(runs, frontend)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return Report(path, len(page.encode()), sum(len(run.kept) for run in runs),
                  sum(len(run.documents) for run in runs), [run.name for run in runs])  # fmt: skip


def read_runs(source: str | os.PathLike[str]) -> list[RunData]:
    """Every run under ``source`` that holds actlog's documents, named as TensorBoard names
    them (``source`` itself, if it is a run, by its directory name)."""
    root = Path(source)
    runs = []
    for name in event_run_dirs(root):
        documents, sizes = scan_run(root / name)
        if not documents:
            continue
        label = root.resolve().name if name == "." else name
        runs.append(RunData(label, root / name, documents, sizes))
    if not runs:
        raise NoActlogData(
            f"No run under {root} holds actlog's documents: give the log_dir an "
            "ActivationLogger wrote (or a directory of such runs)."
        )
    return runs


def thinned(steps: list[int], count: int) -> list[int]:
    """``count`` of ``steps`` spread evenly, the first and the last kept.

    Example:
        ```python
        thinned([-1, 0, 1, 2, 3, 4, 5], 3)  # [-1, 2, 5]
        ```
    """
    if count >= len(steps):
        return list(steps)
    if count <= 1:
        return steps[-1:]
    last = len(steps) - 1
    return [steps[round(i * last / (count - 1))] for i in range(count)]


def _thin(runs: list[RunData], max_mb: float, page_bytes: int) -> None:
    """Keeps in each run as many evenly spread steps as fit its share of ``max_mb`` less the
    page's own ``page_bytes`` (shares by what each run would take whole)."""
    budget = int(max_mb * 1e6) - page_bytes
    sizes = [run.step_bytes() for run in runs]
    whole = sum(sum(size.values()) for size in sizes)
    for run, size in zip(runs, sizes, strict=True):
        steps = sorted(run.documents)
        share = budget if whole <= budget else budget * sum(size.values()) / whole
        low, high = 0, len(steps)  # the most steps whose thinned set fits the share
        while low < high:
            middle = (low + high + 1) // 2
            if sum(size[step] for step in thinned(steps, middle)) <= share:
                low = middle
            else:
                high = middle - 1
        if low == 0:
            raise ValueError(
                f"max_mb={max_mb:g} leaves no room for one step of run {run.name!r} "
                f"({max(size.values()) / 1e6:.2f} MB a step, after the page's "
                f"{page_bytes / 1e6:.2f} MB): raise max_mb."
            )
        run.kept = thinned(steps, low)


def _run_payload(run: RunData) -> dict[str, Any]:
    index = data.RunIndex()
    for step in run.kept:
        index.add(step, run.documents[step])
    index.set_images(run.images)  # the kept steps' only (RunData.load)
    overview = index.overview()
    shown = {tag for layer in overview["layers"] for tag in layer["tags"].values()}
    filters = {}
    for layer in overview["layers"]:
        try:
            filters[layer["path"]] = index.filters(layer["path"])
        except KeyError:
            continue
    images = {tag: {step: [_data_url(png) for png in pngs] for step, pngs in by_step.items()}
              for tag, by_step in run.images.items() if tag in shown}  # fmt: skip
    return {"overview": overview, "filters": filters, "images": images}


def _page(runs: list[RunData], frontend: str) -> str:
    report = {
        "runs": [{"run": run.name, "last_step": run.kept[-1]} for run in runs],
        "data": {run.name: _run_payload(run) for run in runs},
    }
    payload = json.dumps(report, separators=(",", ":"))
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\u0021--")  # stays in <script>
    notes = [_note(run) for run in runs if len(run.kept) < len(run.documents)]
    banner = "".join(f'<p class="report-note">{html.escape(note)}</p>' for note in notes)
    title = html.escape(", ".join(run.name for run in runs))
    return frontend.replace("{title}", title).replace("{banner}", banner).replace(
        "{data}", payload)


def _note(run: RunData) -> str:
    shown = ", ".join(str(step) for step in run.kept)
    return (f"Run {run.name}: this report shows {len(run.kept)} of the "
            f"{len(run.documents)} logged steps, spread evenly to fit its size bound (the "
            f"first and the last kept): {shown}.")  # fmt: skip


def _frontend() -> str:
    """The page without its data: the stylesheet, an import map of every module of
    ``static/`` as a data URL (their ``./x.js`` imports made bare, so they resolve through the
    map on ``file://``), and the entry."""
    modules = {}
    for entry in sorted(_STATIC.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".js") and entry.name != "index.js":
            text = _IMPORT.sub(r"\1\2actlog/\3\2", entry.read_text(encoding="utf-8"))
            encoded = base64.b64encode(text.encode()).decode()
            modules[f"actlog/{entry.name}"] = f"data:text/javascript;base64,{encoded}"
    style = (_STATIC / "style.css").read_text(encoding="utf-8")
    imports = json.dumps({"imports": modules}, indent=0)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="actlog report">
<title>actlog: {{title}}</title>
<style>
{style}
.report-note {{ margin: 8px 12px; font: 13px sans-serif; color: #444; }}
</style>
<script type="importmap">
{imports}
</script>
</head>
<body>
{{banner}}
<div id="actlog-app"></div>
<script type="application/json" id="actlog-data">{{data}}</script>
<script type="module">
import {{ renderReport }} from "actlog/report.js";
renderReport(document.getElementById("actlog-app"));
</script>
</body>
</html>
"""


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
