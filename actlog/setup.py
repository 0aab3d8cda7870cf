"""Setting up a logging run at train begin: the layer choice, the producers, the capture and
its first call, and the one line that tells the user what will be logged.

Everything here runs before any sink is opened or thread started, so a set-up error (a probe
that does not fit, a layer that is not a feature map) raises with nothing left behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import keras

from actlog.backend import collective_forward
from actlog.capture import Capture, Captured
from actlog.choice import Choice, choose_layers
from actlog.extract import FeatureMapError
from actlog.failures import FailurePolicy
from actlog.graph import model_graph
from actlog.layers import LayerRef
from actlog.options import LoggerOptions
from actlog.probe import Probe
from actlog.producers import Producer, Setup, create_producers
from actlog.producers.grids import MAX_SHOWN_SAMPLES
from actlog.records import Params
from actlog.run import LoggingRun
from actlog.sinks import Sink, TensorBoardSink
from actlog.sinks.report_store import ReportStore, report_readers
from actlog.tags import layer_keys
from actlog.view.metadata import MIN_IMAGE_SAMPLES


def build_run(
    options: LoggerOptions,
    model: keras.Model,
    refs: Sequence[LayerRef],
    probe: Probe,
    sinks: Sequence[Sink],
    failures: FailurePolicy,
    epochs: int | None = None,
) -> tuple[LoggingRun, Captured, str]:
    """A logging run ready to start, the first capture of the probe (for step -1), and the
    train-begin line (``epochs``: of the fit, if known).

    Raises:
        ValueError: when the probe cannot run through the model, or a chosen layer's output is
            not a feature map (:class:`actlog.extract.FeatureMapError`).
    """
    graph = model_graph(model)
    if options.layers == "conv":
        choice = choose_layers(graph, refs, options.max_layers)
    else:
        choice = Choice(list(refs), len(refs), "as named")
    keys = layer_keys(model, choice.layers)  # one key per layer, in every producer's tags
    run_dirs = [sink.log_dir for sink in sinks if isinstance(sink, TensorBoardSink)]
    readers = report_readers(list(sinks)) if options.report else []
    store = ReportStore(readers) if readers else None
    setup = Setup(options, model, graph, choice.layers, probe, failures.warn_once, keys,
                  run_dirs[0] if run_dirs else store and store.log_dir,
                  keep_report=store is None)  # fmt: skip
    producers = create_producers(setup)
    # Events alive at once: those queued for the writer, the one it writes, the one captured.
    alive = 0 if collective_forward() else options.max_pending + 2
    capture = Capture(model, [producer.needs() for producer in producers], MAX_SHOWN_SAMPLES,
                      options.max_filters, alive=alive)  # fmt: skip
    try:
        captured = capture(probe.x)
    except FeatureMapError:
        raise
    except Exception as error:
        raise ValueError(
            f"actlog could not run the probe (shape {probe.shapes}) through model {model.name!r} "
            f"({type(error).__name__}: {_gist(error)}). Pass a probe of the shape and dtype the "
            "model takes, with the batch axis first."
        ) from error
    for producer in producers:
        producer.prepare(captured.maps)
    run = LoggingRun([*sinks, *([store] if store else [])], producers, capture, probe.x,
                     failures, options.max_pending)  # fmt: skip
    run.layers = choice.layers
    run.params = Params("actlog", options.params())
    line = train_begin_line(options, choice, producers, bool(run_dirs), epochs)
    return run, captured, line


def _gist(error: Exception) -> str:
    """The line of a Keras or backend error that says what went wrong, without the traced
    frames, argument dumps and terminal colours those messages carry."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split("Arguments received")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    calling = re.search(r"Exception encountered when calling (\S+?)\.?$", text, re.MULTILINE)
    gist = lines[-1] if lines else type(error).__name__
    return f"in {calling.group(1)}: {gist}" if calling and gist != calling.group(0) else gist


def train_begin_line(options: LoggerOptions, choice: Choice, producers: list[Producer],
                     tensorboard: bool = True, epochs: int | None = None) -> str:  # fmt: skip
    """What will be logged, how to ask for more, how big it gets, and (with a TensorBoard
    sink) where to look; for a fit of more events than TensorBoard keeps with actlog
    installed, how to keep them all."""
    names = [ref.path for ref in choice.layers]
    shown = ", ".join(names[:6]) + (f", ... ({len(names) - 6} more)" if len(names) > 6 else "")
    kind = "conv layers" if options.layers == "conv" else "layers"
    what = f"actlog: logging {len(names)} of {choice.total} {kind} ({choice.how}: {shown})"
    if choice.reduced:
        what += "; max_layers=None logs every one"
    images = sum(producer.image_count() for producer in producers)
    per_100 = options.max_event_mb * 100 / options.every_n_epochs
    look = (' In TensorBoard: the "actlog" tab, or Images with "Show actual image size" for '
            "the grids at 1:1." if tensorboard else "")  # fmt: skip
    events = None if epochs is None else epochs // options.every_n_epochs + 1
    if tensorboard and events is not None and events > MIN_IMAGE_SAMPLES:
        look += (f" This fit logs {events:,} events; TensorBoard keeps {MIN_IMAGE_SAMPLES} per "
                 "image tag (a random sample of the rest): start it with --samples_per_plugin "
                 "images=0 to keep every one.")  # fmt: skip
    return (
        f"{what}. At most {options.max_event_mb:g} MB per event ({images} images; raise "
        f"max_event_mb for larger ones), {per_100:,.0f} MB per 100 epochs.{look}"
    )


def say(line: str, verbose: int, log: Callable[[str], None]) -> None:
    """Prints ``line`` as Keras's callbacks print (when ``verbose`` and Keras's interactive
    logging is on), and logs it."""
    if verbose and keras.config.is_interactive_logging_enabled():
        print(line, flush=True)
    log(line)
