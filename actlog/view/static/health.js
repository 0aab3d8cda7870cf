// The health view: a layer's filter-health timeline drawn from the logged numbers, with its
// axes (steps across, filter numbers down) and a colour legend. A cell is a filter's on-rate at a
// step (viridis), red where the filter is dead, magenta where it had no finite value. Clicking a
// cell opens that filter at that step.

import { DEAD_RGB, NONFINITE_RGB, viridis } from "./charts.js";
import { el, stepName } from "./format.js";

const LEFT = 44; // room for filter numbers
const BOTTOM = 30; // room for step labels
const TOP = 6;

export class HealthView {
  constructor(app) {
    this.app = app;
    this.canvas = el("canvas", { class: "health-map" });
    this.tooltip = el("div", { class: "tooltip", hidden: true });
    this.title = el("h2");
    this.node = el("div", { class: "health-view" }, this.title, legend(), this.canvas,
      this.tooltip);
    this.canvas.addEventListener("mousemove", (event) => this.hover(event));
    this.canvas.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
    this.canvas.addEventListener("click", (event) => {
      const cell = this.cellAt(event);
      if (cell) this.app.store.set({ view: "filter", filter: cell.filter, step: cell.step });
    });
    this.data = null;
    this.update();
  }

  async update() {
    const layer = this.app.currentLayer();
    if (!layer) return;
    this.title.replaceChildren(el("b", {}, layer.path), " · filter health over training");
    const key = `${this.app.run.run}|${layer.path}|${this.app.run.steps.length}`;
    if (this.key !== key) {
      this.key = key;
      this.data = null;
      try {
        this.data = await this.app.filterData(layer.path);
      } catch {
        this.data = null;
      }
      if (this.key !== key) return;
    }
    this.draw();
  }

  draw() {
    const data = this.data;
    const canvas = this.canvas;
    if (!data || !data.steps.length) {
      canvas.width = 420;
      canvas.height = 30;
      const context = canvas.getContext("2d");
      context.fillText("No statistics were logged for this layer (stats=False).", 4, 18);
      return;
    }
    const steps = data.steps.length;
    const filters = Math.max(...data.on_rate.map((row) => row.length));
    const room = Math.max(200, (this.node.clientWidth || 900) - LEFT - 20);
    this.cellW = Math.max(1, Math.min(16, Math.floor(room / steps)));
    this.cellH = Math.max(1, Math.min(12, Math.floor(640 / filters)));
    canvas.width = LEFT + steps * this.cellW + 8;
    canvas.height = TOP + filters * this.cellH + BOTTOM;
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    const cells = context.createImageData(steps * this.cellW, filters * this.cellH);
    data.steps.forEach((_, s) => {
      const dead = new Set(data.dead[s]);
      data.on_rate[s].forEach((rate, f) => {
        const rgb = dead.has(f) ? DEAD_RGB : rate === null ? NONFINITE_RGB : viridis(rate / 1000);
        for (let y = f * this.cellH; y < (f + 1) * this.cellH; y++) {
          for (let x = s * this.cellW; x < (s + 1) * this.cellW; x++) {
            const o = (y * cells.width + x) * 4;
            cells.data[o] = rgb[0];
            cells.data[o + 1] = rgb[1];
            cells.data[o + 2] = rgb[2];
            cells.data[o + 3] = 255;
          }
        }
      });
    });
    context.putImageData(cells, LEFT, TOP);
    this.axes(context, data.steps, filters);
    const current = data.steps.indexOf(this.app.store.get("step"));
    if (current >= 0) {
      context.strokeStyle = "#000";
      context.strokeRect(LEFT + current * this.cellW - 0.5, TOP - 0.5, this.cellW + 1,
        filters * this.cellH + 1);
    }
    this.filters = filters;
  }

  axes(context, steps, filters) {
    context.fillStyle = "#333";
    context.font = "10px sans-serif";
    context.textAlign = "right";
    const every = niceEvery(filters, Math.max(1, Math.floor((filters * this.cellH) / 14)));
    for (let f = 0; f < filters; f += every) {
      context.fillText(String(f), LEFT - 4, TOP + f * this.cellH + Math.min(this.cellH, 10));
    }
    context.textAlign = "center";
    const stepEvery = niceEvery(steps.length, Math.max(1, Math.floor(steps.length * this.cellW / 40)));
    const y = TOP + filters * this.cellH + 12;
    for (let s = 0; s < steps.length; s += stepEvery) {
      context.fillText(String(steps[s]), LEFT + (s + 0.5) * this.cellW, y);
    }
    context.textAlign = "left";
    context.fillText("step →", LEFT, y + 13);
    context.save();
    context.translate(10, TOP + 40);
    context.rotate(-Math.PI / 2);
    context.textAlign = "right";
    context.fillText("filter", 0, 0);
    context.restore();
  }

  cellAt(event) {
    if (!this.data) return null;
    const rect = this.canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * this.canvas.width) / rect.width - LEFT;
    const y = ((event.clientY - rect.top) * this.canvas.height) / rect.height - TOP;
    const s = Math.floor(x / this.cellW);
    const filter = Math.floor(y / this.cellH);
    if (s < 0 || s >= this.data.steps.length || filter < 0 || filter >= this.filters) return null;
    return { s, step: this.data.steps[s], filter };
  }

  hover(event) {
    const cell = this.cellAt(event);
    if (!cell) {
      this.tooltip.hidden = true;
      return;
    }
    const rate = this.data.on_rate[cell.s][cell.filter];
    const dead = this.data.dead[cell.s].includes(cell.filter);
    this.tooltip.textContent = `filter ${cell.filter} · step ${stepName(cell.step)} · ` +
      `on-rate ${rate === null ? "–" : (rate / 10).toFixed(1) + "%"}${dead ? " · dead" : ""}`;
    this.tooltip.style.left = `${event.pageX + 12}px`;
    this.tooltip.style.top = `${event.pageY + 12}px`;
    this.tooltip.hidden = false;
  }
}

/** A label every this many of `count` items, for about `labels` labels (1, 2, 5, 10, ...). */
function niceEvery(count, labels) {
  const raw = count / Math.max(1, labels);
  for (const nice of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000]) {
    if (nice >= raw) return nice;
  }
  return Math.ceil(raw);
}

function legend() {
  const bar = el("canvas", { class: "legend-bar", width: 160, height: 12 });
  const context = bar.getContext("2d");
  for (let x = 0; x < 160; x++) {
    const [r, g, b] = viridis(x / 159);
    context.fillStyle = `rgb(${r},${g},${b})`;
    context.fillRect(x, 0, 1, 12);
  }
  const swatch = (rgb, text) => el("span", { class: "swatch-item" },
    el("span", { class: "swatch", style: `background: rgb(${rgb.join(",")})` }), text);
  return el("div", { class: "legend" }, "on-rate 0% ", bar, " 100% ",
    swatch(DEAD_RGB, "dead (at the floor for every probe sample)"),
    swatch(NONFINITE_RGB, "no finite value"));
}
