// The view's state: one object, changed through set(), each change told to every listener.
// The part worth sharing (view, run, layer, filter, sample, step) is mirrored in the URL hash.

const SHARED = ["view", "run", "layer", "filter", "sample", "step", "stepB", "other"];

export class Store {
  constructor(initial) {
    this.state = { ...initial };
    this.listeners = new Set();
  }

  get(key) {
    return this.state[key];
  }

  /** Merges `changes` into the state and tells the listeners what changed. */
  set(changes) {
    const changed = Object.keys(changes).filter((k) => this.state[k] !== changes[k]);
    if (!changed.length) return;
    Object.assign(this.state, changes);
    for (const listener of [...this.listeners]) listener(this.state, new Set(changed));
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The shared part of the state, read from a URL hash ("#view=layer&layer=conv2d&step=3"). */
export function readHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const state = {};
  for (const key of SHARED) {
    if (!params.has(key)) continue;
    const value = params.get(key);
    state[key] = ["filter", "sample", "step", "stepB"].includes(key) ? Number(value) : value;
  }
  return state;
}

/** The shared part of the state as a URL hash. */
export function writeHash(state) {
  const params = new URLSearchParams();
  for (const key of SHARED) {
    if (state[key] !== null && state[key] !== undefined) params.set(key, state[key]);
  }
  return "#" + params.toString();
}
