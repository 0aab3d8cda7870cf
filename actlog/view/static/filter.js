// The filter view: one filter of one layer over training. Its map for the chosen probe sample at
// every logged step (a filmstrip, and one large frame that the step slider and play move), its
// on-rate and maximum over the steps, since when it has been dead or dormant, and its weights,
// maximized input and overlay where those were logged.

import { lineChart } from "./charts.js";
import { drawBox, drawMissing, fitScale, loadImage, sampleBox, tileBox } from "./draw.js";
import { atStep, el, latestAt, percent, stepName } from "./format.js";

const FRAME_ROOM = 256; // the large frame, in pixels
const STRIP_ROOM = 56; // each filmstrip frame

export class FilterView {
  constructor(app) {
    this.app = app;
    this.key = null; // what the filmstrip and series were loaded for
    this.strip = null;
    this.series = null;
    this.number = el("input", { type: "number", min: 0, class: "filter-number",
      onchange: () => this.pick(Number(this.number.value)) });
    this.title = el("h2");
    this.frame = el("canvas", { class: "frame" });
    this.frameCaption = el("figcaption");
    this.status = el("div", { class: "status" });
    this.charts = el("div", { class: "charts" });
    this.extras = el("div", { class: "extras" });
    this.film = el("div", { class: "filmstrip" });
    this.node = el("div", { class: "filter-view" },
      el("div", { class: "toolbar" }, this.title,
        el("button", { onclick: () => this.pick(this.filter() - 1) }, "◀ filter"),
        this.number,
        el("button", { onclick: () => this.pick(this.filter() + 1) }, "filter ▶")),
      el("div", { class: "filter-top" },
        el("figure", { class: "big" }, this.frameCaption, this.frame),
        el("div", { class: "filter-facts" }, this.status, this.charts, this.extras)),
      el("h3", {}, "Every logged step (click one to go there)"), this.film);
    this.update();
  }

  filter() {
    return this.app.store.get("filter") || 0;
  }

  pick(index) {
    const layer = this.app.currentLayer();
    const count = atStep(layer.grids, this.app.store.get("step"))?.count || layer.filters || 1;
    this.app.store.set({ filter: Math.max(0, Math.min(count - 1, index)) });
  }

  async update() {
    const app = this.app;
    const layer = app.currentLayer();
    if (!layer) return;
    const filter = this.filter();
    const sample = app.store.get("sample");
    const key = `${app.run.run}|${layer.path}|${filter}|${sample}|${app.run.steps.length}`;
    this.number.value = filter;
    this.title.replaceChildren(el("b", {}, layer.path), ` · filter ${filter}`,
      layer.filters ? ` of ${layer.filters}` : "");
    if (key !== this.key) {
      this.key = key;
      this.strip = null;
      this.series = undefined; // loading; null: none logged
      this.film.replaceChildren(el("span", { class: "dim" }, "loading…"));
      app.source.filter(app.run.run, layer.path, filter).catch(() => null).then((series) => {
        if (key !== this.key) return; // another filter was asked for meanwhile
        this.series = series;
        this.showFacts(app.store.get("step"));
      });
      const strip = await app.source.filmstrip(app.run.run, layer.path, filter, sample);
      if (key !== this.key) return;
      this.strip = { ...strip, image: await loadImage(strip.png) };
      if (key !== this.key) return;
      this.buildFilm();
    }
    this.showStep();
  }

  buildFilm() {
    const strip = this.strip;
    const scale = fitScale(strip.width, STRIP_ROOM, 4);
    this.frames = strip.steps.map((step, i) => {
      const canvas = el("canvas", { "data-step": step });
      drawBox(canvas, strip.image, frameBox(strip, i), scale);
      return el("figure", { class: "frame-cell", "data-step": step,
        onclick: () => this.app.store.set({ step }) }, canvas, el("figcaption", {}, step));
    });
    this.film.replaceChildren(...(this.frames.length ? this.frames
      : [el("span", { class: "dim" }, "No tile of this filter was logged.")]));
  }

  showStep() {
    const app = this.app;
    const step = app.store.get("step");
    const strip = this.strip;
    if (!strip) return;
    const i = strip.steps.indexOf(step);
    this.frameCaption.textContent = `step ${stepName(step)} · ` +
      `${app.run.probe.captions[app.store.get("sample")] || ""}`;
    if (i >= 0) {
      drawBox(this.frame, strip.image, frameBox(strip, i), fitScale(strip.width, FRAME_ROOM, 32));
      this.frame.dataset.step = step;
    } else {
      drawMissing(this.frame, `no tile at step ${step}`);
      this.frame.dataset.step = "";
    }
    for (const cell of this.frames || []) {
      cell.classList.toggle("current", Number(cell.dataset.step) === step);
    }
    this.showFacts(step);
    this.showExtras(step);
  }

  showFacts(step) {
    const series = this.series;
    if (series === undefined) return; // on its way
    if (!series) {
      this.status.textContent = "No statistics were logged for this layer (stats=False).";
      this.charts.replaceChildren();
      return;
    }
    const index = series.steps.indexOf(step);
    const pickStep = (i) => this.app.store.set({ step: series.steps[i] });
    this.status.replaceChildren(
      el("div", {}, streak("dead", series.dead, series.steps, index)),
      el("div", {}, streak("dormant", series.dormant, series.steps, index)));
    this.charts.replaceChildren(
      lineChart(series.on_rate, series.steps, index >= 0 ? index : null,
        { label: "on-rate", range: [0, 1], format: percent, onPick: pickStep }),
      lineChart(series.max, series.steps, index >= 0 ? index : null,
        { label: "maximum", onPick: pickStep }));
  }

  async showExtras(step) {
    const app = this.app;
    const layer = app.currentLayer();
    const filter = this.filter();
    const sample = app.store.get("sample");
    const shown = [];
    for (const kind of ["weights", "maximized", "overlays"]) {
      const changes = layer.layouts[kind];
      const logged = latestAt(layer.images[kind], step);
      if (!changes || logged === null) continue;
      const layout = atStep(changes, logged);
      let index = filter;
      if (kind === "maximized") index = (layout.filters || []).indexOf(filter);
      if (kind === "overlays") index = ((layout.filters || [])[sample] || []).indexOf(filter);
      const canvas = el("canvas", { "data-kind": kind });
      const caption = el("figcaption", {}, `${kind} · step ${logged}`);
      shown.push(el("figure", { class: "extra" }, caption, canvas));
      if (index < 0 || index >= layout.count) {
        drawMissing(canvas, kind === "overlays"
          ? `not among the ${layout.count} most active` : "not logged", 180, 40);
        continue;
      }
      const image = await loadImage(app.imageURL(layer, kind, logged, layout, sample));
      if (!image) continue;
      const origin = sampleBox(layout, kind === "overlays" ? sample : 0);
      const box = tileBox(layout, index);
      box.top += origin.top;
      box.left += origin.left;
      drawBox(canvas, image, box, fitScale(box.width, 120, 8));
    }
    this.extras.replaceChildren(...shown);
  }
}

/** Where frame `i` is in a filmstrip image. */
export function frameBox(strip, i) {
  const row = Math.floor(i / strip.cols);
  const col = i % strip.cols;
  return { top: row * strip.height, left: col * strip.width,
    height: strip.height, width: strip.width };
}

/** "dead since step 4", "not dead (dead at steps 2–3)", "never dead". */
function streak(what, flags, steps, index) {
  if (index < 0) return `${what}: no statistics at this step`;
  if (flags[index]) {
    let start = index;
    while (start > 0 && flags[start - 1]) start -= 1;
    return `${what} since step ${steps[start]}`;
  }
  const before = steps.filter((s, i) => flags[i] && i < index);
  if (before.length) return `not ${what} now (${what} at ${before.length} earlier steps)`;
  return `never ${what} so far`;
}
