// Small SVG charts (sparklines, line charts over the steps) and the colours the view shares with
// actlog's images: viridis for on-rates (matplotlib's, exactly), red for dead, magenta for NaN.

import { el, number } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const VIRIDIS = "44015444025645045745055946075a46085c460a5d460b5e470d60470e6147106347116447136548146748166848176948186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f854240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f881fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad8128ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc743fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc8635ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21ad8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725";

/** Viridis at t in [0, 1] as [r, g, b] (matplotlib's 256 colours, as actlog's images use). */
export function viridis(t) {
  const i = Math.max(0, Math.min(255, Math.round(t * 255))) * 6;
  return [0, 2, 4].map((o) => parseInt(VIRIDIS.slice(i + o, i + o + 2), 16));
}

export const DEAD_RGB = [255, 40, 40]; // actlog.images.MARK_RGB
export const NONFINITE_RGB = [255, 0, 255]; // actlog.images.NONFINITE_RGB

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function extent(values, fixed) {
  if (fixed) return fixed;
  const finite = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

/** The polyline segments of values (null breaks the line) in a width x height box. */
function paths(values, width, height, [lo, hi], pad = 2) {
  const n = values.length;
  const x = (i) => (n <= 1 ? width / 2 : pad + ((width - 2 * pad) * i) / (n - 1));
  const y = (v) => height - pad - ((height - 2 * pad) * (v - lo)) / (hi - lo);
  const segments = [];
  let current = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined || Number.isNaN(v)) {
      if (current.length) segments.push(current);
      current = [];
    } else current.push([x(i), y(v)]);
  });
  if (current.length) segments.push(current);
  return { segments, x };
}

/**
 * A sparkline of one value per step, the current step marked. Options: range ([lo, hi], else
 * the values'), width, height, title.
 */
export function sparkline(values, current, options = {}) {
  const width = options.width || 120;
  const height = options.height || 28;
  const range = extent(values, options.range);
  const root = svg("svg", { width, height, class: "spark", viewBox: `0 0 ${width} ${height}` });
  const { segments, x } = paths(values, width, height, range);
  for (const segment of segments) {
    if (segment.length === 1) {
      root.append(svg("circle", { cx: segment[0][0], cy: segment[0][1], r: 1.5 }));
    } else {
      root.append(svg("polyline", { points: segment.map((p) => p.join(",")).join(" ") }));
    }
  }
  const now = svg("line", { y1: 0, y2: height, class: "now" });
  root.append(now);
  /** Moves the current-step mark to step index `i` (none for null). */
  root.mark = (i) => {
    now.style.display = i === null || i === undefined ? "none" : "";
    now.setAttribute("x1", x(i || 0));
    now.setAttribute("x2", x(i || 0));
  };
  root.mark(current);
  if (options.title) root.append(Object.assign(svg("title"), { textContent: options.title }));
  return root;
}

/**
 * A line chart of one value per step, with its range and first and last step written, the
 * current step marked. Options: label, range, format (a value as text), onPick(index), called
 * with the step index clicked.
 */
export function lineChart(values, steps, current, options = {}) {
  const width = options.width || 360;
  const height = options.height || 90;
  const range = extent(values, options.range);
  const box = el("div", { class: "chart" });
  const show = options.format || ((v) => number(v, 4));
  const label = el("div", { class: "chart-label" }, options.label || "",
    current !== null && current !== undefined ? `: ${show(values[current])}` : "");
  const root = svg("svg", { width, height: height + 14, class: "line" });
  const plot = svg("g");
  const { segments, x } = paths(values, width, height, range, 6);
  for (const segment of segments) {
    plot.append(svg("polyline", { points: segment.map((p) => p.join(",")).join(" ") }));
  }
  if (current !== null && current !== undefined) {
    plot.append(svg("line", { x1: x(current), x2: x(current), y1: 0, y2: height, class: "now" }));
  }
  const text = (content, attributes) => {
    const node = svg("text", attributes);
    node.textContent = content;
    return node;
  };
  root.append(plot,
    text(show(range[1]), { x: 2, y: 10, class: "axis" }),
    text(show(range[0]), { x: 2, y: height - 2, class: "axis" }),
    text(`step ${steps[0]}`, { x: 2, y: height + 12, class: "axis" }),
    text(`${steps[steps.length - 1]}`, { x: width - 2, y: height + 12, class: "axis end" }));
  if (options.onPick) {
    root.addEventListener("click", (event) => {
      const rect = root.getBoundingClientRect();
      const n = steps.length;
      const i = Math.round(((event.clientX - rect.left - 6) / (width - 12)) * (n - 1));
      options.onPick(Math.max(0, Math.min(n - 1, i)));
    });
  }
  box.append(label, root);
  return box;
}
