// The anywidget front end of `vlmrun_jupyter.splat.viewer.SplatViewer`: an interactive
// WebGL2 view of 3D Gaussian splats. Drag to orbit, right-drag (or shift-drag) to pan,
// wheel to zoom, double-click to reset; the up-axis button cycles y, -y, z, -z.
//
// It lives inside JupyterLab, so: every colour comes from the theme's CSS variables
// (light fallbacks elsewhere) and the WebGL clear colour follows the computed background;
// right-drag pans without JupyterLab's context menu (data-jp-suppress-context-menu); the
// wheel zooms only once the viewer was clicked (or with Ctrl held), so over an idle
// viewer the notebook scrolls; the canvas takes keyboard focus (arrows orbit,
// shift+arrows pan, +/- zoom, 0 or Home resets, Escape lets go) and notebook shortcuts
// stay away from it (data-lm-suppress-shortcuts); the caption is selectable text.
//
// Model traits (set by Python): `count`, `total` (splats in the file), `center`, `radius`,
// `cov_unit`, `up`, `height`, `preview` (PNG bytes shown where the viewer cannot run),
// `title` (plain text caption). The splats themselves are not model state (a saved
// notebook would carry them): each view asks the kernel with a "splats?" message and
// gets one binary buffer back, 32 bytes per splat (see renderer.js). Without a kernel
// (say, widget state restored from a saved notebook) the view shows `preview`.

import { OrbitCamera, UP_AXES } from "./camera.js";
import { createRenderer } from "./renderer.js";
import { createSorter } from "./sort-worker.js";
import { blobUrl, bytesOf, CONTROL_CSS, element, FRAME_CSS, pixelRatio, PATIENCE_MS, plainKey } from "./dom.js";

const FALLBACK_BACKGROUND = [0.98, 0.98, 0.98];
const AXES = Object.keys(UP_AXES);

const STYLE = `
.vlmrun-splat { position: relative; ${FRAME_CSS} }
.vlmrun-splat canvas { display: block; width: 100%; cursor: grab; touch-action: none;
  user-select: none; outline: none; }
.vlmrun-splat canvas:active { cursor: grabbing; }
.vlmrun-splat.engaged { border-color: var(--jp-brand-color1, #1976d2); }
.vlmrun-splat .bar { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center;
  padding: 4px 8px; border-top: 1px solid var(--jp-border-color2, #e5e5e5);
  background: var(--jp-layout-color0, #fff); user-select: text; cursor: auto; }
.vlmrun-splat .bar .title { font-weight: 600; color: var(--jp-ui-font-color1, #333); }
.vlmrun-splat .bar .title:empty { display: none; }
.vlmrun-splat .bar .info { flex: 1; color: var(--jp-ui-font-color2, #555); }
.vlmrun-splat button { ${CONTROL_CSS} padding: 1px 8px; cursor: pointer; user-select: none; }
.vlmrun-splat button:hover { background: var(--jp-layout-color3, #ddd); }
.vlmrun-splat button:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); }
.vlmrun-splat img.picture { display: block; max-width: 100%; margin: 0 auto; }
.vlmrun-splat.unavailable .bar .info { color: var(--jp-warn-color0, #8a5a00); }
`;

// The WebGL clear colour: the viewer's computed (theme) background as 0-1 RGB.
function backgroundOf(node) {
  const match = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)/.exec(getComputedStyle(node).backgroundColor);
  return match ? [1, 2, 3].map((i) => Number(match[i]) / 255) : FALLBACK_BACKGROUND;
}

// Ask the kernel for the splats: `onSplats(bytes)` when they come; `onTrouble(reason)`
// if the request cannot be sent. A kernel busy with other cells answers late, so there
// is no deadline here.
function requestSplats(model, onSplats, onTrouble) {
  const onMessage = (msg, buffers) => {
    if (!msg || msg.type !== "splats") return;
    model.off("msg:custom", onMessage);
    onSplats(bytesOf(buffers && buffers[0]));
  };
  model.on("msg:custom", onMessage);
  try {
    model.send({ type: "splats?" });
  } catch (err) {
    onTrouble("no kernel is connected");
  }
  return () => model.off("msg:custom", onMessage);
}

function unpackSplats(raw, declared) {
  const count = Math.min(declared | 0, Math.floor(raw.byteLength / 32));
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

// The static picture (from Python's preview), shown until the interactive view runs and
// instead of it wherever it cannot.
function picture(model) {
  const png = bytesOf(model.get("preview"));
  if (!png.byteLength) return null;
  const img = element("img", "picture");
  img.alt = "static preview of the splats";
  img.src = blobUrl(png, "image/png");
  return img;
}

function render({ model, el }) {
  const root = element("div", "vlmrun-splat");
  // JupyterLab's own context menu and notebook shortcuts stay off the viewer.
  root.setAttribute("data-jp-suppress-context-menu", "true");
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.appendChild(element("style", "", STYLE));
  el.appendChild(root);
  const still = picture(model);
  if (still) root.appendChild(still);
  const bar = element("div", "bar");
  const title = element("span", "title", model.get("title") || "");
  const total = model.get("total") || model.get("count") || 0;
  const info = element("span", "info", `loading ${total.toLocaleString("en-US")} splats…`);
  const upButton = element("button", "up");
  upButton.title = "Which axis points up";
  const resetButton = element("button", "reset", "reset view");
  upButton.hidden = resetButton.hidden = true;
  bar.append(title, info, upButton, resetButton);
  root.appendChild(bar);

  let cleanup = null;
  const unavailable = (reason) => {
    if (cleanup) return;
    info.textContent = `Interactive 3D view unavailable: ${reason}.`;
    root.classList.add("unavailable");
  };
  const timer = setTimeout(() => {
    info.textContent = "waiting for the kernel to send the splats (if it restarted, run the cell again)";
  }, PATIENCE_MS);
  const stopListening = requestSplats(
    model,
    (raw) => {
      clearTimeout(timer);
      const canvas = element("canvas");
      canvas.setAttribute("aria-label", "3D Gaussian splat viewer: click, then arrows orbit, +/- zoom, 0 resets");
      canvas.tabIndex = 0;
      canvas.setAttribute("data-lm-suppress-shortcuts", "true"); // checked from the target up
      root.insertBefore(canvas, bar);
      try {
        cleanup = start({ model, el, root, canvas, info, upButton, resetButton }, raw);
        if (still) still.remove();
        upButton.hidden = resetButton.hidden = false;
      } catch (err) {
        canvas.remove();
        unavailable(err.message);
      }
    },
    (reason) => {
      clearTimeout(timer);
      unavailable(reason);
    },
  );
  return () => {
    clearTimeout(timer);
    stopListening();
    if (cleanup) cleanup();
    root.remove();
  };
}

// The interactive part, once the splats have arrived.
function start({ model, el, root, canvas, info, upButton, resetButton }, raw) {
  const { words, positions, count } = unpackSplats(raw, model.get("count"));
  const resize = () => {
    const ratio = pixelRatio();
    const width = Math.max(1, Math.round((el.clientWidth || 640) * ratio));
    const height = Math.max(1, Math.round((model.get("height") || 420) * ratio));
    canvas.style.height = `${model.get("height") || 420}px`;
    if (canvas.width === width && canvas.height === height) return false;
    canvas.width = width;
    canvas.height = height;
    return true;
  };
  resize();
  const renderer = createRenderer(canvas, words, count);
  const camera = new OrbitCamera({
    center: model.get("center"),
    radius: model.get("radius"),
    up: model.get("up"),
  });
  const total = model.get("total") || count;
  const describe = () => {
    const shown = count === total ? "" : ` (showing ${count.toLocaleString("en-US")})`;
    info.textContent = `${total.toLocaleString("en-US")} splats${shown} · drag to orbit, right-drag to pan, click then wheel or keys to zoom`;
    upButton.textContent = `up: ${camera.up}`;
  };
  describe();

  let frames = 0;
  let sorted = false;
  let queued = false;
  const draw = () => {
    queued = false;
    renderer.draw(camera, model.get("cov_unit"), backgroundOf(root));
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
  const observer =
    typeof ResizeObserver === "function" ? new ResizeObserver(() => resize() && redraw()) : null;
  if (observer) observer.observe(el);

  // Pointer controls. "Engaged" (after a click on the canvas, until a click elsewhere or
  // Escape) is when the wheel belongs to the viewer rather than to the page.
  let drag = null;
  let engaged = false;
  const engage = (on) => {
    engaged = on;
    root.classList.toggle("engaged", on);
  };
  const onOutside = (event) => {
    if (engaged && !root.contains(event.target)) engage(false);
  };
  document.addEventListener("pointerdown", onOutside, true);
  canvas.addEventListener("contextmenu", (event) => {
    event.preventDefault();
    event.stopPropagation();
  });
  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, pan: event.button === 2 || event.shiftKey };
    canvas.setPointerCapture(event.pointerId);
    engage(true);
    canvas.focus({ preventScroll: true });
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
      if (!engaged && !event.ctrlKey) return; // the page scrolls
      event.preventDefault();
      camera.zoom(Math.exp(event.deltaY * 0.0015));
      redraw();
    },
    { passive: false },
  );
  const reset = () => {
    camera.reset();
    resort();
  };
  const STEP = 24; // pixels of drag per key press
  const keys = {
    ArrowLeft: (pan) => (pan ? camera.pan(-STEP, 0, canvas.clientHeight || 1) : camera.orbit(-STEP, 0)),
    ArrowRight: (pan) => (pan ? camera.pan(STEP, 0, canvas.clientHeight || 1) : camera.orbit(STEP, 0)),
    ArrowUp: (pan) => (pan ? camera.pan(0, -STEP, canvas.clientHeight || 1) : camera.orbit(0, -STEP)),
    ArrowDown: (pan) => (pan ? camera.pan(0, STEP, canvas.clientHeight || 1) : camera.orbit(0, STEP)),
    "+": () => camera.zoom(0.85),
    "=": () => camera.zoom(0.85),
    "-": () => camera.zoom(1 / 0.85),
    0: () => camera.reset(),
    Home: () => camera.reset(),
  };
  canvas.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      engage(false);
      canvas.blur();
    } else if (keys[event.key] && plainKey(event)) {
      keys[event.key](event.shiftKey);
      resort();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });
  canvas.addEventListener("dblclick", reset);
  resetButton.addEventListener("click", reset);
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
  // A theme switch changes the background: draw again (JupyterLab marks <body>).
  const themeWatch = new MutationObserver(redraw);
  themeWatch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"] });
  resort();

  return () => {
    model.off("change:up", onUp);
    document.removeEventListener("pointerdown", onOutside, true);
    themeWatch.disconnect();
    if (observer) observer.disconnect();
    sorter.dispose();
    renderer.dispose();
  };
}

export default { render };
