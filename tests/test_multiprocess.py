"""ActivationLogger in multi-process runs on JAX and PyTorch, in real processes on 127.0.0.1.

* JAX ``keras.distribution.DataParallel`` over 2 processes (gloo CPU collectives): both
  processes run the probe's forward pass at every event (the variables are global arrays),
  only process 0 writes.
* PyTorch ``torch.distributed`` (gloo) with ``DistributedDataParallel`` and a custom training
  loop: only rank 0 runs the probe and writes.
* JAX ``keras.distribution.ModelParallel``, the conv kernels sharded over their output channels
  on 2 CPU devices: of one process (every event is logged, with the maps of the sharded model),
  or of 2 processes (the kernels split between them: both run the probe, process 0 writes).

This pytest session runs Keras on TensorFlow; each run happens in subprocesses running
``tests/multiprocess_worker.py`` with ``KERAS_BACKEND`` set in their environment, bounded by a
timeout (on timeout every process of the run is killed and the test fails with their output).
Event files are read back here with actlog's reader, and the last logged images are compared
with what a single-process TensorFlow copy of the trained weights renders.
"""

from __future__ import annotations

import json
import math
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
from actlog.reader import decode_png, read_image_events, read_images, read_scalars
from actlog.runs import event_run_dirs
from tests import multiprocess_worker as worker

pytestmark = pytest.mark.spawns_backends

ROOT = Path(__file__).resolve().parent.parent
WORKER_SCRIPT = ROOT / "tests" / "multiprocess_worker.py"
STEPS = [actlog.INITIAL_STEP, *range(worker.EPOCHS)]
ACTIVATION_TAGS = [f"activations/{name}" for name in worker.CONV_LAYERS]
WEIGHT_TAGS = [f"weights/{name}" for name in worker.CONV_LAYERS]
#: Seconds one run (all its processes together) may take; about 25 s each when idle.
RUN_TIMEOUT = 240.0
#: Grey levels a rendered pixel may differ by between JAX/PyTorch and the TensorFlow reference
#: (float rounding differs between backends; min-max normalization can scale it up). Seen
#: here: 0 on every pixel.
CROSS_BACKEND_ATOL = 2
#: Environment variables of this process that must not leak into a worker.
_CLEARED = ("TF_CONFIG", "XLA_FLAGS", "KERAS_BACKEND", "JAX_PLATFORMS")

@dataclass
class Task:
    """One worker process to start: its mode, rank, backend, paths and extra environment."""

    name: str
    mode: str
    backend: str
    log_dir: Path
    result: Path
    rank: int = 0
    port: int = 0
    env: dict[str, str] | None = None
    args: tuple[str, ...] = ()


@dataclass
class Finished:
    """A task that has exited: its exit status and captured output."""

    task: Task
    returncode: int
    output: str

    def summary(self) -> dict:
        """The JSON summary the worker wrote."""
        return json.loads(self.task.result.read_text())

    def arrays(self, kind: str) -> dict[str, np.ndarray]:
        """The arrays the worker saved beside its summary (``"weights"`` or ``"maps"``)."""
        with np.load(worker.companion(self.task.result, kind)) as saved:
            return {key: saved[key] for key in saved.files}


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(text: str, chars: int = 4000) -> str:
    """The end of a process's output, for failure messages."""
    return text if len(text) <= chars else "..." + text[-chars:]


def run_tasks(tasks: list[Task], tmp_path: Path, timeout: float = RUN_TIMEOUT) -> list[Finished]:
    """Starts every task at once and waits for all; kills all of them and fails on timeout,
    and fails if one exited with an error."""
    finished = start_and_wait(tasks, tmp_path, timeout)
    assert_all_succeeded(finished)
    return finished


def start_and_wait(tasks: list[Task], tmp_path: Path, timeout: float) -> list[Finished]:
    """Starts every task at once and waits for all; kills all of them and fails on timeout."""
    processes = []
    for task in tasks:
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", KERAS_BACKEND=task.backend)
        if task.backend == "jax":
            env["JAX_PLATFORMS"] = "cpu"
        env.update(task.env or {})
        command = [sys.executable, str(WORKER_SCRIPT), task.mode, "--log-dir", str(task.log_dir),
                   "--result", str(task.result), "--rank", str(task.rank),
                   "--port", str(task.port), *task.args]  # fmt: skip
        out_path = tmp_path / f"{task.name}.out"
        with open(out_path, "wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
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
            f"multi-process run did not finish within {timeout:.0f} s; killed.\n"
            + "\n".join(f"--- {done.task.name}:\n{tail(done.output)}" for done in finished)
        )
    return finished


def assert_all_succeeded(finished: list[Finished]) -> None:
    """Every process exited 0; otherwise fail with the output tails."""
    failed = [done for done in finished if done.returncode != 0]
    assert not failed, "\n".join(
        f"--- {done.task.name} exited {done.returncode}:\n{tail(done.output)}" for done in failed
    )


def two_process_tasks(
    tmp_path: Path, mode: str, backend: str, args: tuple[str, ...] = ()
) -> list[Task]:
    """The 2 processes of one run on 127.0.0.1, sharing one log_dir and one free port."""
    port = free_port()
    return [
        Task(
            name=f"rank{rank}",
            mode=mode,
            backend=backend,
            log_dir=tmp_path / "logs",
            result=tmp_path / f"rank{rank}.json",
            rank=rank,
            port=port,
            args=args,
        )
        for rank in range(worker.WORLD)
    ]


def event_files(log_dir: Path) -> list[Path]:
    """The TensorBoard event files anywhere under ``log_dir``."""
    return sorted(path for path in log_dir.rglob("*") if "tfevents" in path.name)


def assert_one_writer(log_dir: Path, writer_pid: int) -> None:
    """``log_dir`` is one run holding exactly one event file, written by ``writer_pid``."""
    assert event_run_dirs(log_dir) == ["."]
    files = event_files(log_dir)
    assert len(files) == 1, [path.name for path in files]
    # actlog names its files events.out.tfevents.<time>.<host>.<pid>.<n>.v2
    assert files[0].name.split(".")[-3] == str(writer_pid), files[0].name


def assert_every_step(log_dir: Path, weights: bool = True) -> None:
    """Every activations (and ``weights``) tag holds each step once (in order), a grid per
    probe sample, and images that change with training (the probe follows the trained
    weights)."""
    events = read_image_events(log_dir)
    for tag in [*ACTIVATION_TAGS, *(WEIGHT_TAGS if weights else [])]:
        assert tag in events, f"{tag} missing; image tags: {sorted(events)}"
        assert [event.step for event in events[tag]] == STEPS, tag
        assert events[tag][0].pngs != events[tag][-1].pngs, f"{tag}: same image at every step"
    for tag in ACTIVATION_TAGS:
        assert all(len(event.pngs) == worker.PROBE_SIZE for event in events[tag]), tag
    for tag in WEIGHT_TAGS if weights else []:
        assert all(event.pngs for event in events[tag]), tag
    if not weights:
        assert not [tag for tag in events if tag.startswith("weights/")], sorted(events)


def assert_finite_stats(log_dir: Path, summary: dict) -> None:
    """The chief's statistics, as logged and as the logger last held them, are finite."""
    scalars = read_scalars(log_dir)
    for name in worker.CONV_LAYERS:
        logged = {tag: steps for tag, steps in scalars.items() if f"/{name}/" in f"/{tag}/"}
        assert logged, f"no scalar statistics of {name}; tags: {sorted(scalars)}"
        for tag, steps in logged.items():
            # convergence/ compares an event with the one before: from the second event on
            assert sorted(steps) == (STEPS[1:] if tag.startswith("convergence/") else STEPS), tag
            assert all(math.isfinite(value) for value in steps.values()), (tag, steps)
        latest = summary["latest_stats"][name]
        assert latest["nan_count"] == 0, latest
        assert all(isinstance(value, float) for value in latest.values()), latest


def reference_maps(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``actlog.extract`` of the probe through a single-process (TensorFlow) copy of the model
    with ``weights`` (variable path -> value)."""
    model = worker.build_model()
    assert sorted(v.path for v in model.weights) == sorted(weights)
    for variable in model.weights:
        variable.assign(weights[variable.path])
    return actlog.extract(model, worker.probe())


def rendered(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Layer -> the grids the logger renders for ``maps`` (its defaults, dead filters framed)."""
    return {
        name: actlog.render_grids(maps[name], marked=actlog.layer_stats(maps[name]).dead)[0].images
        for name in worker.CONV_LAYERS
    }


def assert_last_step_shows(log_dir: Path, maps: dict[str, np.ndarray], atol: int) -> None:
    """The last step's activation images are the grids of ``maps``, within ``atol`` grey
    levels per pixel."""
    images = read_images(log_dir)
    expected = rendered(maps)
    for name in worker.CONV_LAYERS:
        pngs = images[f"activations/{name}"][STEPS[-1]]
        assert len(pngs) == worker.PROBE_SIZE
        for sample, png in enumerate(pngs):
            want = expected[name][sample]
            got = decode_png(png).reshape(want.shape)
            np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=f"{name} {sample}")


def test_jax_data_parallel_fit_only_process_0_writes(tmp_path: Path) -> None:
    """2-process JAX DataParallel fit: both run the probe, process 0 alone logs every step."""
    finished = run_tasks(two_process_tasks(tmp_path, "jax-data-parallel", "jax"), tmp_path)
    chief, other = (done.summary() for done in finished)
    for rank, summary in enumerate((chief, other)):
        assert summary["rank"] == rank
        assert summary["processes"] == worker.WORLD
        assert summary["devices"] == worker.WORLD  # one CPU device per process, global mesh
        assert summary["collective_forward"] is True
        assert summary["layer_paths"] == list(worker.CONV_LAYERS)
    assert chief["chief"] is True and other["chief"] is False
    # The non-chief took part in every forward pass of the probe (the model spans both) ...
    assert chief["ran_probe"] is True and other["ran_probe"] is True
    assert other["trace_count"] >= 1
    # ... but wrote nothing: the only event file is process 0's, and it kept no statistics.
    assert other["latest_stats"] == {}
    log_dir = finished[0].task.log_dir
    assert_one_writer(log_dir, chief["pid"])
    assert_every_step(log_dir)
    assert_finite_stats(log_dir, chief)
    weights = finished[0].arrays("weights")
    assert_last_step_shows(log_dir, reference_maps(weights), CROSS_BACKEND_ATOL)


def test_torch_ddp_custom_loop_only_rank_0_writes(tmp_path: Path) -> None:
    """2-rank torch.distributed (gloo) DDP loop: rank 0 alone runs the probe and logs."""
    finished = run_tasks(two_process_tasks(tmp_path, "torch-ddp", "torch"), tmp_path)
    chief, other = (done.summary() for done in finished)
    for rank, summary in enumerate((chief, other)):
        assert summary["rank"] == rank
        assert summary["processes"] == worker.WORLD
        assert summary["collective_forward"] is False
        assert summary["layer_paths"] == list(worker.CONV_LAYERS)
    assert chief["chief"] is True and chief["ran_probe"] is True
    assert other["chief"] is False and other["ran_probe"] is False
    assert other["latest_stats"] == {}
    log_dir = finished[0].task.log_dir
    assert_one_writer(log_dir, chief["pid"])
    assert_every_step(log_dir)
    assert_finite_stats(log_dir, chief)
    # DDP kept the replicas in sync, so rank 0's images show the one trained model.
    weights = finished[0].arrays("weights")
    other_weights = finished[1].arrays("weights")
    assert sorted(weights) == sorted(other_weights)
    for path, value in weights.items():
        np.testing.assert_array_equal(other_weights[path], value, err_msg=path)
    assert_last_step_shows(log_dir, reference_maps(weights), CROSS_BACKEND_ATOL)


def test_jax_model_parallel_fit_logs_sharded_model(tmp_path: Path) -> None:
    """JAX ModelParallel on 2 CPU devices, conv kernels sharded over their output channels:
    every step is logged, with the maps ``actlog.extract`` gives for the same model."""
    task = Task(
        name="model-parallel",
        mode="jax-model-parallel",
        backend="jax",
        log_dir=tmp_path / "logs",
        result=tmp_path / "model-parallel.json",
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    (done,) = run_tasks([task], tmp_path)
    summary = done.summary()
    assert summary["devices"] == 2 and summary["processes"] == 1
    for name in worker.CONV_LAYERS:  # the layout map did shard the kernels
        assert summary["kernel_shardings"][f"{name}/kernel"].endswith("'model')"), summary
    assert summary["chief"] is True and summary["ran_probe"] is True
    assert summary["layer_paths"] == list(worker.CONV_LAYERS)
    assert_one_writer(task.log_dir, summary["pid"])
    assert_every_step(task.log_dir)
    assert_finite_stats(task.log_dir, summary)
    maps = done.arrays("maps")  # actlog.extract of the sharded model after fit
    assert_last_step_shows(task.log_dir, maps, atol=0)
    # ... which a single-device TensorFlow copy of the trained weights reproduces.
    reference = reference_maps(done.arrays("weights"))
    for name in worker.CONV_LAYERS:
        np.testing.assert_allclose(maps[name], reference[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("weights", [False, True], ids=["activations", "with-weights"])
def test_jax_model_parallel_over_two_processes(tmp_path: Path, weights: bool) -> None:
    """ModelParallel with one device per process, so each process holds half of every conv
    kernel: both run the probe (its outputs are gathered), process 0 alone logs every step."""
    args = ("--processes", str(worker.WORLD), *(() if weights else ("--no-weights",)))
    tasks = two_process_tasks(tmp_path, "jax-model-parallel", "jax", args)
    finished = start_and_wait(tasks, tmp_path, RUN_TIMEOUT)
    assert_all_succeeded(finished)
    chief, other = (done.summary() for done in finished)
    for rank, summary in enumerate((chief, other)):
        assert summary["rank"] == rank and summary["processes"] == worker.WORLD
        assert summary["devices"] == worker.WORLD
        assert summary["collective_forward"] is True and summary["ran_probe"] is True
        for name in worker.CONV_LAYERS:
            assert summary["kernel_shardings"][f"{name}/kernel"].endswith("'model')"), summary
    assert chief["chief"] is True and other["chief"] is False
    assert other["latest_stats"] == {}
    log_dir = finished[0].task.log_dir
    assert_one_writer(log_dir, chief["pid"])
    assert_every_step(log_dir, weights=weights)
    assert_finite_stats(log_dir, chief)
    maps = finished[0].arrays("maps")
    assert_last_step_shows(log_dir, maps, atol=0)
    reference = reference_maps(finished[0].arrays("weights"))
    for name in worker.CONV_LAYERS:
        np.testing.assert_allclose(maps[name], reference[name], rtol=1e-4, atol=1e-5)
