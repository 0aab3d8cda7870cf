"""The demo script, run as a user would (shortened to one epoch)."""

import contextlib
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

import mlflow
import numpy as np
import pytest

import train_example
from actlog.reader import decode_png, read_images
from actlog.runs import event_run_dirs
from actlog.sheet import contact_sheet


def test_demo_trains_and_logs_beside_keras(tmp_path, capsys):
    status = train_example.main(
        ["--epochs", "1", "--dataset", "synthetic", "--log-dir", str(tmp_path), "--probe-size", "3"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "Dataset: synthetic" in out
    assert f"tensorboard --logdir {tmp_path}" in out and "#actlog" in out
    # Keras's TensorBoard callback writes through TensorFlow: without it, the demo says so.
    with_tf = importlib.util.find_spec("tensorflow") is not None
    keras_runs = ["keras/train", "keras/validation"] if with_tf else []
    assert sorted(event_run_dirs(tmp_path)) == ["actlog", *keras_runs]
    assert ("Keras's TensorBoard callback (the loss curves in the Scalars tab) is left out"
            in out) != with_tf
    images = read_images(tmp_path / "actlog")
    assert sorted(images) == [
        f"{kind}/{layer}"
        for kind in ("activations", "filter_health", "maximized", "overlays", "weights")
        for layer in ("conv2d", "conv2d_1")
    ]
    assert sorted(images["activations/conv2d_1"]) == [-1, 0]
    assert sorted(images["maximized/conv2d_1"]) == [-1]  # then every 5 epochs
    assert (tmp_path / "actlog" / "animations" / "conv2d_1.gif").is_file()
    # Per sample, 64 maps of 11x11, upscaled x2, in an 8x8 grid with separators (183x183); the
    # 3 samples side by side in one image, each under its caption.
    expected = contact_sheet(np.zeros((3, 183, 183, 1), np.uint8), ["caption"] * 3).shape[1:3]
    assert decode_png(images["activations/conv2d_1"][0][0]).shape[:2] == expected
    # The same run in the local MLflow store the demo writes where mlflow is installed.
    out_mlflow = f"mlflow ui --backend-store-uri sqlite:///{tmp_path}/mlflow.db"
    assert out_mlflow in out
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("actlog-demo").experiment_id])
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "on_rate/conv2d")] == [-1, 0]
    assert "convergence/conv2d" in run.data.metrics
    # In the same run: Keras's metrics and optimizer (MLflow's own Keras callback), actlog's
    # options as params, the report as an artifact.
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, metric)] == [0]
    assert float(run.data.params["optimizer_learning_rate"]) == pytest.approx(0.001)
    assert run.data.params["actlog.every_n_epochs"] == "1"
    assert run.data.params["actlog.layers"] == "conv"
    assert run.data.params["actlog.overlays"] == "3"
    assert "actlog/report.html" in [a.path for a in client.list_artifacts(run.info.run_id,
                                                                          "actlog")]


def test_the_printed_commands_work_as_printed(tmp_path, monkeypatch, capsys):
    """The commands the demo prints start TensorBoard, with the actlog tab on, and MLflow's UI,
    with the demo's run, from a shell where no virtual environment is activated (only the host
    and port are added, to keep off 6006 and 5000)."""
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    train_example.main(["--epochs", "1", "--dataset", "synthetic", "--log-dir", str(tmp_path),
                        "--probe-size", "2"])  # fmt: skip
    out = capsys.readouterr().out
    (tensorboard,) = re.findall(r"^  (\S*tensorboard\S* --logdir .*)$", out, re.M)
    assert shlex.split(tensorboard)[-2:] == ["--logdir", str(tmp_path)]
    with serving(tensorboard) as get:
        assert get("/data/plugins_listing")["actlog"]["enabled"] is True
    (mlflow_ui,) = re.findall(r"^  (\S*mlflow\S* ui --backend-store-uri .*)$", out, re.M)
    assert shlex.split(mlflow_ui)[-1] == f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("actlog-demo").experiment_id])
    with serving(mlflow_ui) as get:
        served = get(f"/ajax-api/2.0/mlflow/runs/get?run_id={run.info.run_id}")["run"]
        metrics = {metric["key"] for metric in served["data"]["metrics"]}
        assert {"loss", "accuracy", "on_rate/conv2d"} <= metrics


@contextlib.contextmanager
def serving(command):
    """Runs ``command`` (a server) with ``--host 127.0.0.1 --port <free port>`` from a shell
    whose PATH has no virtual environment; yields ``get(path)``, its JSON answer to ``path``
    (waiting for the server at the first)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH")}  # fmt: skip
    env["PATH"] = "/usr/bin:/bin"  # no virtual environment on the PATH
    port = free_port()
    # its own process group: stopping the shell alone would leave the server running
    server = subprocess.Popen(f"{command} --host 127.0.0.1 --port {port}", shell=True, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)  # fmt: skip
    try:
        yield lambda path: wait_for_json(f"http://127.0.0.1:{port}{path}", server)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        stopped = group_gone(server.pid, timeout=30)
        if not stopped:
            os.killpg(server.pid, signal.SIGKILL)
        assert stopped, f"{command} outlived SIGTERM to its process group"


def group_gone(pgid, timeout):
    """Whether every process of group ``pgid`` has exited, waiting at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_json(url, process, timeout=90.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the command exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with opener.open(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
