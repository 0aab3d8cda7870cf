// The layer view: one layer's grid at a readable size (fit to width, zoom, actual pixels) for
// the chosen probe sample; hovering a tile names the filter and its numbers at that step;
// clicking opens the filter. A/B puts a second step beside the first.

import { drawGrid, fitScale, outlineTile, sampleBox, tileAt } from "./draw.js";
import { atStep, el, number, stepName } from "./format.js";
import { describe } from "./overview.js";

const ZOOMS = [["fit", "Fit"], ["1", "1:1"], ["2", "2×"], ["4", "4×"]];

export class LayerView {
  constructor(app) {
    this.app = app;
    this.zoom = "fit";
    this.zoomButtons = ZOOMS.map(([value, text]) => el("button", {
      "data-zoom": value, onclick: () => { this.zoom = value; this.update(); },
    }, text));
    this.abBox = el("input", { type: "checkbox", class: "ab-toggle",
      onchange: () => this.toggleAB() });
    this.stepB = el("select", { class: "step-b",
      onchange: () => app.store.set({ stepB: Number(this.stepB.value) }) });
    this.title = el("h2");
    this.panels = el("div", { class: "panels" });
    this.tooltip = el("div", { class: "tooltip", hidden: true });
    this.node = el("div", { class: "layer-view" }, this.title,
      el("div", { class: "toolbar" }, "Zoom ", ...this.zoomButtons,
        el("label", {}, this.abBox, " A/B: compare with step "), this.stepB),
      app.scaleNote(), this.panels, this.tooltip);
    this.panelA = this.panel("A");
    this.panelB = this.panel("B");
    this.update();
  }

  panel(name) {
    const canvas = el("canvas", { class: "grid", "data-panel": name });
    const outline = el("div", { class: "outline", hidden: true });
    const caption = el("figcaption");
    const node = el("figure", { class: "panel", "data-panel": name }, caption,
      el("div", { class: "canvas-box" }, canvas, outline));
    const panel = { name, node, canvas, outline, caption, step: null, layout: null };
    canvas.addEventListener("mousemove", (event) => this.hover(panel, event));
    canvas.addEventListener("mouseleave", () => this.hover(panel, null));
    canvas.addEventListener("click", (event) => {
      const index = panel.layout ? tileAt(event, canvas, panel.layout) : null;
      if (index !== null) this.app.store.set({ view: "filter", filter: index, step: panel.step });
    });
    return panel;
  }

  toggleAB() {
    const store = this.app.store;
    if (this.abBox.checked && (store.get("stepB") === null || store.get("stepB") === undefined)) {
      store.set({ stepB: this.app.run.steps[0] });
    } else if (!this.abBox.checked) {
      store.set({ stepB: null });
    } else this.update();
  }

  layer() {
    return this.app.currentLayer();
  }

  update() {
    const app = this.app;
    const layer = this.layer();
    if (!layer) return;
    const stepB = app.store.get("stepB");
    const ab = stepB !== null && stepB !== undefined && app.run.steps.includes(stepB);
    this.abBox.checked = ab;
    this.stepB.disabled = !ab;
    this.stepB.replaceChildren(...app.run.steps.map((s) =>
      el("option", { value: s, selected: s === stepB }, stepName(s))));
    this.title.replaceChildren(el("b", {}, layer.path), " ",
      el("span", { class: "dim" }, describe(layer)));
    for (const button of this.zoomButtons) {
      button.classList.toggle("active", button.dataset.zoom === this.zoom);
    }
    this.panels.replaceChildren(this.panelA.node, ...(ab ? [this.panelB.node] : []));
    this.show(this.panelA, app.store.get("step"), ab ? "A" : null);
    if (ab) this.show(this.panelB, stepB, "B");
  }

  show(panel, step, label) {
    const app = this.app;
    const layer = this.layer();
    const sample = app.store.get("sample");
    const layout = atStep(layer.grids, step);
    panel.step = step;
    panel.layout = layout;
    const room = (this.panels.clientWidth || 800) / (label ? 2 : 1) - 16;
    const width = layout ? sampleBox(layout, sample).width : 1;
    const scale = this.zoom === "fit" ? fitScale(width, room, 16) : Number(this.zoom);
    panel.caption.textContent = `${label ? label + " · " : ""}step ${stepName(step)} · ` +
      `${app.run.probe.captions[sample] || "probe " + sample}`;
    drawGrid(panel.canvas, app.imageURL(layer, "activations", step, layout, sample),
      layout, sample, scale, step);
  }

  async hover(panel, event) {
    const index = event && panel.layout ? tileAt(event, panel.canvas, panel.layout) : null;
    outlineTile(panel.outline, panel.canvas, panel.layout, index);
    if (index === null) {
      this.tooltip.hidden = true;
      return;
    }
    const data = await this.app.filterData(this.layer().path);
    const i = data.steps.indexOf(panel.step);
    const rate = i >= 0 ? data.on_rate[i][index] : null;
    const lines = [`filter ${index}`, `step ${stepName(panel.step)}`];
    if (i >= 0) {
      lines.push(`on-rate ${rate === null ? "–" : (rate / 10).toFixed(1) + "%"}`,
        `max ${number(data.max[i][index], 4)}`);
      if (data.dead[i].includes(index)) lines.push("dead");
      if (data.dormant[i].includes(index)) lines.push("dormant");
    }
    this.tooltip.textContent = lines.join(" · ");
    this.tooltip.style.left = `${event.pageX + 12}px`;
    this.tooltip.style.top = `${event.pageY + 12}px`;
    this.tooltip.hidden = false;
  }
}
