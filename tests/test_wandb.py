"""WandbSink with real offline wandb runs, read back from the run file."""

import json

import keras
import numpy as np
import pytest
import wandb

import actlog
from actlog.reader import decode_png, read_images
from actlog.runs import event_run_dirs
from tests import models
from tests.viewrun import documents
from tests.wandbread import (
    find_run_dir,
    history_rows,
    media_files,
    metric_definitions,
    run_file,
)


def written_run(root):
    """The run directory and its history rows, once wandb has written everything.

    ``run.finish()`` returns before the offline run file is complete; stopping wandb's service
    process waits for it."""
    wandb.teardown()
    run_dir = find_run_dir(root)
    return run_dir, history_rows(run_file(run_dir))


def test_same_grids_in_tensorboard_and_wandb(tmp_path, wandb_root):
    model = models.sequential()
    x, y = models.digit_data(16)
    sink = actlog.WandbSink(project="actlog-test", dir=str(wandb_root))
    logger = actlog.ActivationLogger(
        (x[:3], y[:3]), log_dir=tmp_path / "actlog", sinks=["tensorboard", sink],
        sample_images=True,
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert wandb.run is None  # the sink started the run, so it finished it

    run_dir, all_rows = written_run(wandb_root)
    tensorboard = read_images(tmp_path / "actlog")
    for path in ("conv_a", "conv_b"):
        tag = f"activations/{path}"
        rows = [row for row in all_rows if tag in row]
        assert [row["actlog/step"] for row in rows] == [actlog.INITIAL_STEP, 0, 1]
        for row in rows:
            media = row[tag]
            assert media["_type"] == "images/separated" and media["count"] == 3
            assert media["captions"] == [f"probe {i}: label {y[i]}" for i in range(3)]
            for sample, file in enumerate(media_files(run_dir, media)):
                pixels = np.asarray(decode_png(file.read_bytes()))
                expected = decode_png(tensorboard[tag][row["actlog/step"]][sample])
                np.testing.assert_array_equal(pixels, expected)
                assert np.ptp(pixels) > 0
    stats_row = next(row for row in all_rows if "dead_filters/conv_a" in row)
    assert 0.0 <= stats_row["dead_filters/conv_a"] <= 1.0
    # the view's documents: one JSON line per event in the run's files, as in TensorBoard
    lines = (run_dir / "files" / "actlog" / "event.jsonl").read_text().splitlines()
    in_tensorboard = documents(tmp_path / "actlog")
    assert [json.loads(line) for line in lines] == [in_tensorboard[s] for s in (-1, 0, 1)]
    assert stats_row["activation_hist/conv_a"]["_type"] == "histogram"
    assert stats_row["dead_filter_list/conv_a"]["_type"] == "table-file"
    bound = {m["name"]: m["step_metric"] for m in metric_definitions(run_file(run_dir))}
    assert bound["activations/conv_a"] == "actlog/step"
    assert bound["dead_filters/conv_a"] == "actlog/step"


def test_uses_the_active_run_and_leaves_it_open(tmp_path, wandb_root):
    run = wandb.init(project="actlog-test", dir=str(wandb_root))
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], layers="conv_a", sinks="wandb", log_initial=False)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert wandb.run is run
    run.log({"after": 1.0})
    run.finish()
    _, rows = written_run(wandb_root)
    assert [row["actlog/step"] for row in rows if "activations/conv_a" in row] == [0, 1]
    assert any(row.get("after") == 1 for row in rows)


def test_beside_keras_tensorboard_and_wandb_metrics_logger(tf, tmp_path, wandb_root, recwarn):
    # Keras's TensorBoard callback and wandb's Keras integration both import TensorFlow.
    from wandb.integration.keras import WandbMetricsLogger

    run = wandb.init(project="actlog-test", dir=str(wandb_root))
    model = models.sequential()
    x, y = models.digit_data(16)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tmp_path)),
        WandbMetricsLogger(),
        actlog.ActivationLogger(
            (x[:2], y[:2]), log_dir=tmp_path / "actlog", sinks=["tensorboard", "wandb"]
        ),
    ]
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x, y),
              callbacks=callbacks)  # fmt: skip
    run.finish()
    run_dir, rows = written_run(wandb_root)
    assert [r["actlog/step"] for r in rows if "activations/conv_b" in r] == [-1, 0, 1, 2]
    assert [r["epoch/epoch"] for r in rows if "epoch/loss" in r] == [0, 1, 2]
    assert sorted(event_run_dirs(tmp_path)) == ["actlog", "train", "validation"]
    debug_log = (run_dir / "logs" / "debug-internal.log").read_text()
    assert "ignoring partial history record" not in debug_log
    assert not [w for w in recwarn if "step" in str(w.message).lower()]


def test_disabled_run_does_no_image_work(tmp_path, wandb_root):
    wandb.init(mode="disabled")
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(x[:2], sinks="wandb")  # the report's scratch run idle too
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.worker_stats.jobs == 0
    assert not list(wandb_root.glob("wandb/*run-*"))


def test_a_wandb_error_mid_run_warns_once_and_tensorboard_goes_on(tmp_path, wandb_root):
    class FinishRunAfterEpoch0(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                wandb.run.finish()  # the user ends the run while actlog still logs to it

    run = wandb.init(project="actlog-test", dir=str(wandb_root))
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        x[:2], layers="conv_a", log_dir=tmp_path, sinks=["tensorboard", actlog.WandbSink(run)]
    )
    with pytest.warns(RuntimeWarning, match="wandb sink failed") as caught:
        model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                  callbacks=[FinishRunAfterEpoch0(), logger])  # fmt: skip
    assert len([w for w in caught if "wandb sink failed" in str(w.message)]) == 1
    assert logger.sink_failures["wandb"] >= 2
    assert sorted(read_images(tmp_path)["activations/conv_a"]) == [-1, 0, 1, 2]
