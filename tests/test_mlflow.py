"""MlflowSink against a real MLflow tracking server on 127.0.0.1, read back with MlflowClient."""

import contextlib
import itertools
import logging

import keras
import mlflow
import numpy as np
import pytest

import actlog
from actlog.reader import decode_png, read_images, read_scalars
from actlog.runs import event_run_dirs
from tests import models
from tests.mlflowserver import free_port, metric_steps, mlflow_server, read_json
from tests.mlflowserver import read_images as read_mlflow_images
from tests.viewrun import documents

_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as running:
        yield running


@pytest.fixture
def client(server):
    return mlflow.MlflowClient(server.uri)


@pytest.fixture
def experiment(monkeypatch, server):
    """A fresh experiment, made MLflow's default for this test (``MLFLOW_TRACKING_URI``,
    ``MLFLOW_EXPERIMENT_NAME``); no run is left active afterwards."""
    name = f"actlog-test-{next(_names)}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    yield name
    while mlflow.active_run() is not None:
        mlflow.end_run()


def only_run(client, experiment):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_same_grids_in_tensorboard_and_mlflow(tmp_path, server, client):
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-grids",
                             run_name="grids")  # fmt: skip
    logger = actlog.ActivationLogger(
        (x[:3], y[:3]), log_dir=tmp_path / "actlog", sinks=["tensorboard", sink], animate=True
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert mlflow.active_run() is None  # the sink's run was never the active one
    assert not logger.sink_failures
    run = only_run(client, "actlog-grids")
    assert run.info.status == "FINISHED" and run.info.run_name == "grids"  # the sink ended it

    run_id = run.info.run_id
    tensorboard = read_images(tmp_path / "actlog")
    in_mlflow = read_mlflow_images(client, run_id, tmp_path / "download")
    steps = [actlog.INITIAL_STEP, 0, 1]
    for layer in ("conv_a", "conv_b"):
        tag = f"activations/{layer}"
        assert sorted(in_mlflow[tag]) == steps
        for step in steps:
            pixels = decode_png(in_mlflow[tag][step])
            np.testing.assert_array_equal(pixels, decode_png(tensorboard[tag][step][0]))
            assert np.ptp(pixels) > 0
    scalars = read_scalars(tmp_path / "actlog")
    for tag in ("dead_filters/conv_a", "on_rate/conv_b", "dormant_filters/conv_b"):
        history = metric_steps(client, run_id, tag)
        assert sorted(history) == steps
        np.testing.assert_allclose([history[s] for s in steps], [scalars[tag][s] for s in steps],
                                   rtol=1e-6)  # fmt: skip
    listed = {item.path for folder in ("tables", "histograms", "animations")
              for item in client.list_artifacts(run_id, folder)}  # fmt: skip
    assert {f"tables/step_{s}.json" for s in steps} <= listed
    assert {f"histograms/step_{s}.json" for s in steps} <= listed
    assert {"animations/conv_a.gif", "animations/conv_b.gif"} <= listed
    table = read_json(client, run_id, "tables/step_1.json", tmp_path / "t")[
        "dead_filter_list/conv_a"
    ]
    assert table["columns"][0] == "filter" and all(len(row) == 2 for row in table["data"])
    histogram = read_json(client, run_id, "histograms/step_0.json", tmp_path / "h")
    counts = histogram["activation_hist/conv_a"]["counts"]
    assert len(histogram["activation_hist/conv_a"]["edges"]) == len(counts) + 1
    assert sum(counts) == 3 * 10 * 10 * 4  # every activation of the probe's 3 samples
    # the view's documents, one JSON artifact per event, the same as in TensorBoard
    listed = {item.path for item in client.list_artifacts(run_id, "actlog/event")}
    assert listed == {f"actlog/event/step_{s}.json" for s in steps}
    in_tensorboard = documents(tmp_path / "actlog")
    for step in steps:
        document = read_json(client, run_id, f"actlog/event/step_{step}.json", tmp_path / "d")
        assert document == in_tensorboard[step]


def test_sample_images_are_one_key_per_probe_sample(tmp_path, server, client):
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-samples")
    logger = actlog.ActivationLogger((x[:3], y[:3]), layers="conv_b", log_dir=tmp_path / "actlog",
                                     sinks=["tensorboard", sink], sample_images=True,
                                     log_initial=False, stats=False)  # fmt: skip
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    run_id = only_run(client, "actlog-samples").info.run_id
    in_mlflow = read_mlflow_images(client, run_id, tmp_path / "download")
    assert sorted(in_mlflow) == [f"activations/conv_b/probe {i}" for i in range(3)]
    tensorboard = read_images(tmp_path / "actlog")["activations/conv_b"][0]
    for i in range(3):
        np.testing.assert_array_equal(decode_png(in_mlflow[f"activations/conv_b/probe {i}"][0]),
                                      decode_png(tensorboard[i]))  # fmt: skip


def test_a_second_fit_appends_to_the_run_the_sink_created(tmp_path, server, client):
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-two-fits")
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks=sink)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0, callbacks=[logger])
    run = only_run(client, "actlog-two-fits")
    assert run.info.status == "FINISHED"
    assert sorted(metric_steps(client, run.info.run_id, "dead_filters/conv_a")) == [-1, 0, 1]


def test_tags_with_spaces_and_slashes_are_the_mlflow_keys(tmp_path, server, client):
    tag = "011 backbone/block_1_expand_relu"
    sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-keys")
    sink.check()
    sink.open()
    image = np.arange(12 * 20, dtype=np.uint8).reshape(1, 12, 20, 1)
    sink.write_images(f"activations/{tag}", image, step=-1)
    sink.write_scalar(f"dead_filters/{tag}", 0.25, step=-1)
    sink.write_scalar("nonfinite/conv:0", 3, step=-1)  # ":" is not allowed in an image key
    sink.flush()
    run_id = sink.run_id
    sink.close()
    images = read_mlflow_images(client, run_id, tmp_path)
    np.testing.assert_array_equal(decode_png(images[f"activations/{tag}"][-1]), image[0, ..., 0])
    assert metric_steps(client, run_id, f"dead_filters/{tag}") == {-1: 0.25}
    assert metric_steps(client, run_id, "nonfinite/conv_0") == {-1: 3.0}
    assert actlog.sinks.mlflow.mlflow_key("activations/a//..") == "activations/a/_/__"


def test_uses_the_active_run_and_leaves_it_running(tmp_path, client, experiment):
    model = models.sequential()
    x, y = models.digit_data(16)
    with mlflow.start_run() as run:
        logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks="mlflow", log_initial=False)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
        assert mlflow.active_run().info.run_id == run.info.run_id
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        mlflow.log_metric("after", 1.0)
    assert only_run(client, experiment).info.run_id == run.info.run_id
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED" and finished.data.metrics["after"] == 1.0
    assert sorted(read_mlflow_images(client, run.info.run_id, tmp_path)["activations/conv_a"]) == [
        0,
        1,
    ]


def test_a_given_run_id_is_written_to_and_left_running(tmp_path, server, client):
    run_id = client.create_run(client.create_experiment("actlog-given")).info.run_id
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(run_id, tracking_uri=server.uri)
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks=sink, log_initial=False)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    assert client.get_run(run_id).info.status == "RUNNING"
    assert sorted(metric_steps(client, run_id, "dead_filters/conv_a")) == [0]


def test_beside_keras_autologging_one_run_holds_both(tmp_path, client, experiment):
    model = models.sequential()
    x, y = models.digit_data(16)
    mlflow.keras.autolog(log_models=False, silent=True)
    try:
        logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "actlog",
                                         sinks=["tensorboard", "mlflow"])  # fmt: skip
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    finally:
        mlflow.keras.autolog(disable=True)
    assert mlflow.active_run() is None  # autologging ended the run it started around fit
    run = only_run(client, experiment)
    assert run.info.status == "FINISHED"
    assert sorted(metric_steps(client, run.info.run_id, "loss")) == [0, 1]  # autologging's
    assert sorted(metric_steps(client, run.info.run_id, "dead_filters/conv_b")) == [-1, 0, 1]
    images = read_mlflow_images(client, run.info.run_id, tmp_path / "download")
    assert sorted(images["activations/conv_b"]) == [-1, 0, 1]
    assert sorted(event_run_dirs(tmp_path)) == ["actlog"]
    assert not logger.sink_failures


def test_a_stopped_server_mid_run_warns_once_and_tensorboard_keeps_every_step(tmp_path):
    root = tmp_path / "mlflow"
    servers = contextlib.ExitStack()

    class StopAndRestartServer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # after step -1 is in MLflow, before step 0 is captured
                logger.flush()
                server.stop()
            elif epoch == 2:  # back on the same port, with the same store, before step 2
                servers.enter_context(mlflow_server(root, port=int(server.uri.split(":")[-1])))

    model = models.sequential()
    x, y = models.digit_data(16)
    with servers, mlflow_server(root) as server:
        sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-stopped")
        logger = actlog.ActivationLogger(x[:2], layers="conv_a", log_dir=tmp_path / "actlog",
                                         sinks=["tensorboard", sink])  # fmt: skip
        with pytest.warns(RuntimeWarning, match="mlflow sink on") as caught:
            model.fit(x, y, epochs=4, batch_size=8, verbose=0,
                      callbacks=[StopAndRestartServer(), logger])  # fmt: skip
        failed = [w for w in caught if "mlflow sink on" in str(w.message)]
        assert len(failed) == 1 and "cannot be reached" in str(failed[0].message)
        assert not [w for w in caught if "stuck" in str(w.message)]  # nothing waited for MLflow
        assert logger.sink_failures["mlflow"] >= 2
        assert sorted(read_images(tmp_path / "actlog")["activations/conv_a"]) == [-1, 0, 1, 2, 3]
        client = mlflow.MlflowClient(server.uri)
        run = only_run(client, "actlog-stopped")
        assert run.info.status == "FINISHED"
        assert sorted(metric_steps(client, run.info.run_id, "dead_filters/conv_a")) == [-1, 2, 3]
        in_mlflow = read_mlflow_images(client, run.info.run_id, tmp_path / "download")
        assert sorted(in_mlflow["activations/conv_a"]) == [-1, 2, 3]

        # A run the sink made, whose server is gone at train end, is left RUNNING.
        sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-not-ended")
        sink.open()
        servers.close()
        with pytest.raises(ConnectionError, match="was not ended"):
            sink.close()
    store = mlflow.MlflowClient(f"sqlite:///{root / 'db.sqlite'}")  # the server's own store
    assert only_run(store, "actlog-not-ended").info.status == "RUNNING"


def test_an_unreachable_server_fails_at_train_begin_and_starts_nothing(tmp_path):
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(tracking_uri=f"http://127.0.0.1:{free_port()}")
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "actlog",
                                     sinks=["tensorboard", sink])  # fmt: skip
    with pytest.raises(ConnectionError, match="Cannot reach the MLflow tracking server"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    assert not (tmp_path / "actlog").exists()
    bad = actlog.ActivationLogger(x[:2], log_dir=tmp_path / "b",
                                  sinks=actlog.MlflowSink(tracking_uri="http://:80"))  # fmt: skip
    with pytest.raises(ValueError, match="names no host"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[bad])


def test_a_set_up_that_fails_after_the_sink_opened_leaves_no_run(tmp_path, server, client):
    class CannotOpen(actlog.Sink):
        def open(self):
            raise OSError("no room")

        def write_images(self, tag, images, step, captions=None, description=None):
            pass

    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.MlflowSink(tracking_uri=server.uri, experiment_name="actlog-failed-set-up")
    logger = actlog.ActivationLogger(x[:2], sinks=[sink, CannotOpen()])
    with pytest.raises(OSError, match="no room"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    experiment = client.get_experiment_by_name("actlog-failed-set-up").experiment_id
    assert client.search_runs([experiment]) == []  # the run it made is deleted


def test_the_sink_name_mlflow_makes_an_mlflow_sink(tmp_path):
    sinks = actlog.sinks.make_sinks(["tensorboard", "mlflow"], tmp_path)
    assert [type(sink).__name__ for sink in sinks] == ["TensorBoardSink", "MlflowSink"]
    assert sinks[1].name == "mlflow" and sinks[1].run_id is None


def test_the_options_are_params_and_a_later_fit_keeps_them(server, client, caplog):
    caplog.set_level(logging.INFO, logger="actlog")
    run_id = client.create_run(client.create_experiment("actlog-params")).info.run_id
    model = models.sequential()
    x, y = models.digit_data(16)
    for every in (1, 2):  # MLflow refuses to change a param: the second logger's stays out
        sink = actlog.MlflowSink(run_id, tracking_uri=server.uri)
        logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks=sink, report=False,
                                         every_n_epochs=every, verbose=0)  # fmt: skip
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
        assert logger.sink_failures == {}
    params = client.get_run(run_id).data.params
    expected = {f"actlog.{name}": str(value) for name, value in
                actlog.ActivationLogger(x[:2], layers="conv_a", report=False,
                                        verbose=0).options.params().items()}  # fmt: skip
    assert params == expected
    assert params["actlog.every_n_epochs"] == "1" and params["actlog.layers"] == "conv_a"
    assert f"MLflow run {run_id} keeps its params actlog.every_n_epochs='1' (now '2')" in (
        caplog.text)  # fmt: skip
