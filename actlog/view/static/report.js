// The entry of a report (actlog.view.report): the same App as the plugin's tab, over a source
// that answers the plugin's routes from the data embedded in the page, with no server.

import { App } from "./app.js";
import { loadImage, sampleBox, tileBox } from "./draw.js";
import { el } from "./format.js";

const FRAMES_PER_ROW = 32; // as actlog.view.tiles.FRAMES_PER_ROW

/** Reads runs from the report's embedded data: {runs: [{run, last_step}], data: {run:
 * {overview, filters: {layer: ...}, images: {tag: {step: [data URL, ...]}}}}}. */
export class ReportSource {
  constructor(report) {
    this.report = report;
    this.live = false; // written once: nothing to poll
  }

  async runs() {
    return this.report.runs;
  }

  async run(run) {
    return { run, ...this.#run(run).overview };
  }

  async filters(run, layer) {
    const filters = this.#run(run).filters[layer];
    if (!filters) throw new Error(`no layer ${layer} in run ${run}`);
    return filters;
  }

  /** One filter's numbers over the steps, from its layer's (actlog.view.data.RunIndex.filter). */
  async filter(run, layer, filter) {
    const all = await this.filters(run, layer);
    return {
      steps: all.steps,
      on_rate: all.on_rate.map((row) => (row[filter] == null ? null : row[filter] / 1000)),
      max: all.max.map((row) => row[filter] ?? null),
      dead: all.dead.map((dead) => dead.includes(filter)),
      dormant: all.dormant.map((dormant) => dormant.includes(filter)),
    };
  }

  imageURL(run, tag, step, index = 0) {
    return this.#run(run).images[tag]?.[step]?.[index] ?? "data:,";
  }

  /** One filter's tile at every step, cut from the embedded grids on a canvas (the plugin's
   * filmstrip route, actlog.view.tiles.filmstrip). */
  async filmstrip(run, layer, filter, sample, kind = "activations") {
    const overview = this.#run(run).overview;
    const info = overview.layers.find((entry) => entry.path === layer);
    const changes = kind === "activations" ? info?.grids : info?.layouts?.[kind];
    const tag = info?.tags?.[kind];
    const frames = [];
    for (const step of info && tag ? info.images[kind] ?? [] : []) {
      const layout = changes && [...changes].reverse().find(([at]) => at <= step)?.[1];
      if (!layout || filter >= layout.count) continue;
      const box = sampleBox(layout, kind === "activations" ? sample : 0);
      const image = await loadImage(this.imageURL(run, tag, step, box.image));
      if (!image) continue;
      const tile = tileBox(layout, filter);
      frames.push({ step, image, top: box.top + tile.top, left: box.left + tile.left,
        height: tile.height, width: tile.width });
    }
    const height = Math.max(1, ...frames.map((f) => f.height));
    const width = Math.max(1, ...frames.map((f) => f.width));
    const cols = Math.max(1, Math.min(FRAMES_PER_ROW, frames.length));
    const canvas = el("canvas");
    canvas.width = cols * width;
    canvas.height = Math.max(1, Math.ceil(frames.length / cols)) * height;
    const context = canvas.getContext("2d");
    context.fillRect(0, 0, canvas.width, canvas.height);
    frames.forEach((f, slot) => {
      const x = (slot % cols) * width;
      const y = Math.floor(slot / cols) * height;
      context.drawImage(f.image, f.left, f.top, f.width, f.height, x, y, f.width, f.height);
    });
    return { steps: frames.map((f) => f.step), height, width, cols, png: canvas.toDataURL() };
  }

  #run(run) {
    const data = this.report.data[run];
    if (!data) throw new Error(`no run ${run} in this report`);
    return data;
  }
}

/** Starts the view in `root` on the report's data, the JSON in <script id="actlog-data">. */
export async function renderReport(root = document.body) {
  const report = JSON.parse(document.getElementById("actlog-data").textContent);
  const app = new App(root, new ReportSource(report));
  window.actlogView = app;
  await app.start();
}
