// The anywidget front end of `vlmrun_jupyter.splat.viewer.SplatViewer`: an interactive
// WebGL2 view of 3D Gaussian splats. Drag to orbit, right-drag (or shift-drag) to pan,
// wheel to zoom, double-click to reset; the up-axis button cycles y, -y, z, -z.
//
// Model traits (set by Python): `data` (bytes: 32 per splat, see renderer.js), `count`,
// `total` (splats in the file), `center`, `radius`, `cov_unit`, `up`, `height`,
// `preview` (PNG bytes shown if WebGL2 is unavailable), `title` (plain text caption).

import { OrbitCamera, UP_AXES } from "./camera.js";
import { createRenderer } from "./renderer.js";
import { createSorter } from "./sort-worker.js";

const BACKGROUND = [0.98, 0.98, 0.98];
const AXES = Object.keys(UP_AXES);

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(0);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const STYLE = `
.vlmrun-splat { position: relative; font: 12px/1.4 system-ui, sans-serif; color: #333;
  border: 1px solid #ddd; border-radius: 6px; overflow: hidden; background: #fafafa;
  max-width: 100%; user-select: none; }
.vlmrun-splat canvas { display: block; width: 100%; cursor: grab; touch-action: none; }
.vlmrun-splat canvas:active { cursor: grabbing; }
.vlmrun-splat .bar { display: flex; gap: 8px; align-items: center; padding: 4px 8px;
  border-top: 1px solid #e5e5e5; background: #fff; }
.vlmrun-splat .bar .title { font-weight: 600; color: #555; }
.vlmrun-splat .bar .title:empty { display: none; }
.vlmrun-splat .bar .info { flex: 1; color: #666; }
.vlmrun-splat button { font: inherit; padding: 1px 8px; border: 1px solid #ccc;
  border-radius: 4px; background: #f6f6f6; cursor: pointer; }
.vlmrun-splat .fallback { padding: 8px; color: #8a5a00; }
.vlmrun-splat .fallback img { display: block; max-width: 100%; margin-top: 6px; }
`;

function packedSplats(model) {
  const raw = bytesOf(model.get("data"));
  const count = Math.min(model.get("count") | 0, Math.floor(raw.byteLength / 32));
  // Uint32 views need 4-byte alignment: copy if the buffer arrived unaligned.
  const aligned = raw.byteOffset % 4 === 0 ? raw : raw.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, count * 8);
  const floats = new Float32Array(aligned.buffer, aligned.byteOffset, count * 8);
  const positions = new Float32Array(count * 3);
  for (let i = 0; i < count; i++) {
    positions[3 * i] = floats[8 * i];
    positions[3 * i + 1] = floats[8 * i + 1];
    positions[3 * i + 2] = floats[8 * i + 2];
  }
  return { words, positions, count };
}

function showFallback(root, model, reason) {
  const box = element("div", "fallback", `Interactive 3D view unavailable (${reason}).`);
  const png = bytesOf(model.get("preview"));
  if (png.byteLength) {
    const img = element("img");
    img.alt = "static preview of the splats";
    img.src = URL.createObjectURL(new Blob([png], { type: "image/png" }));
    box.appendChild(img);
  }
  root.appendChild(box);
}

function render({ model, el }) {
  const root = element("div", "vlmrun-splat");
  const style = element("style");
  style.textContent = STYLE;
  root.appendChild(style);
  el.appendChild(root);

  const { words, positions, count } = packedSplats(model);
  const canvas = element("canvas");
  canvas.setAttribute("aria-label", "3D Gaussian splat viewer");
  root.appendChild(canvas);
  const bar = element("div", "bar");
  const title = element("span", "title", model.get("title") || "");
  const info = element("span", "info");
  const upButton = element("button", "up");
  upButton.title = "Which axis points up";
  const resetButton = element("button", "reset", "reset view");
  bar.append(title, info, upButton, resetButton);
  root.appendChild(bar);

  let renderer;
  try {
    renderer = createRenderer(canvas, words, count);
  } catch (err) {
    canvas.remove();
    showFallback(root, model, err.message);
    return () => root.remove();
  }

  const camera = new OrbitCamera({
    center: model.get("center"),
    radius: model.get("radius"),
    up: model.get("up"),
  });
  const total = model.get("total") || count;
  const describe = () => {
    const shown = count === total ? "" : ` (showing ${count.toLocaleString("en-US")})`;
    info.textContent = `${total.toLocaleString("en-US")} splats${shown} · drag to orbit, right-drag to pan, wheel to zoom`;
    upButton.textContent = `up: ${camera.up}`;
  };
  describe();

  let frames = 0;
  let sorted = false;
  let queued = false;
  const draw = () => {
    queued = false;
    renderer.draw(camera, model.get("cov_unit"), BACKGROUND);
    if (sorted) {
      frames += 1;
      root.dataset.frames = String(frames); // lets tests wait for a real frame
    }
  };
  const redraw = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(draw);
    }
  };
  const sorter = createSorter(positions, (order) => {
    renderer.setOrder(order);
    sorted = true;
    redraw();
  });
  const resort = () => {
    const { eye, forward } = camera.view();
    sorter.request(eye, forward);
    redraw();
  };
  root.dataset.sortInWorker = String(sorter.inWorker());

  const resize = () => {
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    const width = Math.max(1, Math.round((el.clientWidth || 640) * ratio));
    const height = Math.max(1, Math.round((model.get("height") || 420) * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.height = `${model.get("height") || 420}px`;
      redraw();
    }
  };
  resize();
  const observer = typeof ResizeObserver === "function" ? new ResizeObserver(resize) : null;
  if (observer) observer.observe(el);

  // Pointer controls.
  let drag = null;
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());
  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, pan: event.button === 2 || event.shiftKey };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    if (drag.pan) camera.pan(dx, dy, canvas.clientHeight || 1);
    else camera.orbit(dx, dy);
    resort();
  });
  const endDrag = () => {
    drag = null;
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      camera.zoom(Math.exp(event.deltaY * 0.0015));
      redraw();
    },
    { passive: false },
  );
  canvas.addEventListener("dblclick", () => {
    camera.reset();
    resort();
  });
  resetButton.addEventListener("click", () => {
    camera.reset();
    resort();
  });
  upButton.addEventListener("click", () => {
    const next = AXES[(AXES.indexOf(camera.up) + 1) % AXES.length];
    model.set("up", next);
    model.save_changes();
  });
  const onUp = () => {
    camera.setUp(model.get("up"));
    describe();
    resort();
  };
  model.on("change:up", onUp);
  resort();

  return () => {
    model.off("change:up", onUp);
    if (observer) observer.disconnect();
    sorter.dispose();
    renderer.dispose();
    root.remove();
  };
}

export default { render };
