"""animate=True: a GIF per layer at train end, beside the run and in W&B."""

from PIL import Image

import actlog
from tests import models
from tests.test_wandb import written_run


def test_train_end_writes_one_gif_per_layer_with_a_frame_per_epoch(tmp_path, wandb_root):
    model = models.sequential()
    x, y = models.digit_data(16)
    logger = actlog.ActivationLogger(
        (x[:2], y[:2]),
        log_dir=tmp_path / "actlog",
        sinks=["tensorboard", actlog.WandbSink(project="actlog-test", dir=str(wandb_root))],
        animate=True,
    )
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[logger])
    for layer in ("conv_a", "conv_b"):
        with Image.open(tmp_path / "actlog" / "animations" / f"{layer}.gif") as gif:
            assert gif.n_frames == 4  # steps -1, 0, 1, 2
    _, rows = written_run(wandb_root)
    videos = [row["animations/conv_a"] for row in rows if "animations/conv_a" in row]
    assert len(videos) == 1 and videos[0]["_type"] == "video-file"
    assert videos[0]["path"].endswith(".gif")
