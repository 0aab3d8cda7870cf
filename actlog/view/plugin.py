"""The actlog tab of TensorBoard: a plugin that reads what actlog wrote through TensorBoard's data
provider and serves the view's frontend (``static/``, plain ES modules, served as shipped).

Registered through the ``tensorboard_plugins`` entry point (``actlog.view.plugin:ActlogLoader``),
so ``tensorboard --logdir logs`` shows an "actlog" tab for runs that hold actlog's documents
(:mod:`actlog.view.metadata`); for other log directories the tab stays inactive. Neither
TensorFlow nor Keras is imported.

TensorBoard keeps 10 images per tag unless told otherwise; the view shows every logged step, so
the loader raises ``--samples_per_plugin`` to at least :data:`MIN_IMAGE_SAMPLES` images per tag
(0, all, stays all) and keeps every document.

Routes, under ``/data/plugin/actlog/``:

* ``runs``: the runs with actlog data, ``[{"run", "last_step"}]``;
* ``run?run=R``: the run at a glance (:meth:`actlog.view.data.RunIndex.overview`);
* ``filters?run=R&layer=P``: a layer's per-filter numbers over the steps;
* ``filter?run=R&layer=P&filter=K``: one filter's numbers over the steps;
* ``image?run=R&tag=T&step=S[&index=I]``: a logged image, PNG;
* ``filmstrip?run=R&layer=P&filter=K[&sample=S][&kind=activations|weights|maximized]``: the
  filter's tile at every logged step, ``{"steps", "height", "width", "cols", "png"}`` (a data
  URL);
* ``static/<file>``: the frontend.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from actlog.tags import layer_tag
from actlog.view import data, tiles
from actlog.view.metadata import EVENT_TAG, MIN_IMAGE_SAMPLES, PLUGIN_NAME

logger = logging.getLogger(__name__)

#: The plugin of TensorBoard's image summaries, which actlog's grids are.
IMAGES_PLUGIN = "images"
#: Downsampling asked of the data provider: none (what it keeps is what was sampled above).
_ALL = 1 << 30
#: Image kinds whose tiles are one per filter, for filmstrips, and where their layout is.
_TILED = {"activations": "grid", "weights": "weights", "maximized": "maximized"}
_STATIC = resources.files("actlog.view") / "static"
#: Reads and decodes the grids of a filmstrip side by side.
_READERS = ThreadPoolExecutor(8, thread_name_prefix="actlog-view")


class BadRequest(ValueError):
    """A request the plugin cannot answer: answered 400 with the reason."""


class NotFound(KeyError):
    """A run, layer, tag or step that is not there: answered 404."""


class ActlogPlugin(base_plugin.TBPlugin):
    """The actlog tab. Built by :class:`ActlogLoader` from TensorBoard's plugin context.

    Example:
        ```python
        plugin = ActlogPlugin(context)  # what TensorBoard does with the loader
        plugin.get_plugin_apps()["/run"]  # a WSGI app
        ```
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._provider = context.data_provider
        self._indexes: dict[tuple[str, str], data.RunIndex] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._grids = tiles.GridCache()

    def get_plugin_apps(self) -> dict[str, Callable[..., Any]]:
        routes = {"/runs": self._runs, "/run": self._run, "/filters": self._filters,
                  "/filter": self._filter, "/image": self._image,
                  "/filmstrip": self._filmstrip}  # fmt: skip
        apps: dict[str, Callable[..., Any]] = {f"{path}": _app(fn) for path, fn in routes.items()}
        apps["/static/*"] = self._static
        return apps

    def is_active(self) -> bool:
        return False  # active exactly where there is data of this plugin (data_plugin_names)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="actlog")

    # --- routes -----------------------------------------------------------------------------

    def _runs(self, ctx: Any, experiment: str, args: Any) -> list[dict[str, Any]]:
        listing = self._provider.list_tensors(ctx, experiment_id=experiment,
                                              plugin_name=PLUGIN_NAME)  # fmt: skip
        runs = [{"run": run, "last_step": tags[EVENT_TAG].max_step}
                for run, tags in listing.items() if EVENT_TAG in tags]  # fmt: skip
        return sorted(runs, key=lambda entry: entry["run"])

    def _run(self, ctx: Any, experiment: str, args: Any) -> dict[str, Any]:
        run = _arg(args, "run")
        index = self._index(ctx, experiment, run, refresh=True)
        return {"run": run, **index.overview()}

    def _filters(self, ctx: Any, experiment: str, args: Any) -> dict[str, Any]:
        index = self._index(ctx, experiment, _arg(args, "run"))
        layer = _arg(args, "layer")
        try:
            return index.filters(layer)
        except KeyError:
            raise NotFound(f"no layer {layer!r} in this run") from None

    def _filter(self, ctx: Any, experiment: str, args: Any) -> dict[str, Any]:
        index = self._index(ctx, experiment, _arg(args, "run"))
        layer, filter_index = _arg(args, "layer"), _int(args, "filter")
        try:
            return index.filter(layer, filter_index)
        except KeyError:
            raise NotFound(f"no layer {layer!r} in this run") from None
        except IndexError as error:
            raise NotFound(str(error)) from None

    def _image(self, ctx: Any, experiment: str, args: Any) -> bytes:
        index = self._index(ctx, experiment, _arg(args, "run"))
        return self._png(ctx, index, _arg(args, "tag"), _int(args, "step"), _int(args, "index", 0))

    def _filmstrip(self, ctx: Any, experiment: str, args: Any) -> dict[str, Any]:
        run, layer = _arg(args, "run"), _arg(args, "layer")
        index = self._index(ctx, experiment, run)
        kind = args.get("kind", "activations")
        if kind not in _TILED:
            raise BadRequest(f"kind must be one of {sorted(_TILED)}; got {kind!r}")
        sample = _int(args, "sample", 0) if kind == "activations" else 0
        filter_index = _int(args, "filter")
        source = _TILED[kind]
        wanted = []  # (step, blob key, layout) of each grid holding the tile
        for step in index.steps:
            at = index.layer_at(layer, step)
            if at is None:
                continue
            info = at.info
            layout = info.get("grid") if source == "grid" else info.get("layouts", {}).get(source)
            keys = index.image(layer_tag(kind, info.get("key", layer)), step)
            if layout is None or keys is None:
                continue
            try:
                image = tiles.sample_box(layout, sample)[0]
            except IndexError:
                continue
            if image < len(keys):
                wanted.append((step, keys[image], layout))

        def grid(job: tuple[int, str, Any]) -> tuple[int, Any, Any]:
            step, key, layout = job
            return step, self._grids.get((run, key, sample), lambda: tiles.cut_grid(
                self._provider.read_blob(ctx, blob_key=key), layout, sample)), layout  # fmt: skip

        # One blob at a time costs a round trip each through the Rust data server (~40 ms).
        frames = list(_READERS.map(grid, wanted))
        strip = tiles.filmstrip(frames, filter_index)
        png = base64.b64encode(strip.image).decode()
        return {"steps": strip.steps, "height": strip.height, "width": strip.width,
                "cols": strip.cols, "png": f"data:image/png;base64,{png}"}  # fmt: skip

    @wrappers.Request.application
    def _static(self, request: wrappers.Request) -> wrappers.Response:
        name = request.path.rsplit("/static/", 1)[-1]
        files = {entry.name: entry for entry in _STATIC.iterdir() if entry.is_file()}
        if name not in files:  # only the files shipped, by name: no path reaches further
            return http_util.Respond(request, f"not found: {name}", "text/plain", code=404)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            kind = "text/javascript"
        return http_util.Respond(request, files[name].read_bytes(), kind)

    # --- data -------------------------------------------------------------------------------

    def _index(self, ctx: Any, experiment: str, run: str, refresh: bool = False
               ) -> data.RunIndex:  # fmt: skip
        """The run's index, brought up to date with what the data provider holds now when
        ``refresh`` or the first time (only documents not seen before are parsed)."""
        key = (experiment, run)
        with self._lock:
            index = self._indexes.get(key)
            lock = self._locks.setdefault(key, threading.Lock())
        if index is not None and not refresh:
            return index
        with lock:
            index = self._indexes.get(key) or data.RunIndex()
            only = provider.RunTagFilter(runs=[run], tags=[EVENT_TAG])
            documents = self._provider.read_tensors(
                ctx, experiment_id=experiment, plugin_name=PLUGIN_NAME, downsample=_ALL,
                run_tag_filter=only,
            ).get(run, {}).get(EVENT_TAG, [])  # fmt: skip
            if not documents and key not in self._indexes:
                raise NotFound(f"no actlog data in run {run!r}")
            for datum in documents:
                if not index.has(datum.step, datum.wall_time):
                    index.add(datum.step, datum.numpy.item(), datum.wall_time)
            images = self._provider.read_blob_sequences(
                ctx, experiment_id=experiment, plugin_name=IMAGES_PLUGIN, downsample=_ALL,
                run_tag_filter=provider.RunTagFilter(runs=[run]),
            ).get(run, {})  # fmt: skip
            index.set_images({
                tag: {datum.step: tuple(ref.blob_key for ref in datum.values[2:])
                      for datum in series}
                for tag, series in images.items()
            })  # fmt: skip
            with self._lock:
                self._indexes[key] = index
        return index

    def _png(self, ctx: Any, index: data.RunIndex, tag: str, step: int, image: int) -> bytes:
        keys = index.image(tag, step)
        if keys is None or not 0 <= image < len(keys):
            raise NotFound(f"no image {image} of {tag!r} at step {step}")
        return self._provider.read_blob(ctx, blob_key=keys[image])


class ActlogLoader(base_plugin.TBLoader):
    """Loads :class:`ActlogPlugin`, after making TensorBoard keep every step the view shows:
    all of actlog's documents, and at least :data:`MIN_IMAGE_SAMPLES` images per tag."""

    def fix_flags(self, flags: Any) -> None:
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, str):  # given to TensorBoard.configure(samples_per_plugin=...)
            samples = dict(pair.split("=") for pair in samples.split(",") if pair)
            samples = {name.strip(): int(count) for name, count in samples.items()}
        samples = dict(samples or {})
        samples[PLUGIN_NAME] = 0
        asked = samples.get(IMAGES_PLUGIN)
        if asked != 0 and (asked or 0) < MIN_IMAGE_SAMPLES:
            if asked is not None:
                logger.warning(
                    "actlog: keeping %d images per tag rather than the %d asked "
                    "(--samples_per_plugin), so that the actlog tab shows every step.",
                    MIN_IMAGE_SAMPLES, asked,
                )  # fmt: skip
            samples[IMAGES_PLUGIN] = MIN_IMAGE_SAMPLES
        flags.samples_per_plugin = samples

    def load(self, context: base_plugin.TBContext) -> ActlogPlugin:
        return ActlogPlugin(context)


def _app(route: Callable[[Any, str, Any], Any]) -> Callable[..., Any]:
    """A WSGI app of ``route(ctx, experiment, args)``: bytes are served as PNG, anything else
    as JSON; :class:`BadRequest` and :class:`NotFound` as 400 and 404 with their reason."""

    @wrappers.Request.application
    def app(request: wrappers.Request) -> wrappers.Response:
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        try:
            body = route(ctx, experiment, request.args)
        except BadRequest as error:
            return http_util.Respond(request, str(error), "text/plain", code=400)
        except NotFound as error:
            return http_util.Respond(request, str(error.args[0]), "text/plain", code=404)
        if isinstance(body, bytes):
            return http_util.Respond(request, body, "image/png")
        return http_util.Respond(request, json.dumps(body, allow_nan=False), "application/json")

    return app


def _arg(args: Any, name: str) -> str:
    value = args.get(name)
    if value is None:
        raise BadRequest(f"missing argument {name!r}")
    return value


def _int(args: Any, name: str, default: int | None = None) -> int:
    value = args.get(name)
    if value is None:
        if default is None:
            raise BadRequest(f"missing argument {name!r}")
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; got {value!r}") from None
