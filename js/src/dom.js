// What the three viewers (index.js: splats, document.js: PDF pages, video.js: the video
// player) build their views from, kept here once so that they look and behave alike in
// JupyterLab: the same frame and controls in the theme's colours, the same handling of
// binary buffers from the kernel. esbuild copies what each bundle uses into it, so a
// viewer's bundle stays one self-contained file.

// The frame every viewer sits in: JupyterLab's font and colours (light fallbacks outside
// it), a rounded border, no wider than the output area. CSS declarations, for a rule.
export const FRAME_CSS = `font: 12px/1.4 var(--jp-ui-font-family, system-ui, sans-serif);
  color: var(--jp-ui-font-color1, #333); border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 6px; overflow: hidden; background: var(--jp-layout-color1, #fafafa);
  max-width: 100%;`;

// Buttons (and the PDF viewer's inputs) in the theme's colours. CSS declarations.
export const CONTROL_CSS = `font: inherit; color: var(--jp-ui-font-color1, #333);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 4px;
  background: var(--jp-layout-color2, #eee);`;

// How long a viewer waits for the kernel's first answer before saying it has not answered
// (it keeps listening: a kernel busy with other cells answers late).
export const PATIENCE_MS = 10_000;

// A binary buffer from a comm message or a Bytes trait (a DataView, a typed array or an
// ArrayBuffer, depending on the front end) as bytes; nothing becomes no bytes.
export function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(0);
}

// A URL an <img> or <video> can show the bytes at (the caller revokes it when done).
export function blobUrl(buffer, mime) {
  return URL.createObjectURL(new Blob([bytesOf(buffer)], { type: mime }));
}

// <tag class="className">text</tag>; text is set as text, never parsed as HTML.
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Device pixels per CSS pixel, at most 2: sharper pictures on high-density screens
// without asking the kernel for (or drawing) four times the pixels beyond that.
export function pixelRatio() {
  return Math.min(window.devicePixelRatio || 1, 2);
}

// A key press the viewer may take: none of Ctrl, Cmd or Alt held (those belong to the
// browser and JupyterLab).
export function plainKey(event) {
  return !event.ctrlKey && !event.metaKey && !event.altKey;
}
