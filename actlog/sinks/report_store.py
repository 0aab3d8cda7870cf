"""Where the report is read back from when no TensorBoard sink is used: a TensorBoard run in a
scratch directory, written as the TensorBoard sink would and removed when the run closes, so
that a W&B or MLflow user without TensorBoard still gets the report in their dashboard.

Example:
    ```python
    store = ReportStore([wandb_sink])  # a directory under the system's temporary directory
    store.log_dir          # what the report reads at train end
    ```
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

from actlog.sinks.base import Sink
from actlog.sinks.tensorboard import TensorBoardSink


class ReportStore(TensorBoardSink):
    """A :class:`TensorBoardSink` on a scratch directory (made at the first write, removed by
    :meth:`close`), the run the report reads when no other TensorBoard sink is used."""

    name = "report-store"

    def __init__(self, readers: list[Sink]) -> None:
        scratch = os.path.join(tempfile.gettempdir(), f"actlog-report-{uuid.uuid4().hex[:12]}")
        super().__init__(scratch)
        self._readers = readers

    @property
    def enabled(self) -> bool:
        """Whether a sink that keeps the report keeps anything (not a disabled W&B run)."""
        return any(sink.enabled for sink in self._readers)

    def close(self) -> None:
        """Closes the event file and removes the directory, the report in it included (the
        other sinks copied it when they logged it)."""
        try:
            super().close()
        finally:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def report_readers(sinks: list[Sink]) -> list[Sink]:
    """The sinks that need a :class:`ReportStore` to get the report: those that keep it
    (implement :meth:`Sink.write_html`), where no TensorBoard sink writes a run to read."""
    if any(isinstance(sink, TensorBoardSink) for sink in sinks):
        return []
    return [sink for sink in sinks if type(sink).write_html is not Sink.write_html]
