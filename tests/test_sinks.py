"""Sinks on their own: PNG encoding, the TensorBoard sink read back, sink names."""

import io

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

import actlog
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
