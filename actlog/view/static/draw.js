// Logged images onto canvases: loading (cached), cutting one probe sample's grid or one tile out
// of an image by its logged layout, and finding the tile under the pointer. Canvases hold the
// logged pixels at a whole-number scale (nearest neighbour), so what is drawn is what was logged.

const images = new Map(); // url -> Promise<HTMLImageElement | null>
const KEPT = 800;

/** The decoded image at `url`, or null if it cannot be loaded (not written yet). */
export function loadImage(url) {
  if (images.has(url)) {
    const pending = images.get(url);
    images.delete(url); // most recently used last
    images.set(url, pending);
    return pending;
  }
  const pending = new Promise((resolve) => {
    const image = new Image();
    image.onload = () => image.decode().then(() => resolve(image), () => resolve(image));
    image.onerror = () => {
      images.delete(url); // try again next time: the step may be being written
      resolve(null);
    };
    image.src = url;
  });
  images.set(url, pending);
  while (images.size > KEPT) images.delete(images.keys().next().value);
  return pending;
}

/** Where probe sample `sample`'s grid is in the image (actlog.view.tiles.sample_box). */
export function sampleBox(layout, sample) {
  const origins = layout.origins && layout.origins.length ? layout.origins : [[0, 0]];
  const [top, left] = origins[Math.min(sample, origins.length - 1)];
  const cols = Math.max(1, layout.cols);
  const rows = Math.ceil(layout.count / cols);
  return {
    image: layout.per_sample ? sample : 0,
    top,
    left,
    height: rows * (layout.height + 1) - 1,
    width: cols * (layout.width + 1) - 1,
  };
}

/** Where tile `index` is in a sample's grid (actlog.view.tiles.tile_box). */
export function tileBox(layout, index) {
  const row = Math.floor(index / layout.cols);
  const col = index % layout.cols;
  return {
    top: row * (layout.height + 1),
    left: col * (layout.width + 1),
    height: layout.height,
    width: layout.width,
  };
}

/** The whole-number scale that fits `width` pixels into `room` (at least 1, at most `most`). */
export function fitScale(width, room, most = 8) {
  return Math.max(1, Math.min(most, Math.floor(room / Math.max(1, width))));
}

/** Draws the `box` of `image` onto `canvas` at `scale`, without smoothing. */
export function drawBox(canvas, image, box, scale) {
  canvas.width = box.width * scale;
  canvas.height = box.height * scale;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(image, box.left, box.top, box.width, box.height, 0, 0,
    canvas.width, canvas.height);
  canvas.dataset.scale = scale;
}

/** Draws a note where an image should be (no image at this step). */
export function drawMissing(canvas, text, width = 160, height = 60) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  context.fillStyle = "#eee";
  context.fillRect(0, 0, width, height);
  context.fillStyle = "#666";
  context.font = "12px sans-serif";
  context.fillText(text, 8, height / 2 + 4);
  canvas.dataset.scale = "";
}

/**
 * Draws probe sample `sample`'s grid of the image at `url` onto `canvas`; returns whether it
 * was drawn. The canvas records what it shows in data-step, data-url and data-scale.
 */
export async function drawGrid(canvas, url, layout, sample, scale, step) {
  canvas.dataset.pending = step;
  const image = url ? await loadImage(url) : null;
  if (canvas.dataset.pending !== String(step)) return false; // a newer step was asked for
  if (!image || !layout) {
    drawMissing(canvas, `no image at step ${step}`);
    canvas.dataset.step = "";
    return false;
  }
  const box = sampleBox(layout, sample);
  drawBox(canvas, image, box, scale);
  canvas.dataset.step = step;
  canvas.dataset.url = url;
  canvas.dataset.top = box.top;
  canvas.dataset.left = box.left;
  return true;
}

/** The tile index under a pointer event on a canvas drawn by drawGrid, or null. */
export function tileAt(event, canvas, layout) {
  const rect = canvas.getBoundingClientRect();
  const scale = Number(canvas.dataset.scale) || 1;
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width / scale;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height / scale;
  const col = Math.floor(x / (layout.width + 1));
  const row = Math.floor(y / (layout.height + 1));
  if (col < 0 || col >= layout.cols || row < 0) return null;
  if (x - col * (layout.width + 1) >= layout.width) return null; // on a separator
  if (y - row * (layout.height + 1) >= layout.height) return null;
  const index = row * layout.cols + col;
  return index < layout.count ? index : null;
}

/** Outlines tile `index` on a canvas drawn by drawGrid (the filter under the pointer). */
export function outlineTile(overlay, canvas, layout, index) {
  const rect = canvas.getBoundingClientRect();
  if (index === null || !rect.width) {
    overlay.hidden = true;
    return;
  }
  const ratio = rect.width / canvas.width;
  const scale = (Number(canvas.dataset.scale) || 1) * ratio;
  const box = tileBox(layout, index);
  Object.assign(overlay.style, {
    left: `${canvas.offsetLeft + box.left * scale - 1}px`,
    top: `${canvas.offsetTop + box.top * scale - 1}px`,
    width: `${box.width * scale}px`,
    height: `${box.height * scale}px`,
  });
  overlay.hidden = false;
}
