// The view's shell: the run, layer and probe-sample pickers, the tabs, the one step slider, and
// the view that is open. Everything the views share goes through the store (state.js).

import { CompareView } from "./compare.js";
import { FilterView } from "./filter.js";
import { el } from "./format.js";
import { HealthView } from "./health.js";
import { LayerView } from "./layer.js";
import { OverviewView } from "./overview.js";
import { readHash, Store, writeHash } from "./state.js";
import { StepBar } from "./stepbar.js";

const VIEWS = {
  overview: ["Overview", OverviewView],
  layer: ["Layer", LayerView],
  filter: ["Filter", FilterView],
  health: ["Health", HealthView],
  compare: ["Runs", CompareView],
};
const POLL_MS = 10000; // how often a live run is checked for new steps

const SCALE_NOTES = {
  filter: "normalize='filter': each tile is scaled to its own range, so brightness is per " +
    "tile: compare patterns, not brightness, between tiles.",
  layer: "normalize='layer': one scale per layer and probe sample: dark tiles are weak filters.",
  fixed: "normalize='fixed': the scale is frozen at the first logged step, so brightening and " +
    "fading over the steps are real.",
};

export class App {
  constructor(root, source) {
    this.root = root;
    this.source = source;
    this.run = null;
    this.runs = [];
    this.view = null;
    this.filterCache = new Map();
    this.store = new Store({ view: "overview", run: null, layer: null, filter: 0, sample: 0,
      step: null, stepB: null, other: null, ...readHash(location.hash) });
    this.stepbar = new StepBar(this);
    this.runPicker = el("select", { class: "run-picker",
      onchange: () => this.loadRun(this.runPicker.value) });
    this.layerPicker = el("select", { class: "layer-picker",
      onchange: () => this.store.set({ layer: this.layerPicker.value }) });
    this.samplePicker = el("select", { class: "sample-picker",
      onchange: () => this.store.set({ sample: Number(this.samplePicker.value) }) });
    this.tabs = Object.entries(VIEWS).map(([name, [text]]) => el("button", {
      class: "tab", "data-view": name, onclick: () => this.store.set({ view: name }) }, text));
    this.message = el("div", { class: "message", hidden: true });
    this.main = el("main");
    root.replaceChildren(el("div", { class: "actlog" },
      el("nav", { class: "top" }, el("span", { class: "brand" }, "actlog"),
        el("label", {}, "run ", this.runPicker), ...this.tabs,
        el("label", {}, "layer ", this.layerPicker),
        el("label", {}, "probe ", this.samplePicker)),
      this.stepbar.node, this.message, this.main));
    this.store.subscribe((state, changed) => this.changed(state, changed));
  }

  async start() {
    try {
      this.runs = await this.source.runs();
    } catch (error) {
      return this.say(`Could not list the runs: ${error.message}`);
    }
    if (!this.runs.length) {
      return this.say("No run in this log directory holds actlog data yet. Train with " +
        "actlog.ActivationLogger(log_dir=...) under the --logdir of this TensorBoard.");
    }
    const names = this.runs.map((entry) => entry.run);
    this.runPicker.replaceChildren(...names.map((run) => el("option", { value: run }, run)));
    const wanted = this.store.get("run");
    await this.loadRun(names.includes(wanted) ? wanted : names[0]);
    if (this.source.live) this.poll = setInterval(() => this.refresh(), POLL_MS);
  }

  say(text) {
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  async loadRun(name) {
    let run;
    try {
      run = await this.source.run(name);
    } catch (error) {
      return this.say(`Could not read run ${name}: ${error.message}`);
    }
    this.run = run;
    this.filterCache.clear();
    this.runPicker.value = name;
    this.say(run.steps.length ? "" : `Run ${name} has no logged step yet.`);
    const state = this.store.state;
    const paths = run.layers.map((layer) => layer.path);
    this.layerPicker.replaceChildren(...paths.map((p) => el("option", { value: p }, p)));
    const captions = (run.probe && run.probe.captions) || [];
    this.samplePicker.replaceChildren(...captions.map((caption, i) =>
      el("option", { value: i }, caption)));
    this.store.set({
      run: name,
      layer: paths.includes(state.layer) ? state.layer : paths[0] || null,
      sample: state.sample < captions.length ? state.sample : 0,
      step: run.steps.includes(state.step) ? state.step : run.steps[run.steps.length - 1],
    });
    this.show();
    document.body.dataset.ready = "true";
  }

  /** Picks up the steps written since the run was read (a run still training). */
  async refresh() {
    if (!this.run) return;
    let run;
    try {
      run = await this.source.run(this.run.run);
    } catch {
      return; // the server may be restarting: try again next time
    }
    if (run.steps.length === this.run.steps.length) return;
    const wasLast = this.store.get("step") === this.run.steps[this.run.steps.length - 1];
    const sameLayers = run.layers.map((l) => l.path).join() ===
      this.run.layers.map((l) => l.path).join();
    this.run = run;
    this.filterCache.clear();
    if (wasLast) this.store.set({ step: run.steps[run.steps.length - 1] });
    if (sameLayers && this.view) this.view.update();
    else this.show();
    this.stepbar.update();
  }

  changed(state, changed) {
    history.replaceState(null, "", writeHash(state));
    if (changed.has("view")) return this.show();
    this.layerPicker.value = state.layer;
    this.samplePicker.value = state.sample;
    this.stepbar.update();
    if (this.view) this.view.update(changed);
  }

  show() {
    if (!this.run) return;
    const name = this.store.get("view") in VIEWS ? this.store.get("view") : "overview";
    for (const tab of this.tabs) tab.classList.toggle("active", tab.dataset.view === name);
    this.layerPicker.value = this.store.get("layer");
    this.samplePicker.value = this.store.get("sample");
    this.stepbar.update();
    if (this.view && this.view.destroy) this.view.destroy();
    this.main.replaceChildren();
    this.view = new VIEWS[name][1](this);
    this.main.replaceChildren(this.view.node);
    this.main.dataset.view = name;
  }

  currentLayer() {
    const layers = this.run ? this.run.layers : [];
    return layers.find((layer) => layer.path === this.store.get("layer")) || layers[0] || null;
  }

  /** A layer's per-filter numbers over the steps, fetched once per run read. */
  filterData(path) {
    if (!this.filterCache.has(path)) {
      const pending = this.source.filters(this.run.run, path);
      pending.catch(() => this.filterCache.delete(path));
      this.filterCache.set(path, pending);
    }
    return this.filterCache.get(path);
  }

  /** The URL of the image of `kind` holding probe sample `sample` at `step`, or null. */
  imageURL(layer, kind, step, layout, sample = 0) {
    const steps = layer.images[kind] || [];
    if (!layout || !steps.includes(step)) return null;
    return this.source.imageURL(this.run.run, layer.tags[kind], step,
      layout.per_sample ? sample : 0);
  }

  /** The line that says how the grids' brightness was scaled, and what red frames mean. */
  scaleNote() {
    const mode = this.run && this.run.options ? this.run.options.normalize : null;
    return el("p", { class: "scale-note" }, SCALE_NOTES[mode] || "",
      " Tiles framed in red are filters dead at that step.");
  }
}
