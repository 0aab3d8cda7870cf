"""Nothing grows with use: repeated calls leave the user's model graph and the process's memory
flat, and a long run of the callback keeps one trace, its threads and its open files.

Memory is Python's, measured with ``tracemalloc`` (what actlog and Keras allocate in Python:
the 0.1 leak, a node appended to the user's layers at every ``extract``, showed there as 8 MiB
per 500 calls), after a warm-up (first calls fill caches once). The bounds are a few hundred
bytes per call: far below one leaked node or array per call, far above allocator noise.
"""

from __future__ import annotations

import gc
import os
import threading
import tracemalloc

import keras
import matplotlib.pyplot as plt
import pytest

import actlog
from actlog.reader import read_images
from tests import models

# Keras's PyTorch backend warns at every host copy (NumPy 2's ``__array__(copy=...)``), and
# pytest keeps every warning it records: that would read as growth here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def graph_size(model: keras.Model) -> int:
    """Nodes of the model's layers: calling a layer on a symbolic tensor appends one. actlog
    traces each model once, at its first use (:mod:`actlog.graph`); 0.1 traced at every call.
    (``_inbound_nodes`` is private: read here only, to measure that.)"""
    return sum(len(layer._inbound_nodes) for layer in model.layers)


def python_memory() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def growth(calls: int, call, warm_up: int = 50) -> int:
    """Bytes of Python memory still held after ``calls`` more calls, once warmed up."""
    for _ in range(warm_up):
        call()
    before = python_memory()
    for _ in range(calls):
        call()
    return python_memory() - before


@pytest.fixture
def traced():
    tracemalloc.start()
    yield
    tracemalloc.stop()


def test_1000_extract_and_statistics_calls_leave_the_model_and_memory_flat(traced):
    model = models.sequential()
    x = models.digit_data(4)[0]
    actlog.extract(model, x)  # the first use traces the graph once per model (actlog.graph)
    nodes = graph_size(model)
    assert growth(1000, lambda: actlog.extract(model, x)) < 256 * 1024
    assert growth(1000, lambda: actlog.activation_stats(model, x)) < 256 * 1024
    assert graph_size(model) == nodes


def test_repeated_plots_leave_the_model_and_memory_flat(traced):
    """Each plot draws a matplotlib figure (about 0.1 s), so 3 x 40 calls, not 1000: the
    model's part is the same :func:`actlog.extract` tested 1000 times above."""
    model = models.sequential()
    x = models.digit_data(1)[0]
    actlog.extract(model, x)
    nodes = graph_size(model)

    def plots():
        actlog.plot_activations(model, x, max_filters=2, show=False)
        actlog.plot_overlays(model, x, top_k=2, show=False)
        actlog.plot_weights(model, max_filters=2, show=False)
        plt.close("all")

    assert growth(40, plots, warm_up=5) < 256 * 1024
    assert graph_size(model) == nodes


def open_files() -> set[str]:
    fds = "/proc/self/fd"
    return {os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="open files are read in /proc")
def test_a_300_event_run_keeps_one_trace_flat_memory_and_no_thread_or_file(tmp_path, traced):
    model = models.sequential()
    x, y = models.digit_data(8)
    # The filter-health timeline keeps a step per pixel column it can show: with images of at
    # most 64 pixels it stops growing after 64 events, so from event 100 on nothing may grow.
    logger = actlog.ActivationLogger(x[:4], log_dir=tmp_path, weights=True, max_image_size=64,
                                     verbose=0)
    memory = {}

    class Measure(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch in (99, 299):
                logger.flush()
                memory[epoch] = python_memory()

    threads, files = set(threading.enumerate()), open_files()
    model.fit(x, y, epochs=300, batch_size=8, verbose=0, callbacks=[logger, Measure()])

    assert logger.extractor.trace_count == models.traces(301)
    assert memory[299] - memory[99] < 200 * 1024  # 200 events: about 1 KiB each at most
    assert set(threading.enumerate()) == threads
    assert open_files() == files
    steps = read_images(tmp_path)["activations/conv_a"]
    assert sorted(steps) == list(range(-1, 300))
