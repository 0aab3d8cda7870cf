// The one step slider that moves every layer: first/previous/play/next/last, the arrow keys,
// and the step's loss and metrics beside it.

import { el, number, stepName } from "./format.js";

const PLAY_MS = 450; // between two steps while playing
const PLAY = "▶ play";
const PAUSE = "❚❚ pause";

export class StepBar {
  constructor(app) {
    this.app = app;
    this.timer = null;
    this.slider = el("input", {
      type: "range", min: 0, max: 0, value: 0, class: "slider", "aria-label": "step",
      oninput: () => this.goTo(Number(this.slider.value)),
    });
    this.playButton = el("button", { class: "play", title: "Play / pause (space)",
      onclick: () => this.toggle() }, PLAY);
    this.label = el("span", { class: "step-label" });
    this.metrics = el("span", { class: "metrics" });
    const button = (text, title, index) =>
      el("button", { title, onclick: () => this.goTo(index()) }, text);
    this.node = el("div", { class: "stepbar" },
      button("«", "First step (Home)", () => 0),
      button("‹", "Previous step (←)", () => this.index() - 1),
      this.playButton,
      button("›", "Next step (→)", () => this.index() + 1),
      button("»", "Last step (End)", () => this.steps().length - 1),
      this.slider, this.label, this.metrics);
    this.onKey = (event) => this.key(event);
    document.addEventListener("keydown", this.onKey);
  }

  steps() {
    return this.app.run ? this.app.run.steps : [];
  }

  index() {
    return Math.max(0, this.steps().indexOf(this.app.store.get("step")));
  }

  goTo(index) {
    const steps = this.steps();
    if (!steps.length) return;
    const clamped = Math.max(0, Math.min(steps.length - 1, index));
    this.app.store.set({ step: steps[clamped] });
  }

  toggle() {
    if (this.timer !== null) return this.pause();
    if (this.index() >= this.steps().length - 1) this.goTo(0);
    this.timer = setInterval(() => {
      if (this.index() >= this.steps().length - 1) this.pause();
      else this.goTo(this.index() + 1);
    }, PLAY_MS);
    this.playButton.textContent = PAUSE;
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = PLAY;
  }

  key(event) {
    const target = event.target;
    if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) &&
        target !== this.slider) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (event.key in moves) {
      this.goTo(this.index() + moves[event.key]);
    } else if (event.key === "Home") {
      this.goTo(0);
    } else if (event.key === "End") {
      this.goTo(this.steps().length - 1);
    } else if (event.key === " ") {
      this.toggle();
    } else return;
    event.preventDefault();
  }

  /** Shows the store's step: the slider, its label, and the logs of that epoch. */
  update() {
    const steps = this.steps();
    const index = this.index();
    this.slider.max = Math.max(0, steps.length - 1);
    this.slider.value = index;
    const step = steps[index];
    this.label.textContent = steps.length
      ? `step ${stepName(step)} · ${index + 1} of ${steps.length}` : "no steps yet";
    const logs = this.app.run ? this.app.run.logs : {};
    const shown = Object.entries(logs)
      .filter(([, values]) => values[index] !== null && values[index] !== undefined)
      .map(([name, values]) => `${name} ${number(values[index], 4)}`);
    this.metrics.textContent = step < 0 ? "before training" : shown.join(" · ");
  }

  destroy() {
    this.pause();
    document.removeEventListener("keydown", this.onKey);
  }
}
