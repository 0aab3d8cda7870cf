// The overview: every logged layer in model order, each with its grid at the current step (the
// chosen probe sample) and its health: dead and dormant filters, on-rate and convergence over
// all steps, and since when it has settled. One slider moves them all.

import { drawGrid, fitScale, loadImage, sampleBox } from "./draw.js";
import { atStep, el, number, percent } from "./format.js";
import { sparkline } from "./charts.js";

const THUMB_WIDTH = 520; // the most room of a grid in a card, in CSS pixels
const AHEAD = [1, 2, -1]; // steps whose images are loaded ahead, around the one shown

export class OverviewView {
  constructor(app) {
    this.app = app;
    this.cards = app.run.layers.map((layer) => this.card(layer));
    this.node = el("div", { class: "overview" }, app.scaleNote(), ...this.cards.map((c) => c.node));
    this.update();
  }

  card(layer) {
    const canvas = el("canvas", { class: "grid", "data-layer": layer.path });
    const stats = el("div", { class: "stats" });
    const series = layer.series;
    const sparks = [
      ["on-rate", series.on_rate, [0, 1]],
      ["CKA to previous", series.convergence, null],
      ["dead", series.dead, null],
    ].filter(([, values]) => values.some((v) => v !== null))
      .map(([name, values, range]) => ({
        name, values,
        svg: sparkline(values, null, { range, title: `${name} over the steps` }),
      }));
    const open = () => this.app.store.set({ view: "layer", layer: layer.path });
    const node = el("section", { class: "card", "data-layer": layer.path },
      el("header", { onclick: open },
        el("b", {}, layer.path), " ", el("span", { class: "dim" }, describe(layer))),
      el("div", { class: "card-body" },
        el("div", { class: "thumb", onclick: open }, canvas),
        el("div", { class: "health" }, stats,
          ...sparks.map((s) => el("div", { class: "spark-row" },
            el("span", { class: "spark-name" }, s.name), s.svg)),
          el("div", { class: "settled" }, settledText(layer)))));
    return { layer, node, canvas, stats, sparks };
  }

  update() {
    const app = this.app;
    const step = app.store.get("step");
    const index = app.run.steps.indexOf(step);
    const sample = app.store.get("sample");
    for (const card of this.cards) {
      const layer = card.layer;
      const layout = atStep(layer.grids, step);
      const scale = layout ? fitScale(sampleBox(layout, sample).width, THUMB_WIDTH, 4) : 1;
      drawGrid(card.canvas, app.imageURL(layer, "activations", step, layout, sample),
        layout, sample, scale, step);
      card.stats.replaceChildren(...statsAt(layer, index));
      for (const spark of card.sparks) spark.svg.mark(index);
    }
    this.prefetch(index, sample);
  }

  /** Loads the images of the steps next to `index`, so the next slider step draws at once. */
  prefetch(index, sample) {
    const app = this.app;
    for (const offset of AHEAD) {
      const step = app.run.steps[index + offset];
      if (step === undefined) continue;
      for (const { layer } of this.cards) {
        const url = app.imageURL(layer, "activations", step, atStep(layer.grids, step), sample);
        if (url) loadImage(url);
      }
    }
  }
}

/** "Conv2D · 26×26×32 · 32 filters", "... · 2048 filters, the first 64 tiled". */
export function describe(layer) {
  const shape = layer.shape ? layer.shape.slice(1).map((d) => d ?? "?").join("×") : null;
  const grid = layer.grids.length ? layer.grids[layer.grids.length - 1][1] : null;
  const total = layer.filters || (grid && grid.total);
  let filters = total ? `${total} filters` : null;
  if (grid && total && grid.count < total) filters += `, the first ${grid.count} tiled`;
  return [layer.class, shape, filters].filter(Boolean).join(" · ");
}

function statsAt(layer, index) {
  const s = layer.series;
  const n = layer.filters;
  const parts = [];
  if (s.dead[index] !== null && s.dead[index] !== undefined) {
    parts.push(el("span", { class: s.dead[index] ? "bad" : "" }, `dead ${s.dead[index]}/${n}`));
  }
  if (s.dormant[index] !== null && s.dormant[index] !== undefined) {
    parts.push(el("span", {}, `dormant ${s.dormant[index]}/${n}`));
  }
  if (s.on_rate[index] !== null && s.on_rate[index] !== undefined) {
    parts.push(el("span", {}, `on ${percent(s.on_rate[index])}`));
  }
  if (s.convergence[index] !== null && s.convergence[index] !== undefined) {
    parts.push(el("span", {}, `CKA ${number(s.convergence[index], 4)}`));
  }
  return parts.length ? parts : [el("span", { class: "dim" }, "no statistics at this step")];
}

function settledText(layer) {
  if (!layer.series.convergence.some((v) => v !== null)) return "";
  return layer.settled_since === null || layer.settled_since === undefined
    ? "still changing" : `settled since step ${layer.settled_since}`;
}
