"""A venv without TensorFlow (``pip install ".[jax]"`` or ``".[torch]"``): every feature works.

Selected only in the TensorFlow-free venvs of ``.ci/run`` (marker ``no_tensorflow``); the rest
of the suite runs there too, but for the tests that use TensorFlow itself (``tf_package``). The
errors that name the ``tensorflow`` extra are checked in every venv, in processes where the
package is hidden (``tests/test_extras.py``)."""

from __future__ import annotations

import importlib.util
import sys

import keras
import mlflow
import pytest

import actlog
from actlog.cli import main as cli
from actlog.reader import read_image_events, read_scalars
from tests import models
from tests.mlflowserver import metric_steps, mlflow_server
from tests.viewrun import documents
from tests.wandbread import find_run_dir, history_rows, run_file

pytestmark = pytest.mark.no_tensorflow


def test_this_venv_has_no_tensorflow():
    assert importlib.util.find_spec("tensorflow") is None
    with pytest.raises(ModuleNotFoundError):
        import tensorflow  # noqa: F401
    assert keras.backend.backend() in ("jax", "torch")


def test_a_run_with_every_feature_writes_every_sink(tmp_path, wandb_root):
    import wandb

    x, y = models.digit_data(32)
    model = models.sequential()
    with mlflow_server(tmp_path / "mlflow") as server:
        sinks = ["tensorboard",
                 actlog.WandbSink(project="actlog-no-tf", dir=str(wandb_root)),
                 actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-no-tf")]
        logger = actlog.ActivationLogger(
            (x[:4], y[:4]), log_dir=tmp_path / "logs", sinks=sinks, weights=True, overlays=2,
            maximize_every_n_epochs=2, maximize_steps=3, animate=True, sample_images=True,
            on_error="raise", verbose=0)  # fmt: skip
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[logger])
        client = mlflow.MlflowClient(server.uri)
        experiment = client.get_experiment_by_name("actlog-no-tf")
        (run,) = client.search_runs([experiment.experiment_id])
        assert sorted(metric_steps(client, run.info.run_id, "dead_filters/conv_a")) == [
            -1, 0, 1, 2]
    assert logger.sink_failures == {}
    assert "tensorflow" not in sys.modules

    events = read_image_events(tmp_path / "logs")
    for tag in ("activations/conv_a", "activations/conv_b", "weights/conv_a",
                "overlays/conv_b", "filter_health/conv_b"):  # fmt: skip
        assert [e.step for e in events[tag]] == [-1, 0, 1, 2], tag
    assert [e.step for e in events["maximized/conv_b"]] == [-1, 1]
    scalars = read_scalars(tmp_path / "logs")
    assert list(scalars["convergence/conv_b"]) == [0, 1, 2]
    assert sorted(documents(tmp_path / "logs")) == [-1, 0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "logs" / "animations").glob("*.gif")) == [
        "conv_a.gif", "conv_b.gif"]

    wandb.teardown()
    rows = history_rows(run_file(find_run_dir(wandb_root)))
    assert any("activations/conv_a" in row for row in rows)

    out = tmp_path / "evolution.gif"
    assert cli(["animate", str(tmp_path / "logs"), "--out", str(out)]) == 0
    assert list(tmp_path.glob("evolution_*.gif"))
