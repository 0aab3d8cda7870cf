"""The demo script, run as a user would (shortened to one epoch)."""

import train_example
from actlog.reader import decode_png, read_images
from actlog.runs import event_run_dirs


def test_demo_trains_and_logs_beside_keras(tmp_path, capsys):
    status = train_example.main(
        ["--epochs", "1", "--dataset", "synthetic", "--log-dir", str(tmp_path), "--probe-size", "3"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "Dataset: synthetic" in out
    assert f"tensorboard --logdir {tmp_path}" in out
    assert sorted(event_run_dirs(tmp_path)) == ["actlog", "keras/train", "keras/validation"]
    images = read_images(tmp_path / "actlog")
    assert sorted(images) == [
        f"{kind}/{layer}"
        for kind in ("activations", "maximized", "overlays", "weights")
        for layer in ("conv2d", "conv2d_1")
    ]
    assert sorted(images["activations/conv2d_1"]) == [-1, 0]
    assert sorted(images["maximized/conv2d_1"]) == [-1]  # then every 5 epochs
    assert (tmp_path / "actlog" / "animations" / "conv2d_1.gif").is_file()
    # 64 maps of 11x11, upscaled x2, in an 8x8 grid with separators.
    assert decode_png(images["activations/conv2d_1"][0][2]).shape[:2] == (183, 183)
