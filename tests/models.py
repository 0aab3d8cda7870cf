"""Tiny real Keras models of every kind actlog must handle, shared by the tests."""

from __future__ import annotations

import keras
import numpy as np

import actlog.backend

layers = keras.layers


def host(tensor):
    """A backend tensor (a layer's output called eagerly) as a NumPy array, on any backend."""
    return keras.ops.convert_to_numpy(tensor)


def traces(calls):
    """What ``trace_count`` reads after ``calls`` calls of a function compiled once: 1 where the
    backend compiles (TensorFlow, JAX), ``calls`` on PyTorch, which runs it eagerly."""
    return 1 if actlog.backend.compiles() else calls


def digit_data(n=32, seed=0, shape=(12, 12, 1), classes=3):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, classes, n)
    return x, y


def sequential(with_input=True, shape=(12, 12, 1), classes=3):
    stack = [
        layers.Conv2D(4, 3, activation="relu", name="conv_a"),
        layers.MaxPooling2D(name="pool"),
        layers.Conv2D(6, 3, activation="relu", name="conv_b"),
        layers.Flatten(name="flat"),
        layers.Dense(classes, activation="softmax", name="head"),
    ]
    if with_input:
        stack.insert(0, keras.Input(shape))
    model = keras.Sequential(stack, name="seq")
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def functional_two_inputs(classes=3):
    image = keras.Input((12, 12, 1), name="image")
    extra = keras.Input((3,), name="extra")
    h = layers.Conv2D(4, 3, activation="relu", name="conv_a")(image)
    h = layers.Conv2D(5, 3, padding="same", name="conv_b")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    h = layers.Concatenate(name="concat")([h, extra])
    out = layers.Dense(classes, activation="softmax", name="head")(h)
    model = keras.Model([image, extra], out, name="two_inputs")
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def mobilenet_backbone(size=32):
    return keras.applications.MobileNetV2(
        input_shape=(size, size, 3), weights=None, include_top=False, alpha=0.35
    )


def transfer_sequential(classes=3, size=32):
    """The usual transfer-learning set-up: a keras.applications backbone inside a Sequential."""
    model = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Rescaling(2.0, offset=-1.0, name="rescale"),
            mobilenet_backbone(size),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(classes, activation="softmax", name="head"),
        ],
        name="transfer",
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def small_block(name):
    inner_in = keras.Input((10, 10, 4))
    h = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv")(inner_in)
    return keras.Model(inner_in, h, name=name)


def two_level_nested(classes=3):
    """A Functional model holding a Sequential that holds a Functional block."""
    middle = keras.Sequential(
        [keras.Input((10, 10, 4)), small_block("block"), layers.Conv2D(3, 3, name="mid_conv")],
        name="middle",
    )
    x_in = keras.Input((12, 12, 1), name="x")
    h = layers.Conv2D(4, 3, name="stem")(x_in)
    h = middle(h)
    out = layers.Dense(classes, activation="softmax")(layers.Flatten()(h))
    model = keras.Model(x_in, out, name="outer")
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


class Subclassed(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.conv_a = layers.Conv2D(4, 3, activation="relu", name="conv_a")
        self.conv_b = layers.Conv2D(5, 3, activation="relu", name="conv_b")
        self.flat = layers.Flatten(name="flat")
        self.head = layers.Dense(classes, activation="softmax", name="head")

    def call(self, x, training=False):
        return self.head(self.flat(self.conv_b(self.conv_a(x))))


def subclassed(classes=3):
    model = Subclassed(classes, name="sub")
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def conv1d(classes=3):
    model = keras.Sequential(
        [
            keras.Input((20, 2)),
            layers.Conv1D(3, 3, activation="relu", name="c1"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(classes, activation="softmax"),
        ],
        name="conv1d_model",
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def conv3d(classes=3):
    model = keras.Sequential(
        [
            keras.Input((4, 6, 6, 1)),
            layers.Conv3D(2, 3, activation="relu", name="c3"),
            layers.Flatten(),
            layers.Dense(classes, activation="softmax"),
        ],
        name="conv3d_model",
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model
