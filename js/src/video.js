// The anywidget front end of `vlmrun_jupyter.player.video.VideoPlayer`: a video of any
// size played and seeked in a live kernel, with frame stepping and the current time.
//
// The video's bytes are not widget state (a saved notebook would carry them): once the
// view is on screen it asks the kernel ("open?"), then fetches the file in chunks
// ("chunk?" offset/length, a few in flight), each one binary buffer, and plays the
// assembled Blob in its own <video>, so seeking and frame stepping are exact. The kernel
// may first make a playable copy ("progress" messages until "ready"). Replies carry this
// view's id, so several views of one widget each get their own stream. A "poster?"
// first brings the first frame as a JPEG, shown while the video loads.
//
// The faster path: "ready" may also name the file relative to the kernel's cache
// directory, with a tag. In a Jupyter page (Lab, Notebook 7: `#jupyter-config-data`
// gives the server's base URL) whose server runs vlmrun_jupyter's extension, the view
// HEADs `<base>vlmrun/cache/<name>`; when the size and the ETag (the tag) match, the
// <video> plays that URL (the browser streams it with Range requests: playable after
// the first bytes, seeks fetch what they need). Anything else (no extension, another
// cache directory, a refusal, or the <video> failing on it before its first frame)
// falls back to the chunks. `data-via` says which: "http" or "comm".
//
// Controls: play/pause, previous/next frame (using the stream's frame rate from PyAV),
// a seek bar, the current time as mm:ss.mmm and the frame number. Once the player has
// focus (click it): space or k plays/pauses, , and . (or the left/right arrows) step one
// frame, shift+arrows jump 5 s, Home/End go to the ends; notebook shortcuts stay away
// (data-lm-suppress-shortcuts). Every colour is a JupyterLab theme variable (with light
// fallbacks elsewhere); the caption is selectable text. `data-state` on the root says
// where it is (waiting, loading, ready, error); `data-poster-ms`, `data-open-ms`,
// `data-loaded-ms` and `data-first-frame-ms` how long the poster, the kernel's "ready",
// the last chunk and the first playable frame took from the first request: the browser
// tests read them.

import { blobUrl, CONTROL_CSS, element, FRAME_CSS, PATIENCE_MS, plainKey } from "./dom.js";

const IN_FLIGHT = 3; // chunk requests outstanding at once (hides the round trip)
const EAGER_BYTES = 32 * 1024 * 1024; // smaller videos load at once, larger once seen

const STYLE = `
.vlmrun-video { ${FRAME_CSS} outline: none; }
.vlmrun-video:focus-visible, .vlmrun-video.engaged { border-color: var(--jp-brand-color1, #1976d2); }
.vlmrun-video .stage { position: relative; background: #000; display: flex;
  align-items: center; justify-content: center; min-height: 120px; }
.vlmrun-video video { display: block; width: 100%; max-height: 540px; background: #000; }
.vlmrun-video .status { position: absolute; left: 50%; top: 50%; transform: translate(-50%, -50%);
  max-width: 90%; box-sizing: border-box; text-align: center; padding: 8px 16px; color: #f2f2f2;
  background: rgba(0, 0, 0, 0.72); border-radius: 6px; }
.vlmrun-video .status:empty { display: none; }
.vlmrun-video .status .meter { display: block; margin: 8px auto 0; width: 220px; max-width: 100%; height: 4px;
  background: #555; border-radius: 2px; overflow: hidden; }
.vlmrun-video .status .meter > span { display: block; height: 100%; width: 0;
  background: var(--jp-brand-color1, #1976d2); }
.vlmrun-video.error .status { color: #ffb4a9; }
.vlmrun-video .bar { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center;
  padding: 4px 8px; border-top: 1px solid var(--jp-border-color2, #e5e5e5);
  background: var(--jp-layout-color0, #fff); user-select: text; }
.vlmrun-video .bar .seek { flex: 1 1 200px; min-width: 120px; margin: 0;
  accent-color: var(--jp-brand-color1, #1976d2); }
.vlmrun-video .bar .time { font-family: var(--jp-code-font-family, monospace);
  color: var(--jp-ui-font-color1, #333); white-space: nowrap; }
.vlmrun-video .bar .frame { color: var(--jp-ui-font-color2, #555); white-space: nowrap; }
.vlmrun-video .caption { display: flex; gap: 8px; padding: 2px 8px 4px;
  background: var(--jp-layout-color0, #fff); user-select: text; }
.vlmrun-video .caption .title { font-weight: 600; color: var(--jp-ui-font-color1, #333); }
.vlmrun-video .caption .title:empty { display: none; }
.vlmrun-video .caption .info { color: var(--jp-ui-font-color2, #555); }
.vlmrun-video button { ${CONTROL_CSS} min-width: 30px; padding: 2px 8px; line-height: 0;
  cursor: pointer; user-select: none; }
.vlmrun-video button:hover:not(:disabled) { background: var(--jp-layout-color3, #ddd); }
.vlmrun-video button:disabled { opacity: 0.5; cursor: default; }
.vlmrun-video button:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); }
`;

// 75.5 -> "01:15.500", 3725.25 -> "1:02:05.250" (milliseconds truncated, as players do).
export function clock(seconds) {
  const ms = Math.max(0, Math.floor((Number.isFinite(seconds) ? seconds : 0) * 1000 + 1e-6));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (v, n = 2) => String(v).padStart(n, "0");
  const body = `${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
  return h ? `${h}:${body}` : body;
}

// Button icons as inline SVG in the text colour (fonts here lack the media glyphs).
const ICONS = {
  prev: "M3 2h2.2v12H3z M14 2 6.5 8 14 14z",
  next: "M10.8 2H13v12h-2.2z M2 2 9.5 8 2 14z",
  play: "M4 2 14 8 4 14z",
  pause: "M3.5 2h3v12h-3z M9.5 2h3v12h-3z",
};

function icon(button, name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  button.replaceChildren(svg);
}

function megabytes(n) {
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

const MEDIA_ERRORS = {
  1: "playback was aborted",
  2: "a network error interrupted it",
  3: "the video could not be decoded (a damaged file, or a codec this browser lacks)",
  4: "this browser cannot play this format",
};

// Fetch the file in chunks over the widget's comm and hand back a Blob URL. `whenSeen`
// resolves once the player is on screen: a large file waits for it, so a notebook of
// many large videos loads the ones looked at.
// The server's base URL ("/" or "/user/x/"), or "" outside a Jupyter page.
function jupyterBase() {
  try {
    const node = document.getElementById("jupyter-config-data");
    const base = node ? String(JSON.parse(node.textContent || "{}").baseUrl || "") : "";
    return base.startsWith("/") ? (base.endsWith("/") ? base : `${base}/`) : "";
  } catch (err) {
    return "";
  }
}

// The URL the Jupyter server serves this file at, or "" when it does not (or not this very
// file: the ETag is the kernel's tag for it, the length its size).
async function servedUrl(name, tag, size) {
  const base = jupyterBase();
  if (!base || !name || !tag || typeof fetch !== "function") return "";
  const path = String(name).split("/").map(encodeURIComponent).join("/");
  const url = new URL(`${base}vlmrun/cache/${path}`, window.location.origin).href;
  try {
    const res = await fetch(url, { method: "HEAD", credentials: "same-origin", cache: "no-store" });
    const same =
      res.status === 200 &&
      res.headers.get("ETag") === `"${tag}"` &&
      Number(res.headers.get("Content-Length")) === size;
    return same ? url : "";
  } catch (err) {
    return "";
  }
}

function createStream(model, viewId, handlers, whenSeen) {
  let size = 0;
  let mime = "video/mp4";
  let parts = null;
  let next = 0;
  let received = 0;
  let inFlight = 0;
  let done = false;
  let heard = false;
  const chunk = Math.max(256 * 1024, model.get("chunk") | 0);

  const ask = () => {
    while (!done && inFlight < IN_FLIGHT && next < size) {
      model.send({ type: "chunk?", view: viewId, offset: next, length: Math.min(chunk, size - next) });
      next += chunk;
      inFlight += 1;
    }
  };
  const onMessage = (msg, buffers) => {
    if (!msg || msg.view !== viewId || done) return;
    heard = true;
    if (msg.type === "poster") {
      const data = buffers && buffers[0];
      if (data && data.byteLength) handlers.poster(data);
    } else if (msg.type === "progress") {
      handlers.progress(msg.message || "preparing", Number(msg.fraction) || 0);
    } else if (msg.type === "error") {
      done = true;
      handlers.error(String(msg.message || "the kernel could not send the video"));
    } else if (msg.type === "ready") {
      size = Number(msg.size) || 0;
      mime = String(msg.mime || mime);
      handlers.opened();
      if (!size) {
        done = true;
        handlers.error("the video file is empty");
        return;
      }
      parts = new Array(Math.ceil(size / chunk));
      const copy = Boolean(msg.copy);
      const viaComm = () => {
        if (done) return;
        handlers.via("comm");
        handlers.loading(0, size, copy);
        ask();
      };
      const seen = size <= EAGER_BYTES ? Promise.resolve() : whenSeen;
      servedUrl(msg.url, msg.tag, size).then((url) => {
        if (done) return;
        if (!url) return seen.then(viaComm);
        handlers.via("http");
        return seen.then(() => {
          if (!done) handlers.direct(url, viaComm);
        });
      });
    } else if (msg.type === "chunk") {
      inFlight -= 1;
      const data = buffers && buffers[0];
      const bytes = data ? data.byteLength : 0;
      const index = Math.floor(Number(msg.offset) / chunk);
      if (Number(msg.size) !== size || !bytes || !parts || index >= parts.length) {
        done = true;
        handlers.error("the video changed in the cache while it was being sent: display the ref again");
        return;
      }
      if (!parts[index]) received += bytes;
      parts[index] = data;
      handlers.loading(received, size);
      if (received >= size) {
        done = true;
        const blob = new Blob(parts, { type: mime });
        parts = null;
        handlers.complete(URL.createObjectURL(blob));
      } else {
        ask();
      }
    }
  };
  model.on("msg:custom", onMessage);
  try {
    model.send({ type: "poster?", view: viewId });
    model.send({ type: "open?", view: viewId });
  } catch (err) {
    handlers.error("no kernel is connected: run the cell again to play the video");
  }
  const timer = setTimeout(() => {
    if (!heard && !done) handlers.progress("waiting for the kernel (is a cell still running?)", 0);
  }, PATIENCE_MS);
  return () => {
    done = true;
    clearTimeout(timer);
    model.off("msg:custom", onMessage);
  };
}

function render({ model, el }) {
  const viewId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const root = element("div", "vlmrun-video");
  root.tabIndex = 0;
  root.dataset.state = "waiting";
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", "video player");

  const stage = element("div", "stage");
  const video = element("video");
  video.preload = "auto";
  video.playsInline = true;
  video.tabIndex = -1;
  const width = model.get("width") | 0;
  const height = model.get("height") | 0;
  if (width > 0 && height > 0) video.style.aspectRatio = `${width} / ${height}`;
  // a small video is shown up to twice its size, not stretched over the whole output
  if (width > 0) root.style.maxWidth = `${Math.max(640, width)}px`;
  const status = element("div", "status");
  status.setAttribute("role", "status");
  stage.append(video, status);

  const bar = element("div", "bar");
  const prev = element("button", "prev");
  const play = element("button", "play");
  const nextBtn = element("button", "next");
  icon(prev, "prev");
  icon(play, "play");
  icon(nextBtn, "next");
  prev.title = "previous frame (, or \u2190)";
  nextBtn.title = "next frame (. or \u2192)";
  play.title = "play / pause (space or k)";
  prev.setAttribute("aria-label", "previous frame");
  nextBtn.setAttribute("aria-label", "next frame");
  play.setAttribute("aria-label", "play");
  const seek = element("input", "seek");
  seek.type = "range";
  seek.min = "0";
  seek.step = "any";
  seek.value = "0";
  seek.setAttribute("aria-label", "seek");
  const time = element("span", "time", `${clock(0)} / ${clock(model.get("duration"))}`);
  const frameText = element("span", "frame", "");
  bar.append(prev, play, nextBtn, seek, time, frameText);
  const caption = element("div", "caption");
  const title = element("span", "title", model.get("title") || "");
  const info = element("span", "info", "");
  caption.append(title, info);
  // the style goes last: the output's text starts with the caption, not with CSS
  root.append(stage, bar, caption, element("style", "", STYLE));
  el.appendChild(root);
  for (const b of [prev, play, nextBtn]) b.disabled = true;
  seek.disabled = true;

  const fps = () => {
    const rate = Number(model.get("fps"));
    return rate > 0 && rate < 1000 ? rate : 30;
  };
  const duration = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : Number(model.get("duration")) || 0);
  const frameOf = (t) => Math.floor(t * fps() + 1e-3);

  const setStatus = (text, fraction) => {
    status.textContent = text;
    if (fraction !== undefined) {
      const meter = element("span", "meter");
      const fill = element("span");
      fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
      meter.appendChild(fill);
      status.appendChild(meter);
    }
  };
  const fail = (message) => {
    root.dataset.state = "error";
    root.classList.add("error");
    status.setAttribute("role", "alert");
    setStatus(message);
    for (const b of [prev, play, nextBtn]) b.disabled = true;
    seek.disabled = true;
  };

  const describe = () => {
    const t = video.currentTime || 0;
    time.textContent = `${clock(t)} / ${clock(duration())}`;
    const total = Math.max(1, Math.round(duration() * fps()));
    frameText.textContent = `frame ${Math.min(frameOf(t) + 1, total)} / ${total}`;
    if (!dragging) seek.value = String(t);
    root.dataset.time = String(t);
  };
  let dragging = false;
  let tick = 0;
  const loop = () => {
    describe();
    tick = video.paused ? 0 : requestAnimationFrame(loop);
  };

  const facts = [];
  if (width && height) facts.push(`${width}\u00D7${height}`);
  if (model.get("fps") > 0) facts.push(`${Number(model.get("fps")).toFixed(3).replace(/\.?0+$/, "")} fps`);
  if (model.get("note")) facts.push(`plays ${model.get("note")}`);
  info.textContent = facts.join(" \u00B7 ");

  let url = "";
  let posterUrl = "";
  let stop = null;
  let fallback = null; // from the server's URL back to the chunks, until the first frame
  let started = 0;
  const start = (whenSeen) => {
    if (stop) return;
    started = performance.now();
    root.dataset.state = "loading";
    setStatus("asking the kernel for the video", 0);
    stop = createStream(model, viewId, {
      progress: (message, fraction) =>
        setStatus(fraction > 0 ? `${message} ${Math.round(fraction * 100)}%` : message, fraction),
      loading: (got, size, copy) => {
        setStatus(`loading ${copy ? "the playable copy " : ""}${megabytes(got)} of ${megabytes(size)}`, got / size);
      },
      error: fail,
      poster: (data) => {
        if (url || root.dataset.state === "error") return;
        posterUrl = blobUrl(data, "image/jpeg");
        video.poster = posterUrl;
        root.dataset.posterMs = String(Math.round(performance.now() - started));
      },
      opened: () => {
        root.dataset.openMs = String(Math.round(performance.now() - started));
      },
      via: (how) => {
        root.dataset.via = how;
      },
      direct: (serverUrl, back) => {
        url = serverUrl;
        fallback = back;
        setStatus("opening");
        video.src = url;
      },
      complete: (blobUrl) => {
        root.dataset.loadedMs = String(Math.round(performance.now() - started));
        url = blobUrl;
        setStatus("opening");
        video.src = url;
      },
    }, whenSeen);
  };

  video.addEventListener("loadeddata", () => {
    if (root.dataset.state === "error") return;
    fallback = null;
    root.dataset.state = "ready";
    root.dataset.firstFrameMs = String(Math.round(performance.now() - started));
    setStatus("");
    for (const b of [prev, play, nextBtn]) b.disabled = false;
    seek.disabled = false;
    seek.max = String(duration());
    describe();
  });
  video.addEventListener("error", () => {
    const e = video.error;
    if (!url) return;
    if (fallback) {
      const back = fallback;
      fallback = null;
      url = "";
      video.removeAttribute("src");
      back();
      return;
    }
    fail(`The browser could not play this video: ${MEDIA_ERRORS[e && e.code] || "unknown error"}${e && e.message ? ` (${e.message})` : ""}.`);
  });
  video.addEventListener("durationchange", () => {
    seek.max = String(duration());
    describe();
  });
  video.addEventListener("play", () => {
    icon(play, "pause");
    play.setAttribute("aria-label", "pause");
    if (!tick) tick = requestAnimationFrame(loop);
  });
  video.addEventListener("pause", () => {
    icon(play, "play");
    play.setAttribute("aria-label", "play");
    describe();
  });
  for (const name of ["timeupdate", "seeked", "ended"]) video.addEventListener(name, describe);

  const toggle = () => {
    if (root.dataset.state !== "ready") return;
    if (video.paused || video.ended) video.play().catch((err) => fail(`The browser refused to play: ${err.message}`));
    else video.pause();
  };
  const seekTo = (t) => {
    if (root.dataset.state !== "ready") return;
    video.currentTime = Math.max(0, Math.min(duration(), t));
    describe();
  };
  // A frame step lands a hair (0.1 ms) past the frame's start, so rounding in the media
  // pipeline never shows the frame before; the time shown is that frame's start.
  const step = (delta) => {
    if (root.dataset.state !== "ready") return;
    video.pause();
    const last = Math.max(0, Math.round(duration() * fps()) - 1);
    const target = Math.max(0, Math.min(last, frameOf(video.currentTime) + delta));
    seekTo(target / fps() + 1e-4);
  };
  play.addEventListener("click", toggle);
  prev.addEventListener("click", () => step(-1));
  nextBtn.addEventListener("click", () => step(1));
  video.addEventListener("click", () => {
    root.focus({ preventScroll: true });
    toggle();
  });
  seek.addEventListener("input", () => {
    dragging = true;
    seekTo(Number(seek.value));
  });
  seek.addEventListener("change", () => {
    dragging = false;
    seekTo(Number(seek.value));
  });

  const keys = {
    " ": () => toggle(),
    k: () => toggle(),
    ",": () => step(-1),
    ".": () => step(1),
    ArrowLeft: (shift) => (shift ? seekTo(video.currentTime - 5) : step(-1)),
    ArrowRight: (shift) => (shift ? seekTo(video.currentTime + 5) : step(1)),
    Home: () => seekTo(0),
    End: () => seekTo(duration()),
  };
  root.addEventListener("keydown", (event) => {
    const action = keys[event.key];
    if (!action || !plainKey(event)) return;
    if (event.target instanceof HTMLButtonElement && (event.key === " " || event.key === "Enter")) return;
    action(event.shiftKey);
    event.preventDefault();
    event.stopPropagation();
  });
  const onOutside = (event) => root.classList.toggle("engaged", root.contains(event.target));
  document.addEventListener("pointerdown", onOutside, true);

  // Ask at once (a copy may need making); large files stream once the player is seen.
  let observer = null;
  const whenSeen = new Promise((resolve) => {
    if (typeof IntersectionObserver !== "function") return resolve();
    observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        observer.disconnect();
        observer = null;
        resolve();
      }
    });
    observer.observe(root);
  });
  start(whenSeen);

  return () => {
    if (observer) observer.disconnect();
    if (stop) stop();
    if (tick) cancelAnimationFrame(tick);
    document.removeEventListener("pointerdown", onOutside, true);
    video.removeAttribute("src");
    video.load();
    if (url.startsWith("blob:")) URL.revokeObjectURL(url);
    if (posterUrl) URL.revokeObjectURL(posterUrl);
  };
}

export default { render };
