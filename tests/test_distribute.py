"""ActivationLogger under tf.distribute, in real processes: MirroredStrategy on 2 logical CPU
devices, and MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1.

Every distributed run happens in subprocesses running ``tests/distributed_worker.py`` (logical
devices and cluster servers must be set up before TensorFlow initializes); each is bounded by a
timeout, so a hang fails the test. Event files are read back here with TensorBoard's loader.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

import actlog
import actlog.backend
from actlog.reader import decode_png, read_images
from actlog.runs import event_run_dirs
from tests import distributed_worker as worker

pytestmark = pytest.mark.tensorflow

ROOT = Path(__file__).resolve().parent.parent
WORKER_SCRIPT = ROOT / "tests" / "distributed_worker.py"
STEPS = [actlog.INITIAL_STEP, *range(worker.EPOCHS)]
TAGS = sorted(f"{kind}/{name}" for kind in ("activations", "filter_health")
              for name in worker.CONV_LAYERS)  # fmt: skip
#: Seconds a whole cluster (or the single MirroredStrategy process) may take.
RUN_TIMEOUT = 120.0
#: keras-team/keras#20585 fails within seconds of start-up.
FIT_TIMEOUT = 45.0
ISSUE_20585_MARKER = "Attempt to convert a value (PerReplica"


class KerasIssue20585(AssertionError):
    """A worker failed in ``model.fit`` with the error of keras-team/keras#20585."""


@dataclass
class Task:
    """One worker process to start: its TF_CONFIG (None: no cluster) and its paths."""

    name: str
    mode: str
    log_dir: Path
    result: Path
    weights: Path | None = None
    tf_config: dict | None = None


@dataclass
class Finished:
    """A task that has exited: its exit status and captured output."""

    task: Task
    returncode: int
    stderr: str

    def summary(self) -> dict:
        """The JSON summary the worker wrote."""
        return json.loads(self.task.result.read_text())


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together while choosing)."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tail(text: str, chars: int = 3000) -> str:
    """The end of a process's output, for failure messages."""
    return text if len(text) <= chars else "..." + text[-chars:]


def run_tasks(tasks: list[Task], tmp_path: Path, timeout: float) -> list[Finished]:
    """Starts every task at once and waits for all; kills all of them and fails on timeout."""
    processes = []
    for task in tasks:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
        env.pop("TF_CONFIG", None)
        if task.tf_config is not None:
            env["TF_CONFIG"] = json.dumps(task.tf_config)
        command = [
            sys.executable,
            str(WORKER_SCRIPT),
            task.mode,
            "--log-dir",
            str(task.log_dir),
            "--result",
            str(task.result),
        ]
        if task.weights is not None:
            command += ["--weights", str(task.weights)]
        out_path = tmp_path / f"{task.name}.out"
        with open(out_path, "wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append((task, process, out_path))
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        for _task, process, _out in processes:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        for _task, process, _out in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    finished = [
        Finished(task, process.returncode, out.read_text(errors="replace"))
        for task, process, out in processes
    ]
    if timed_out:
        pytest.fail(
            f"distributed run did not finish within {timeout:.0f} s; killed.\n"
            + "\n".join(f"--- {done.task.name}:\n{tail(done.stderr)}" for done in finished)
        )
    return finished


def assert_all_succeeded(finished: list[Finished]) -> None:
    """Every process exited 0; otherwise fail with the output tails."""
    failed = [done for done in finished if done.returncode != 0]
    assert not failed, "\n".join(
        f"--- {done.task.name} exited {done.returncode}:\n{tail(done.stderr)}" for done in failed
    )


def cluster_tasks(tmp_path: Path, mode: str, chief_task: bool = False) -> list[Task]:
    """Two tasks of one MultiWorkerMirroredStrategy cluster on 127.0.0.1 (free ports).

    Without ``chief_task`` the cluster is 2 workers (worker 0 is the chief); with it, a
    ``chief`` task and one worker.
    """
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    if chief_task:
        cluster = {"chief": addresses[:1], "worker": addresses[1:]}
        roles = [("chief", "chief", 0), ("worker0", "worker", 0)]
    else:
        cluster = {"worker": addresses}
        roles = [("worker0", "worker", 0), ("worker1", "worker", 1)]
    return [
        Task(
            name=name,
            mode=mode,
            log_dir=tmp_path / name,
            result=tmp_path / f"{name}.json",
            weights=tmp_path / f"{name}.weights.h5",
            tf_config={"cluster": cluster, "task": {"type": kind, "index": index}},
        )
        for name, kind, index in roles
    ]


def expected_last_grids(weights: Path) -> dict[str, np.ndarray]:
    """Layer -> the grids a non-distributed copy of the model with ``weights`` renders."""
    model = worker.build_model()
    model.load_weights(weights)
    maps = actlog.extract(model, worker.probe())
    return {
        name: actlog.render_grids(maps[name], marked=actlog.layer_stats(maps[name]).dead)[0].images
        for name in worker.CONV_LAYERS
    }


def assert_logged_run(log_dir: Path, weights: Path) -> None:
    """``log_dir`` holds one grid per probe sample for every conv layer at steps -1, 0, 1, and
    the last step's pixels are those of a non-distributed model with the trained weights."""
    assert event_run_dirs(log_dir) == ["."]
    images = read_images(log_dir)
    assert sorted(images) == TAGS
    for tag, steps in images.items():
        assert sorted(steps) == STEPS, tag
        shown = worker.PROBE_SIZE if tag.startswith("activations/") else 1  # a timeline: 1
        assert all(len(pngs) == shown for pngs in steps.values()), tag
    expected = expected_last_grids(weights)
    for name in worker.CONV_LAYERS:
        pngs = images[f"activations/{name}"][STEPS[-1]]
        for sample, png in enumerate(pngs):
            want = expected[name][sample]
            np.testing.assert_array_equal(decode_png(png).reshape(want.shape), want)


def assert_only_chief_logged(finished: list[Finished], chief: str) -> None:
    """The ``chief`` task logged a full run; every other task wrote no event file at all."""
    by_name = {done.task.name: done for done in finished}
    for name, done in by_name.items():
        summary = done.summary()
        assert summary["replicas"] == 2, name
        assert summary["layer_paths"] == list(worker.CONV_LAYERS), name
        assert summary["active"] is (name == chief), name
        if name == chief:
            assert_logged_run(done.task.log_dir, done.task.weights)
        elif done.task.log_dir.exists():
            assert event_run_dirs(done.task.log_dir) == [], name


def test_fit_under_mirrored_strategy_on_two_logical_cpus(tmp_path: Path) -> None:
    """fit under MirroredStrategy logs every epoch, with the maps of the trained weights."""
    task = Task(
        name="mirrored",
        mode="mirrored",
        log_dir=tmp_path / "actlog",
        result=tmp_path / "mirrored.json",
        weights=tmp_path / "mirrored.weights.h5",
    )
    finished = run_tasks([task], tmp_path, RUN_TIMEOUT)
    assert_all_succeeded(finished)
    summary = finished[0].summary()
    assert summary["replicas"] == 2
    assert summary["active"] is True
    assert_logged_run(task.log_dir, task.weights)


def test_multiworker_custom_loop_only_worker0_logs(tmp_path: Path) -> None:
    """Two workers, no chief task: worker 0 logs everything, worker 1 writes nothing."""
    finished = run_tasks(cluster_tasks(tmp_path, "multiworker"), tmp_path, RUN_TIMEOUT)
    assert_all_succeeded(finished)
    assert_only_chief_logged(finished, chief="worker0")


def test_multiworker_custom_loop_chief_task_is_the_only_writer(tmp_path: Path) -> None:
    """A cluster with a ``chief`` task: the chief logs, worker 0 writes nothing."""
    tasks = cluster_tasks(tmp_path, "multiworker", chief_task=True)
    finished = run_tasks(tasks, tmp_path, RUN_TIMEOUT)
    assert_all_succeeded(finished)
    assert_only_chief_logged(finished, chief="chief")


@pytest.mark.xfail(
    reason="keras-team/keras#20585: Keras 3.15 fit fails under MultiWorkerMirroredStrategy "
    "before any callback runs",
    raises=KerasIssue20585,
    strict=False,
)
def test_multiworker_fit(tmp_path: Path) -> None:
    """model.fit under MultiWorkerMirroredStrategy with the logger: only worker 0 logs."""
    finished = run_tasks(cluster_tasks(tmp_path, "multiworker-fit"), tmp_path, FIT_TIMEOUT)
    for done in finished:
        if done.returncode != 0 and ISSUE_20585_MARKER in done.stderr:
            raise KerasIssue20585(f"{done.task.name}:\n{tail(done.stderr, 1000)}")
    assert_all_succeeded(finished)
    assert_only_chief_logged(finished, chief="worker0")


WORKERS_ONLY = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
WITH_CHIEF = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        ({"cluster": WORKERS_ONLY, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": WORKERS_ONLY, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": WITH_CHIEF, "task": {"type": "chief", "index": 0}}, True),
        ({"cluster": WITH_CHIEF, "task": {"type": "worker", "index": 0}}, False),
        (None, True),
        ("{not json", True),
        ("null", True),
        ("[]", True),
    ],
    ids=[
        "worker0",
        "worker1",
        "chief",
        "worker0-with-chief",
        "no-tf-config",
        "garbage",
        "json-null",
        "json-array",
    ],
)
def test_is_chief_from_tf_config(
    monkeypatch: pytest.MonkeyPatch, tf_config: dict | str | None, expected: bool
) -> None:
    """Without a strategy on the model, TF_CONFIG decides who logs."""
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        value = tf_config if isinstance(tf_config, str) else json.dumps(tf_config)
        monkeypatch.setenv("TF_CONFIG", value)
    assert actlog.backend.is_chief() is expected
