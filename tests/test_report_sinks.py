"""At train end the report travels with the run (issue 21): written to ``<log_dir>/report.html``,
logged to an offline W&B run as HTML media and to a real MLflow server as an artifact, which the
server serves and Chromium renders; the train-end line says where. ``report=False`` leaves it
out."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import mlflow
import pytest

import actlog
from actlog.view.report import read_runs
from tests import models
from tests.browser import chromium, page
from tests.mlflowserver import mlflow_server
from tests.viewrun import documents
from tests.wandbread import find_run_dir, history_rows, media_files, run_file

EPOCHS = 3


def fit(tmp_path, sinks, **options):
    x, y = models.digit_data(32)
    model = models.sequential()
    logger = actlog.ActivationLogger((x[:4], y[:4]), log_dir=tmp_path / "logs", sinks=sinks,
                                     on_error="raise", verbose=0, **options)  # fmt: skip
    model.fit(x, y, epochs=EPOCHS, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.sink_failures == {}
    return logger


@pytest.mark.browser
def test_the_report_is_written_and_logged_to_wandb_and_mlflow(tmp_path, wandb_root, caplog):
    import wandb

    caplog.set_level(logging.INFO, logger="actlog")
    with mlflow_server(tmp_path / "mlflow") as server:
        sinks = ["tensorboard", actlog.WandbSink(project="actlog-report", dir=str(wandb_root)),
                 actlog.MlflowSink(tracking_uri=server.uri, experiment_name="report")]  # fmt: skip
        fit(tmp_path, sinks)
        report = tmp_path / "logs" / "report.html"
        html = report.read_bytes()
        (run,) = read_runs(tmp_path / "logs")
        assert sorted(run.documents) == sorted(documents(tmp_path / "logs")) == [-1, 0, 1, 2]

        client = mlflow.MlflowClient(server.uri)
        experiment = client.get_experiment_by_name("report")
        (mlflow_run,) = client.search_runs([experiment.experiment_id])
        run_id = mlflow_run.info.run_id
        assert "actlog/report.html" in [a.path for a in client.list_artifacts(run_id, "actlog")]
        local = client.download_artifacts(run_id, "actlog/report.html", str(tmp_path / "dl"))
        assert Path(local).read_bytes() == html
        # MLflow's artifact viewer fetches an HTML artifact from the server and shows it in an
        # <iframe sandbox="allow-scripts"> of a blob URL (its ShowArtifactHtmlView): the same here
        url = f"{server.uri}/get-artifact?path=actlog/report.html&run_uuid={run_id}"
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url) as answer:
            assert answer.read() == html
        with chromium() as browser, page(browser) as tab:
            tab.goto(f"{server.uri}/health")
            tab.evaluate("""async (url) => {
                const html = await (await fetch(url)).text();
                const frame = document.createElement("iframe");
                frame.sandbox = "allow-scripts";
                frame.style = "width: 1200px; height: 800px";
                frame.src = URL.createObjectURL(new Blob([html], {type: "text/html"}));
                document.body.append(frame);
            }""", url)  # fmt: skip
            frame = tab.frame_locator("iframe")
            frame.locator("body[data-ready=true]").wait_for()
            frame.locator("section.card canvas[data-step='2']").first.wait_for()
            assert frame.locator("section.card").count() == 2
            assert not tab.errors

    line = [r.getMessage() for r in caplog.records if "the view of this run" in r.getMessage()]
    assert line == [f"actlog: the view of this run, one HTML file that opens in any browser: "
                    f"{report} ({len(html) / 1e6:.1f} MB, 4 of 4 steps, "
                    + line[0].split("steps, ")[1].split(")")[0] + "); also in W&B as "
                    "actlog/report and in MLflow as actlog/report.html."]  # fmt: skip

    wandb.teardown()
    run_dir = find_run_dir(wandb_root)
    values = [row["actlog/report"] for row in history_rows(run_file(run_dir))
              if "actlog/report" in row]  # fmt: skip
    assert len(values) == 1 and values[0]["_type"] == "html-file"
    (media,) = media_files(run_dir, values[0])
    assert media.read_bytes() == html  # unchanged: no stylesheet injected


def test_without_tensorboard_the_report_still_reaches_wandb_and_mlflow(
    tmp_path, wandb_root, monkeypatch, caplog
):
    """No TensorBoard sink: the events go to a scratch run (removed at the end) only for the
    report, which W&B and MLflow hold, the same file in both."""
    import tempfile

    import wandb

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact location, ./mlruns
    caplog.set_level(logging.INFO, logger="actlog")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sinks = [actlog.WandbSink(project="actlog-report", dir=str(wandb_root)),
             actlog.MlflowSink(tracking_uri=uri, experiment_name="report")]  # fmt: skip
    logger = fit(tmp_path, sinks)
    assert [sink.name for sink in logger.sinks] == ["wandb", "mlflow"]  # the user's, unchanged
    # the scratch run is gone (wandb and mlflow leave their own temporary files there)
    assert not [path for path in scratch.iterdir() if path.name.startswith("actlog-report-")]
    assert not (tmp_path / "logs").exists()

    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("report").experiment_id])
    html = Path(client.download_artifacts(run.info.run_id, "actlog/report.html",
                                          str(tmp_path / "dl"))).read_bytes()  # fmt: skip
    assert b'id="actlog-data"' in html and len(html) > 10_000
    wandb.teardown()
    run_dir = find_run_dir(wandb_root)
    (value,) = [row["actlog/report"] for row in history_rows(run_file(run_dir))
                if "actlog/report" in row]  # fmt: skip
    (media,) = media_files(run_dir, value)
    assert media.read_bytes() == html
    line = [r.getMessage() for r in caplog.records if "the view of this run" in r.getMessage()]
    assert len(line) == 1 and line[0].startswith(
        "actlog: the view of this run, one HTML file that opens in any browser: in W&B as "
        "actlog/report and in MLflow as actlog/report.html (")  # fmt: skip
    assert "4 of 4 steps" in line[0]


def test_report_false_writes_none_and_a_run_without_a_sink_for_it_says_why(tmp_path, caplog):
    fit(tmp_path, "tensorboard", report=False)
    assert not (tmp_path / "logs" / "report.html").exists()
    caplog.set_level(logging.INFO, logger="actlog")

    class Memory(actlog.Sink):
        name = "memory"

        def write_images(self, tag, images, step, captions=None, description=None):
            pass

    fit(tmp_path / "other", [Memory()])
    assert not (tmp_path / "other" / "logs").exists()
    assert any("no sink keeps it" in r.getMessage() for r in caplog.records)
