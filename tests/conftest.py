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
