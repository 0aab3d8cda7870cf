"""A real TensorBoard server for tests, bound to 127.0.0.1, and a small urllib client for it.

The server runs as `sys.executable -m tensorboard.main` with the pure-Python loader
(`--load_fast=false`), keeps up to `samples_images` steps per image tag and reloads the log
directory every second. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from actlog.reader import read_images
from actlog.runs import event_run_dirs

HOST = "127.0.0.1"
_POLL_S = 0.2
_LOG_TAIL_CHARS = 4000
# No proxy, whatever the environment says: requests go straight to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# TensorBoard imports TensorFlow when it can (about 3.5 s); when the module
# `tensorboard.compat.notf` exists it uses its own TensorFlow stub instead.
_STUB_TF_LAUNCHER = (
    "import sys, types; "
    "sys.modules['tensorboard.compat.notf'] = types.ModuleType('tensorboard.compat.notf'); "
    "sys.argv[0] = 'tensorboard'; "
    "from tensorboard.main import run_main; run_main()"
)


class TensorBoardHTTPError(RuntimeError):
    """A request to the test server answered with an HTTP error status."""

    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"GET {url} -> HTTP {status}: {body[:500]}")
        self.url = url
        self.status = status
        self.body = body


@dataclass
class TensorBoardClient:
    """Talks to one TensorBoard server on 127.0.0.1 through urllib."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: str
    request_timeout: float = 10.0

    def _get(self, path: str, params: dict[str, Any] | None = None) -> tuple[bytes, str]:
        """GET `path` (with url-encoded `params`); return the body and the content type."""
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return self._fetch(url)

    def _fetch(self, url: str, timeout: float | None = None) -> tuple[bytes, str]:
        """GET a full URL on the server; raise TensorBoardHTTPError on an error status."""
        if not url.startswith(self.base_url + "/"):
            raise ValueError(f"refusing to contact anything but the test server: {url}")
        seconds = self.request_timeout if timeout is None else timeout
        try:
            with _OPENER.open(url, timeout=seconds) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")
            raise TensorBoardHTTPError(url, error.code, body) from None

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path` and parse the JSON answer."""
        body, _content_type = self._get(path, params)
        return json.loads(body)

    def tags(self) -> dict[str, dict[str, dict[str, Any]]]:
        """`/data/plugin/images/tags`: run -> tag -> {displayName, description, samples}."""
        return self._get_json("/data/plugin/images/tags")

    def runs(self) -> list[str]:
        """`/data/runs`: every run the server has found, image data or not."""
        return self._get_json("/data/runs")

    def images(self, run: str, tag: str, sample: int = 0) -> list[dict[str, Any]]:
        """`/data/plugin/images/images`: [{wall_time, step, query}] for one run, tag, sample.

        Steps with fewer than `sample + 1` images are left out by the server.
        """
        params = {"run": run, "tag": tag, "sample": sample}
        return self._get_json("/data/plugin/images/images", params)

    def image_bytes(self, query: str) -> bytes:
        """`/data/plugin/images/individualImage?<query>`: the PNG bytes (query is opaque)."""
        body, content_type = self._fetch(
            f"{self.base_url}/data/plugin/images/individualImage?{query}"
        )
        if content_type.split(";")[0].strip() != "image/png":
            raise ValueError(f"expected image/png, got {content_type!r}")
        return body

    def images_by_step(self, run: str, tag: str, sample: int = 0) -> dict[int, bytes]:
        """Step -> PNG bytes of image `sample`, for every step the server lists, in its order."""
        return {
            entry["step"]: self.image_bytes(entry["query"])
            for entry in self.images(run, tag, sample)
        }

    def wait_for_steps(
        self, run: str, tag: str, n: int, timeout: float = 30.0, sample: int = 0
    ) -> list[dict[str, Any]]:
        """Poll until the server lists at least `n` steps for (run, tag, sample); return them.

        Raises TimeoutError (with the last answer) after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        last: object = "no answer yet"
        while True:
            try:
                entries = self.images(run, tag, sample)
                if len(entries) >= n:
                    return entries
                last = [entry["step"] for entry in entries]
            except TensorBoardHTTPError as error:  # run or tag not loaded yet
                last = error
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{run}/{tag} sample {sample}: wanted {n} steps within {timeout} s; "
                    f"last answer: {last}"
                )
            time.sleep(_POLL_S)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET `path` (e.g. `/data/plugin/actlog/run`) and parse the JSON answer."""
        return self._get_json(path, params)

    def get_bytes(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """GET `path` and return the body."""
        return self._get(path, params)[0]

    def wait_for_json(self, path: str, params: dict[str, Any] | None,
                      done: Any, timeout: float = 30.0) -> Any:  # fmt: skip
        """Polls `path` until `done(answer)` holds (the server reloads the log directory every
        second); returns that answer, or raises TimeoutError with the last one."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self._get_json(path, params)
            if done(answer):
                return answer
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{path} {params}: not done within {timeout} s: {answer!r}")
            time.sleep(_POLL_S)

    def log_text(self) -> str:
        """The server's stdout and stderr so far."""
        return _read_tail(self.log_path, None)


def _free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _read_tail(path: str, chars: int | None = _LOG_TAIL_CHARS) -> str:
    """The last `chars` characters of a text file (all of it for None)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as error:
        return f"<cannot read {path}: {error}>"
    return text if chars is None else text[-chars:]


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Terminate the server by its PID; kill it if it does not exit within `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def _expected_image_tags(logdir: str, expect_runs: Iterable[str] | None) -> dict[str, set[str]]:
    """Run -> image tags the server must list before it counts as ready."""
    if expect_runs is not None:
        return {run: set() for run in expect_runs}
    expected = {}
    for run in event_run_dirs(logdir):
        tags = set(read_images(os.path.join(logdir, run)))
        if tags:
            expected[run] = tags
    return expected


def _is_ready(client: TensorBoardClient, expected: dict[str, set[str]], timeout: float) -> bool:
    """True once the images plugin answers and lists every expected run and tag."""
    try:
        body, _content_type = client._fetch(client.base_url + "/data/plugin/images/tags", timeout)
        served = json.loads(body)
    except (OSError, TensorBoardHTTPError, ValueError):  # not listening yet, or loading
        return False
    return all(run in served and tags <= set(served[run]) for run, tags in expected.items())


@contextlib.contextmanager
def tensorboard_server(
    logdir: str | os.PathLike[str],
    samples_images: int | None = 1000,
    timeout: float = 60.0,
    expect_runs: Iterable[str] | None = None,
    fast_start: bool = False,
    load_fast: bool = False,
) -> Iterator[TensorBoardClient]:
    """Run TensorBoard on `logdir` at a free port of 127.0.0.1 and yield a client for it.

    Ready means `/data/plugin/images/tags` lists every run in `expect_runs`; by default, every
    run under `logdir` that holds image summaries, with all of its image tags (an empty logdir
    is ready as soon as the server answers). Raises TimeoutError after `timeout` seconds, or
    RuntimeError if the server exits first, both with the tail of the server log in the message.
    The process is always stopped on exit (terminate, then kill after 10 s).

    The server is `sys.executable -m tensorboard.main`; `fast_start=True` runs the same
    `tensorboard.main.run_main` with TensorBoard's TensorFlow stub instead of TensorFlow, which
    serves about 3 s sooner. `samples_images=None` passes no `--samples_per_plugin`;
    `load_fast=True` reads through TensorBoard's Rust data server instead of the Python loader.
    """
    logdir = os.fspath(logdir)
    expected = _expected_image_tags(logdir, expect_runs)
    port = _free_port()
    launcher = ["-c", _STUB_TF_LAUNCHER] if fast_start else ["-m", "tensorboard.main"]
    command = [
        sys.executable, *launcher,
        "--logdir", logdir,
        "--host", HOST,
        "--port", str(port),
        *(["--samples_per_plugin", f"images={samples_images}"] if samples_images else []),
        f"--load_fast={'true' if load_fast else 'false'}",
        "--reload_interval", "1",
    ]  # fmt: skip
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log_fd, log_path = tempfile.mkstemp(prefix="tensorboard-", suffix=".log")
    try:
        with os.fdopen(log_fd, "wb") as log_file:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip
        client = TensorBoardClient(f"http://{HOST}:{port}", process, log_path)
        try:
            deadline = time.monotonic() + timeout
            while not _is_ready(client, expected, max(0.1, min(2.0, deadline - time.monotonic()))):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"TensorBoard exited with code {process.returncode} before serving "
                        f"{sorted(expected)}; log tail:\n{_read_tail(log_path)}"
                    )
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"TensorBoard did not serve {sorted(expected)} within {timeout} s; "
                        f"log tail:\n{_read_tail(log_path)}"
                    )
                time.sleep(_POLL_S)
            yield client
        finally:
            _stop(process)
    finally:
        with contextlib.suppress(OSError):
            os.remove(log_path)
