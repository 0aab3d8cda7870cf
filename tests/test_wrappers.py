"""Models trained through a wrapper, as keras-io writes them: a Distiller(student, teacher)
whose call runs the student, a GAN(discriminator, generator) with no call and its own
train_step, a VAE(encoder, decoder). The logger reads every sub-model that takes the probe,
each through itself, from train begin; model= pins one."""

import keras
import numpy as np
import pytest

import actlog
from actlog.probe import make_probe
from actlog.reader import read_images
from actlog.targets import watched_model

layers = keras.layers
LATENT = 16


def convnet(name, filters):
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        layers.Conv2D(filters, 3, activation="relu", name=f"{name}_conv_a"),
        layers.MaxPooling2D(),
        layers.Conv2D(filters, 3, activation="relu", name=f"{name}_conv_b"),
        layers.Flatten(), layers.Dense(3),
    ], name=name)  # fmt: skip


class Distiller(keras.Model):
    """keras-io's knowledge distillation (Keras 3: backend-agnostic compute_loss)."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student, self.teacher = student, teacher

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher = self.teacher(x, training=False)
        hard = keras.losses.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        soft = keras.losses.kl_divergence(keras.ops.softmax(teacher / 3.0),
                                          keras.ops.softmax(y_pred / 3.0)) * 9.0  # fmt: skip
        return keras.ops.mean(0.1 * hard + 0.9 * soft)

    def call(self, x):
        return self.student(x)


def generator():
    return keras.Sequential([
        keras.Input((LATENT,)), layers.Dense(3 * 3 * 8), layers.Reshape((3, 3, 8)),
        layers.Conv2DTranspose(8, 4, strides=2, padding="same", activation="relu",
                               name="gen_up_a"),
        layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation="relu",
                               name="gen_up_b"),
        layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="gen_out"),
    ], name="generator")  # fmt: skip


def discriminator():
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        layers.Conv2D(4, 3, strides=2, padding="same", name="disc_conv_a"), layers.LeakyReLU(),
        layers.Conv2D(8, 3, strides=2, padding="same", name="disc_conv_b"), layers.LeakyReLU(),
        layers.Flatten(), layers.Dense(1),
    ], name="discriminator")  # fmt: skip


class GAN(keras.Model):
    """keras-io's DCGAN: no call(); its own train_step (TensorFlow's GradientTape there)."""

    def __init__(self, discriminator, generator):
        super().__init__()
        self.discriminator, self.generator = discriminator, generator

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def train_step(self, real):
        import tensorflow as tf

        batch = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((batch, LATENT)))
        images = tf.concat([fake, real], axis=0)
        labels = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images))
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights, strict=True))
        with tf.GradientTape() as tape:
            fooled = self.discriminator(self.generator(tf.random.normal((batch, LATENT))))
            g_loss = self.loss_fn(tf.zeros((batch, 1)), fooled)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}


def digits(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 12, 12, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_a_distiller_logs_its_student_and_its_frozen_teacher_from_train_begin(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    teacher = convnet("teacher", 6)
    teacher.trainable = False
    distiller = Distiller(convnet("student", 4), teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    x, y = digits()
    logger = actlog.ActivationLogger((x[:3], y[:3]), log_dir=tmp_path, stats=False)
    distiller.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.layer_paths == ["student/student_conv_a", "student/student_conv_b",
                                  "teacher/teacher_conv_a", "teacher/teacher_conv_b"]
    assert "actlog: logging 4 of 4 conv layers" in capsys.readouterr().out
    images = read_images(tmp_path)
    for path in logger.layer_paths:
        steps = images[f"activations/{path}"]
        assert sorted(steps) == [-1, 0, 1]
        pngs = {step: steps[step][0] for step in steps}
        if path.startswith("teacher/"):  # frozen: the same pixels at every step
            assert pngs[-1] == pngs[0] == pngs[1], path
        else:
            assert pngs[-1] != pngs[1], path


@pytest.mark.tensorflow
def test_a_gan_fit_logs_the_generator_for_a_latent_probe(tmp_path):
    keras.utils.set_random_seed(0)
    gan = GAN(discriminator(), generator())
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    x, _ = digits()
    latent = np.random.default_rng(1).normal(size=(4, LATENT)).astype(np.float32)
    logger = actlog.ActivationLogger(latent, log_dir=tmp_path, stats=False, verbose=0)
    gan.fit(x, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.layer_paths == ["generator/gen_up_a", "generator/gen_up_b", "generator/gen_out"]
    steps = read_images(tmp_path)["activations/generator/gen_up_b"]
    assert sorted(steps) == [-1, 0, 1] and steps[-1] != steps[1]


@pytest.mark.parametrize(("probe_shape", "read"), [
    ((4, LATENT), ["generator/gen_up_a", "generator/gen_up_b", "generator/gen_out"]),
    ((4, 12, 12, 1), ["discriminator/disc_conv_a", "discriminator/disc_conv_b"]),
])  # fmt: skip
def test_a_gan_is_read_through_the_sub_model_that_takes_the_probe(probe_shape, read, tmp_path):
    """No call() and no fit needed: the sub-models are built, so it is all known at train
    begin, on every backend."""
    keras.utils.set_random_seed(0)
    gan = GAN(discriminator(), generator())
    probe = np.random.default_rng(1).random(probe_shape, dtype=np.float32)
    logger = actlog.ActivationLogger(probe, log_dir=tmp_path, stats=False, verbose=0)
    logger.set_model(gan)
    logger.on_train_begin()
    assert logger.layer_paths == read
    kernel = gan.generator.get_layer("gen_up_b").kernel
    kernel.assign(kernel * 2.0)
    gan.discriminator.get_layer("disc_conv_b").kernel.assign(
        gan.discriminator.get_layer("disc_conv_b").kernel * -1.0)  # fmt: skip
    logger.on_epoch_end(0)
    logger.on_train_end()
    maps = actlog.extract(watched_model(gan, make_probe(probe)), probe)
    assert sorted(maps) == sorted(read)
    images = read_images(tmp_path)
    assert all(sorted(images[f"activations/{path}"]) == [-1, 0] for path in read)


def test_model_pins_one_sub_model_and_a_wrong_pin_or_probe_says_what_there_is(tmp_path):
    gan = GAN(discriminator(), generator())
    probe = np.zeros((2, 12, 12, 1), np.float32)
    for pin in ("discriminator", gan.discriminator):
        logger = actlog.ActivationLogger(probe, log_dir=tmp_path / "pin", model=pin, verbose=0)
        logger.set_model(gan)
        logger.on_train_begin()
        assert logger.layer_paths == ["discriminator/disc_conv_a", "discriminator/disc_conv_b"]
        logger.on_train_end()
    logger = actlog.ActivationLogger(probe, log_dir=tmp_path / "bad", model="critic")
    logger.set_model(gan)
    with pytest.raises(ValueError, match=r"model='critic' is not a sub-model of .*"
                       r"\['discriminator', 'generator'\]"):  # fmt: skip
        logger.on_train_begin()
    logger = actlog.ActivationLogger(np.zeros((2, 7), np.float32), log_dir=tmp_path / "none")
    logger.set_model(gan)
    with pytest.raises(ValueError, match=r"No sub-model of .* accepts the probe of shape "
                       r"\(2, 7\): 'discriminator' takes \(None, 12, 12, 1\); 'generator' "
                       r"takes \(None, 16\)"):  # fmt: skip
        logger.on_train_begin()
    assert not (tmp_path / "bad").exists() and not (tmp_path / "none").exists()
    with pytest.raises(TypeError, match="model must be a sub-model"):
        actlog.ActivationLogger(probe, model=3)


def encoder_decoder():
    """keras-io's VAE parts: an encoder of two outputs (mean, log-variance) and a decoder."""
    inputs = keras.Input((12, 12, 1))
    h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="enc_conv")(inputs)
    h = layers.Flatten()(h)
    encoder = keras.Model(inputs, [layers.Dense(2)(h), layers.Dense(2)(h)], name="encoder")
    latent = keras.Input((2,))
    d = layers.Reshape((6, 6, 1))(layers.Dense(36, activation="relu")(latent))
    d = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid",
                               name="dec_up")(d)  # fmt: skip
    return encoder, keras.Model(latent, d, name="decoder")


class VAE(keras.Model):
    """keras-io's VAE: no call(); its own train_step (TensorFlow's GradientTape there)."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            mean, log_var = self.encoder(data)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            loss = tf.reduce_mean((self.decoder(z) - data) ** 2) + 1e-3 * tf.reduce_mean(
                -0.5 * (1 + log_var - mean**2 - tf.exp(log_var)))  # fmt: skip
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return {"loss": loss}


@pytest.mark.tensorflow
def test_a_vae_fit_logs_its_encoder_for_an_image_probe(tmp_path):
    vae = VAE(*encoder_decoder())
    vae.compile(keras.optimizers.Adam(1e-2))
    x, _ = digits()
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, stats=False, verbose=0)
    vae.fit(x, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.layer_paths == ["encoder/enc_conv"]
    assert sorted(read_images(tmp_path)["activations/encoder/enc_conv"]) == [-1, 0, 1]


@pytest.mark.parametrize(("probe_shape", "read"), [
    ((2, 12, 12, 1), ["encoder/enc_conv"]), ((2, 2), ["decoder/dec_up"])])  # fmt: skip
def test_a_vae_is_read_through_its_encoder_or_its_decoder(probe_shape, read, tmp_path):
    vae = VAE(*encoder_decoder())
    probe = np.random.default_rng(0).random(probe_shape, dtype=np.float32)
    logger = actlog.ActivationLogger(probe, log_dir=tmp_path, stats=False, verbose=0)
    logger.set_model(vae)
    logger.on_train_begin()
    logger.on_epoch_end(0)
    logger.on_train_end()
    assert logger.layer_paths == read
    assert sorted(read_images(tmp_path)[f"activations/{read[0]}"]) == [-1, 0]


def test_a_subclassed_model_with_a_backbone_and_its_own_convs_is_read_through_its_call(tmp_path):
    """Not a wrapper: a subclassed transfer model (a backbone and a conv of its own) is read
    through its call once built, every conv layer, the backbone's included."""

    class Transfer(keras.Model):
        def __init__(self):
            super().__init__()
            self.backbone = convnet("backbone", 4)
            self.own = layers.Conv2D(1, 3, padding="same", activation="relu", name="own_conv")

        def call(self, x):
            return self.backbone(self.own(x))

    model = Transfer()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = digits()
    logger = actlog.ActivationLogger(x[:2], log_dir=tmp_path, stats=False, verbose=0)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    # in the order Keras tracks the attributes: the backbone was assigned first
    assert logger.layer_paths == ["backbone/backbone_conv_a", "backbone/backbone_conv_b",
                                  "own_conv"]
