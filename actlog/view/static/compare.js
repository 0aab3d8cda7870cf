// The runs view: one layer of two runs side by side at the same step (say, two learning rates),
// each with its health at that step.

import { drawGrid, fitScale, sampleBox } from "./draw.js";
import { atStep, el, latestAt, number, stepName } from "./format.js";

export class CompareView {
  constructor(app) {
    this.app = app;
    this.other = el("select", { class: "other-run",
      onchange: () => app.store.set({ other: this.other.value }) });
    this.panels = el("div", { class: "panels" });
    this.note = el("div", { class: "dim" });
    this.node = el("div", { class: "compare-view" },
      el("div", { class: "toolbar" }, "Compare with run ", this.other), this.note, this.panels);
    this.otherRun = null;
    this.update();
  }

  async update() {
    const app = this.app;
    const others = app.runs.map((entry) => entry.run).filter((run) => run !== app.run.run);
    let other = app.store.get("other");
    if (!others.includes(other)) other = others[0] || null;
    this.other.replaceChildren(...others.map((run) =>
      el("option", { value: run, selected: run === other }, run)));
    this.other.hidden = !other;
    if (!other) {
      this.note.textContent = "Only one run holds actlog data in this log directory: write a " +
        "second (another log_dir under the same --logdir) to compare them.";
      this.panels.replaceChildren();
      return;
    }
    if (!this.otherRun || this.otherRun.run !== other) {
      this.otherRun = await app.source.run(other);
    }
    const layer = app.currentLayer();
    const step = app.store.get("step");
    const mine = this.panel(app.run, layer, step);
    const theirs = this.otherRun.layers.find((l) => l.path === layer.path);
    const theirStep = latestAt(this.otherRun.steps, step);
    this.note.textContent = theirs ? "" : `Run ${other} has no layer ${layer.path}.`;
    this.panels.replaceChildren(mine,
      ...(theirs ? [this.panel(this.otherRun, theirs, theirStep ?? this.otherRun.steps[0])] : []));
  }

  panel(run, layer, step) {
    const app = this.app;
    const sample = app.store.get("sample");
    const layout = atStep(layer.grids, step);
    const canvas = el("canvas", { class: "grid", "data-run": run.run });
    const width = layout ? sampleBox(layout, sample).width : 1;
    const room = (this.panels.clientWidth || 800) / 2 - 16;
    const steps = layer.images.activations || [];
    const url = layout && steps.includes(step)
      ? app.source.imageURL(run.run, layer.tags.activations, step, layout.per_sample ? sample : 0)
      : null;
    drawGrid(canvas, url, layout, sample, fitScale(width, room, 8), step);
    const i = run.steps.indexOf(step);
    const s = layer.series;
    const facts = [
      s.dead[i] !== null && s.dead[i] !== undefined ? `dead ${s.dead[i]}/${layer.filters}` : null,
      s.on_rate[i] !== null && s.on_rate[i] !== undefined ? `on ${number(s.on_rate[i] * 100, 1)}%` : null,
      s.convergence[i] !== null && s.convergence[i] !== undefined
        ? `CKA ${number(s.convergence[i], 4)}` : null,
    ].filter(Boolean).join(" · ");
    return el("figure", { class: "panel", "data-run": run.run },
      el("figcaption", {}, el("b", {}, run.run), ` · ${layer.path} · step ${stepName(step)}`),
      el("div", { class: "canvas-box" }, canvas), el("div", { class: "dim" }, facts));
  }
}
