"""A real MLflow tracking server for tests, bound to 127.0.0.1, and readers of what a run holds.

The server keeps runs in a SQLite file and proxies artifacts (``--serve-artifacts``, MLflow's
default) into a local directory, so metrics, images and files all travel over HTTP as they do
for a remote server. Only 127.0.0.1 is ever contacted.

Example:
    ```python
    with mlflow_server(tmp_path) as server:
        client = mlflow.MlflowClient(server.uri)
        images = read_images(client, run_id, tmp_path / "download")  # {key: {step: png}}
    ```
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_POLL_S = 0.2
_LOG_TAIL_CHARS = 4000
# No proxy, whatever the environment says: requests go straight to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class MlflowServer:
    """One running ``mlflow server`` process.

    Attributes:
        uri: the tracking URI (``http://127.0.0.1:<port>``).
        root: the directory holding its database, artifacts and log.
    """

    uri: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def log_text(self) -> str:
        """The server's stdout and stderr so far (the last few thousand characters)."""
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError as error:
            return f"<cannot read {self.log_path}: {error}>"

    def healthy(self, timeout: float = 2.0) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        try:
            with _OPENER.open(f"{self.uri}/health", timeout=timeout) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, grace: float = 15.0) -> None:
        """Terminates the server (its process group: uvicorn's workers too) and waits for it;
        kills it if it has not exited within ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait(timeout=grace)


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(
    root: str | os.PathLike[str], timeout: float = 90.0, port: int | None = None
) -> Iterator[MlflowServer]:
    """Runs ``mlflow server`` on ``port`` (default: a free port) of 127.0.0.1 with its store
    under ``root`` and yields it once ``GET /health`` answers.

    The backend store is ``sqlite:///<root>/db.sqlite``, artifacts go through the server into
    ``<root>/artifacts``, with one worker. Raises TimeoutError after ``timeout`` seconds, or
    RuntimeError if the server exits first, both with the tail of its log. The server (its
    whole process group) is always stopped on exit.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", HOST,
        "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'db.sqlite'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--workers", "1",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    with open(root / "server.log", "ab") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            env=env, cwd=root, start_new_session=True,
        )  # fmt: skip
    server = MlflowServer(f"http://{HOST}:{port}", root, process)
    try:
        deadline = time.monotonic() + timeout
        while not server.healthy():
            if process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with code {process.returncode} before serving; "
                    f"log tail:\n{server.log_text()}"
                )
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"mlflow server did not answer /health within {timeout} s; log tail:\n"
                    f"{server.log_text()}"
                )
            time.sleep(_POLL_S)
        yield server
    finally:
        server.stop()


# What ``MlflowClient.log_image(key=..., step=...)`` names its files (MLflow 3.x: "+" between
# the parts and "~" for "/" in the key; 2.x: "%" and "#"), and its downscaled copies.
_IMAGE_FILE = re.compile(
    r"^(?P<key>.+?)[+%]step[+%](?P<step>-?\d+)[+%]timestamp[+%]\d+[+%][0-9a-f-]+\.png$"
)


def read_images(
    client: Any, run_id: str, into: str | os.PathLike[str]
) -> dict[str, dict[int, bytes]]:
    """The step-indexed images of a run: key -> step -> PNG bytes (the full-size file),
    downloaded under ``into``."""
    local = Path(client.download_artifacts(run_id, "images", os.fspath(into)))
    images: dict[str, dict[int, bytes]] = {}
    for path in sorted(local.iterdir()):
        match = _IMAGE_FILE.match(path.name)
        if match:
            key = match["key"].replace("~", "/").replace("#", "/")
            images.setdefault(key, {})[int(match["step"])] = path.read_bytes()
    return images


def read_json(client: Any, run_id: str, path: str, into: str | os.PathLike[str]) -> Any:
    """A JSON artifact of a run, parsed."""
    return json.loads(Path(client.download_artifacts(run_id, path, os.fspath(into))).read_text())


def metric_steps(client: Any, run_id: str, key: str) -> dict[int, float]:
    """Step -> value of one metric of a run (the last value logged at a step)."""
    return {metric.step: metric.value for metric in
            sorted(client.get_metric_history(run_id, key), key=lambda m: m.timestamp)}  # fmt: skip
