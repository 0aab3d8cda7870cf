"""Shared fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from tests.wandbread import offline_env


@pytest.fixture
def wandb_root(tmp_path, monkeypatch):
    """An offline, quiet wandb writing under a fresh directory; torn down afterwards."""
    import wandb

    root = tmp_path / "wandb_root"
    root.mkdir()
    offline_env(monkeypatch, root)
    yield root
    if wandb.run is not None:
        wandb.run.finish()
    wandb.teardown()
