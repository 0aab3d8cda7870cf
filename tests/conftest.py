"""Shared fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest


@pytest.fixture
def wandb_root(tmp_path, monkeypatch):
    """An offline, quiet wandb writing under a fresh directory; torn down afterwards."""
    import wandb  # only the tests that write W&B runs need wandb

    from tests.wandbread import offline_env

    root = tmp_path / "wandb_root"
    root.mkdir()
    offline_env(monkeypatch, root)
    yield root
    if wandb.run is not None:
        wandb.run.finish()
    wandb.teardown()


@pytest.fixture(scope="session")
def tf():
    """The TensorFlow package, for tests that use it on any Keras backend (``tf.data`` probes,
    ``tf.summary`` files). Such tests are marked ``tf_package`` (below), which the
    TensorFlow-free venvs of ``.ci/run`` deselect."""
    import tensorflow

    return tensorflow


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tf" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.tf_package)
