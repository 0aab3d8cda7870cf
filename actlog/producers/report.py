"""The report: at train end, the run's view as one self-contained HTML file
(:mod:`actlog.view.report`), read back from the TensorBoard run the sinks wrote, written beside
it as ``report.html`` and logged as an :class:`actlog.records.Html` record (W&B HTML media, an
MLflow artifact)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from actlog.producers.base import Event, Producer, Setup
from actlog.records import Html, Record
from actlog.view.report import DEFAULT_MAX_MB, NoActlogData, write_report

logger = logging.getLogger(__name__)

#: The report's file name in the TensorBoard run directory, and its tag in W&B.
FILE_NAME = "report.html"
TAG = "actlog/report"


class ReportProducer(Producer):
    """Writes ``<run_dir>/report.html`` once, at the end of the run, of every step logged
    (thinned evenly beyond ``max_mb``)."""

    name = "report"
    every = None  # nothing per event

    def __init__(self, run_dir: str, max_mb: float = DEFAULT_MAX_MB, keep: bool = True) -> None:
        self.run_dir, self.max_mb, self.keep = run_dir, max_mb, keep
        #: What the last report took: its path, megabytes, steps shown and logged, seconds.
        self.summary: dict[str, object] | None = None

    @classmethod
    def create(cls, setup: Setup) -> ReportProducer | None:
        if not setup.options.report:
            return None
        if setup.run_dir is None:
            logger.info("actlog: no report at train end: no sink keeps it (TensorBoard, W&B, "
                        "MLflow).")  # fmt: skip
            return None
        return cls(setup.run_dir, keep=setup.keep_report)

    def line(self, sinks: list[str]) -> str | None:
        """The train-end line: where the report is (None if none was written)."""
        if self.summary is None:
            return None
        s = self.summary
        thinned = "" if s["shown"] == s["logged"] else f" (thinned to fit {self.max_mb:g} MB)"
        places = {"wandb": f"in W&B as {TAG}", "mlflow": f"in MLflow as actlog/{FILE_NAME}"}
        also = " and ".join(places[name] for name in sinks if name in places)
        if self.keep:
            where, also = s["path"], f"; also {also}" if also else ""
        else:  # the scratch run is gone: only the sinks that logged it hold it
            where, also = also or "in the sinks that keep it", ""
        return (f"actlog: the view of this run, one HTML file that opens in any browser: "
                f"{where} ({s['mb']:.1f} MB, {s['shown']} of {s['logged']} steps{thinned}, "
                f"{s['seconds']:.1f} s){also}.")  # fmt: skip

    def produce(self, event: Event) -> list[Record]:
        return []

    def finish(self) -> list[Record]:
        start = time.perf_counter()
        path = Path(self.run_dir) / FILE_NAME
        try:
            report = write_report(self.run_dir, path, self.max_mb)
        except NoActlogData:  # the TensorBoard sink failed before its first event
            logger.warning("actlog: no report: the TensorBoard run %s holds no event of this "
                           "run.", os.fspath(self.run_dir))  # fmt: skip
            return []
        self.summary = {"path": os.fspath(report.path), "mb": report.bytes / 1e6,
                        "shown": report.steps_shown, "logged": report.steps_logged,
                        "seconds": time.perf_counter() - start}  # fmt: skip
        return [Html(TAG, report.path)]
