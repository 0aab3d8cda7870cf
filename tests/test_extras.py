"""What a user without TensorFlow is told: the errors name the ``tensorflow`` extra.

Each check runs in a fresh process where the package is hidden (``sys.modules["tensorflow"] =
None``, which makes every import of it fail as a missing package would), so it holds in every
venv; the TensorFlow-free venvs of ``.ci/run`` run it without the package too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

HIDE_TENSORFLOW = "import sys\nsys.modules['tensorflow'] = None\n"
HINT = 'pip install "actlog[tensorflow]"'


def run_hidden(code: str, backend: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-c", HIDE_TENSORFLOW + textwrap.dedent(code)],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("backend", [None, "tensorflow"])
def test_the_tensorflow_backend_without_tensorflow_names_the_extra(backend):
    done = run_hidden(
        """
        import actlog  # imports no backend
        try:
            actlog.ActivationLogger
        except ImportError as error:
            print(error)
        """,
        backend,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    message = done.stdout.strip()
    assert "Keras runs on the tensorflow backend" in message
    assert HINT in message and "KERAS_BACKEND=jax or KERAS_BACKEND=torch" in message
    assert ("KERAS_BACKEND=tensorflow" in message) == (backend == "tensorflow")
    assert ("KERAS_BACKEND is not set" in message) == (backend is None)


def test_the_command_line_says_it_in_one_line(tmp_path):
    image = tmp_path / "digit.png"
    image.write_bytes(b"")
    done = run_hidden(
        f"""
        from actlog.cli import main
        raise SystemExit(main(["render", {str(tmp_path / "model.keras")!r}, {str(image)!r}]))
        """,
        "tensorflow",
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("actlog: error: Keras runs on the tensorflow backend") and HINT in line


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_url_no_file_system_serves_names_the_extra_before_training(backend):
    done = run_hidden(
        """
        import actlog
        try:
            actlog.TensorBoardSink("nosuchfs://bucket/run").check()
        except ValueError as error:
            print(error)
        print("tensorflow" in sys.modules and sys.modules["tensorflow"] is not None)
        """,
        backend,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    message, imported = done.stdout.strip().splitlines()
    assert message.startswith("Cannot write TensorBoard logs to 'nosuchfs://bucket/run'")
    assert HINT in message and imported == "False"
