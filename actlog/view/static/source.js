// Where the view's data comes from: the plugin's routes (ServerSource). The report builds its
// own source with the same methods over data embedded in the page.

/** Reads a run through the actlog plugin's routes, relative to the plugin's base URL. */
export class ServerSource {
  constructor(base = "") {
    this.base = base;
    this.live = true; // runs may still be written: worth polling
  }

  async json(route, params = {}) {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${this.base}${route}${query ? "?" + query : ""}`);
    if (!response.ok) {
      throw new Error(`${route}: ${response.status} ${await response.text()}`);
    }
    return response.json();
  }

  /** [{run, last_step}] of the runs with actlog data. */
  runs() {
    return this.json("runs");
  }

  /** The run at a glance (actlog.view.data.RunIndex.overview). */
  run(run) {
    return this.json("run", { run });
  }

  /** One layer's per-filter numbers over the steps (actlog.view.data.RunIndex.filters). */
  filters(run, layer) {
    return this.json("filters", { run, layer });
  }

  /** One filter's numbers over the steps (actlog.view.data.RunIndex.filter). */
  filter(run, layer, filter) {
    return this.json("filter", { run, layer, filter });
  }

  /** The URL of a logged image. */
  imageURL(run, tag, step, index = 0) {
    const query = new URLSearchParams({ run, tag, step, index }).toString();
    return `${this.base}image?${query}`;
  }

  /** {steps, height, width, cols, png}: one filter's tile at every logged step. */
  filmstrip(run, layer, filter, sample, kind = "activations") {
    return this.json("filmstrip", { run, layer, filter, sample, kind });
  }
}
