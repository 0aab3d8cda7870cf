// Numbers and steps as the view writes them.

export function number(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return value.toFixed(digits);
}

export function percent(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1)}%`;
}

export function stepName(step) {
  return step < 0 ? `${step} (before training)` : String(step);
}

/** The value of a [[step, value], ...] list of changes in force at `step`. */
export function atStep(changes, step) {
  let found = changes && changes.length ? changes[0][1] : null;
  for (const [at, value] of changes || []) {
    if (at <= step) found = value;
    else break;
  }
  return found;
}

/** The last of the sorted `steps` at or before `step` (null if none). */
export function latestAt(steps, step) {
  let found = null;
  for (const s of steps || []) {
    if (s <= step) found = s;
    else break;
  }
  return found;
}

/** Creates an element: el("div", {class: "card"}, child, "text", ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
