"""Sinks on their own: PNG encoding, the TensorBoard sink read back (its directory deleted or
replaced mid-run, its destination checked), sink names and how failures tell sinks apart."""

import io
import logging
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
from actlog.failures import FailurePolicy
from actlog.reader import decode_png, read_images, read_scalars
from actlog.sinks import make_sinks
from actlog.sinks.png import encode_png


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (6, 3, 3), (4, 4, 4)])
def test_png_round_trip(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(pixels))))
    np.testing.assert_array_equal(decoded, pixels.reshape(decoded.shape))


def test_png_rejects_floats_and_two_channels():
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="channels"):
        encode_png(np.zeros((2, 2, 2), np.uint8))


def test_tensorboard_sink_round_trip(tmp_path):
    sink = actlog.TensorBoardSink(tmp_path)
    sink.open()
    images = np.random.default_rng(1).integers(0, 256, (5, 9, 11, 3), dtype=np.uint8)
    sink.write_images("activations/x", images, step=-1, captions=["a", "b", "c", "d", "e"])
    sink.write_scalar("dead_filters/x", 0.25, step=-1)
    sink.write_histogram("activation_hist/x", np.arange(100.0), step=-1)
    sink.write_table("dead_filter_list/x", ["filter", "dead since step"], [[3, -1]], step=-1)
    sink.close()
    pngs = read_images(tmp_path)["activations/x"][-1]
    assert len(pngs) == 5  # all kept, not TensorBoard's default 3
    for png, expected in zip(pngs, images, strict=True):
        np.testing.assert_array_equal(decode_png(png), expected)
    assert read_scalars(tmp_path)["dead_filters/x"][-1] == pytest.approx(0.25)
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert "activation_hist/x" in accumulator.PluginTagToContent("histograms")
    text = accumulator.Tensors("dead_filter_list/x")[0].tensor_proto.string_val[0].decode()
    assert "filter | dead since step" in text and "3 | -1" in text


def test_sink_names_and_errors(tmp_path):
    sinks = make_sinks(["tensorboard", actlog.TensorBoardSink(tmp_path / "b")], tmp_path / "a")
    assert [type(s).__name__ for s in sinks] == ["TensorBoardSink", "TensorBoardSink"]
    assert sinks[0].log_dir == str(tmp_path / "a")
    with pytest.raises(ValueError, match="Unknown sink 'tensorbord'"):
        make_sinks(["tensorbord"], tmp_path)
    with pytest.raises(ValueError, match="empty"):
        make_sinks([], tmp_path)
    with pytest.raises(TypeError):
        make_sinks([3], tmp_path)


def test_a_tensorboard_sink_check_leaves_nothing_and_the_first_write_makes_the_directory(
    tmp_path,
):
    sink = actlog.TensorBoardSink(tmp_path / "new" / "run")
    sink.check()
    sink.open()
    assert list(tmp_path.iterdir()) == []  # checked, with nothing left: not even "new"
    sink.write_scalar("s", 1.0, step=0)
    sink.close()
    assert read_scalars(tmp_path / "new" / "run")["s"] == {0: 1.0}
    (tmp_path / "file").write_text("")
    with pytest.raises(PermissionError, match="Cannot write TensorBoard logs"):
        actlog.TensorBoardSink(tmp_path / "file" / "run").check()


def test_a_tensorboard_sink_recreates_its_deleted_or_replaced_directory(tmp_path, caplog):
    run = tmp_path / "run"
    sink = actlog.TensorBoardSink(run)
    sink.write_scalar("s", 0.0, step=0)
    sink.write_scalar("s", 1.0, step=1)
    sink.flush()
    shutil.rmtree(run)
    # The first record after a flush is checked, even at the same step (final records).
    deleted = re.escape(f"'{run}' was deleted during the run; actlog recreated it")
    with pytest.warns(RuntimeWarning, match=deleted) as caught:
        sink.write_scalar("t", 1.0, step=1)
    assert "events written before (steps 0 to 1) are lost" in str(caught[0].message)
    sink.write_scalar("s", 2.0, step=2)  # a new step is checked without a flush too
    run.rename(tmp_path / "old")
    run.mkdir()
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, "actlog"):
        warnings.simplefilter("error")  # once per sink; the second time is logged
        sink.write_scalar("s", 3.0, step=3)
    assert f"'{run}' was replaced" in caplog.text and "(steps 1 to 2)" in caplog.text
    sink.close()
    assert read_scalars(tmp_path / "old") == {"t": {1: 1.0}, "s": {2: 2.0}}
    assert read_scalars(run) == {"s": {3: 3.0}}


class NamedSink(actlog.Sink):
    def __init__(self, name):
        self.name = name

    def write_images(self, tag, images, step, captions=None, description=None):
        pass


def test_failure_keys_tell_sinks_of_one_name_apart():
    policy = FailurePolicy()
    alone = actlog.TensorBoardSink("logs/a")
    assert policy.label(alone) == "tensorboard"
    assert policy.describe(alone) == "the tensorboard sink on 'logs/a'"
    b, a_again, w1, w2 = (actlog.TensorBoardSink("logs/b"), actlog.TensorBoardSink("logs/a"),
                          NamedSink("wandb"), NamedSink("wandb"))  # fmt: skip
    policy.add_sinks([alone, b, w1, w2])
    assert [policy.label(s) for s in (alone, b, w1, w2)] == [
        "tensorboard:logs/a", "tensorboard:logs/b", "wandb#1", "wandb#2"
    ]  # fmt: skip
    assert policy.describe(w2) == "the wandb sink #2"
    policy.add_sinks([a_again])  # the same directory twice: told apart by place
    assert [policy.label(s) for s in (alone, b, a_again)] == [
        "tensorboard#1", "tensorboard:logs/b", "tensorboard#3"
    ]  # fmt: skip


@pytest.mark.parametrize("extra, sink", [("wandb", "WandbSink"), ("mlflow", "MlflowSink")])
def test_a_missing_extra_is_an_import_error_naming_it(extra, sink):
    """Without the package (hidden from a fresh interpreter), the sink object and the sink
    name each raise an ImportError that says which extra to install."""
    code = (
        f"import sys; sys.modules[{extra!r}] = None\n"
        "import actlog, numpy as np\n"
        f"for make in (lambda: actlog.{sink}(),\n"
        f"             lambda: actlog.ActivationLogger(np.zeros((1, 4, 4, 1)), sinks={extra!r})):\n"
        "    try:\n"
        "        make()\n"
        "    except ImportError as error:\n"
        "        print('ImportError:', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("ImportError")]
    assert len(lines) == 2
    assert all(f'pip install "actlog[{extra}]"' in line for line in lines)
