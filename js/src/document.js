// The anywidget front end of `vlmrun_jupyter.document.viewer.DocumentViewer`: every page
// of a PDF, one at a time. Next/previous buttons, a page number box, keys when the viewer
// has focus (arrows, PageUp/PageDown, Home/End; +/- zoom, 0 fits the page, w the width), a strip of
// thumbnails, a layer of selectable text over the page and a search box listing the
// pages that hold the words.
//
// Pages are not model state (a saved notebook would carry them). The view asks the
// kernel: "info?" (page sizes), "page?"/"thumb?" {index, edge} (the longest side in
// device pixels, device pixel ratio capped at 2; answered with JPEG bytes in a binary
// buffer), "text?" {index} (text runs in points) and "search?" {query}. Answers carry the
// request's `seq`, so a late answer for a page no longer shown is dropped.
//
// Colours come from JupyterLab's CSS variables (light fallbacks elsewhere); the page
// itself stays white paper. Model traits: `count`, `page` (1-based, two-way), `height`,
// `title` (plain text), `preview` (JPEG shown until the kernel answers, or instead).

import { blobUrl, bytesOf, CONTROL_CSS, element, FRAME_CSS, pixelRatio, PATIENCE_MS, plainKey } from "./dom.js";

const THUMB_CSS = 96; // thumbnail width in CSS pixels
const THUMBS_IN_FLIGHT = 3;
const KEEP_PAGES = 24; // page pictures kept as blob URLs
const ZOOM_STEP = 1.25;

const STYLE = `
.vlmrun-doc { ${FRAME_CSS} outline: none; }
.vlmrun-doc:focus-visible, .vlmrun-doc.engaged { border-color: var(--jp-brand-color1, #1976d2); }
.vlmrun-doc .bar { display: flex; flex-wrap: wrap; gap: 4px 6px; align-items: center;
  padding: 4px 8px; border-bottom: 1px solid var(--jp-border-color2, #e5e5e5);
  background: var(--jp-layout-color0, #fff); }
.vlmrun-doc .bar .title { font-weight: 600; margin-left: auto; user-select: text; }
.vlmrun-doc .bar .title:empty { display: none; }
.vlmrun-doc .sep { width: 1px; align-self: stretch; background: var(--jp-border-color2, #ddd); }
.vlmrun-doc button, .vlmrun-doc input { ${CONTROL_CSS} padding: 1px 8px; }
.vlmrun-doc input { background: var(--jp-input-background, var(--jp-layout-color0, #fff)); padding: 1px 4px; }
.vlmrun-doc input.pageno { width: 4.5em; text-align: right; }
.vlmrun-doc input.query { width: 11em; }
.vlmrun-doc button { cursor: pointer; }
.vlmrun-doc button:hover { background: var(--jp-layout-color3, #ddd); }
.vlmrun-doc button:disabled { opacity: 0.45; cursor: default; }
.vlmrun-doc button:focus-visible, .vlmrun-doc input:focus-visible {
  outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: -1px; }
.vlmrun-doc .body { display: flex; position: relative; }
.vlmrun-doc .thumbs { flex: none; width: ${THUMB_CSS + 22}px; overflow-y: auto; padding: 6px 4px;
  box-sizing: border-box; border-right: 1px solid var(--jp-border-color2, #e5e5e5);
  background: var(--jp-layout-color2, #f0f0f0); }
.vlmrun-doc .thumb { display: block; width: ${THUMB_CSS + 6}px; margin: 0 auto 8px; padding: 2px;
  background: transparent; border: 2px solid transparent; color: var(--jp-ui-font-color2, #555); }
.vlmrun-doc .thumb.current { border-color: var(--jp-brand-color1, #1976d2);
  color: var(--jp-ui-font-color0, #000); }
.vlmrun-doc .thumb .sheet { display: block; width: ${THUMB_CSS}px; background: #fff;
  box-shadow: 0 0 0 1px var(--jp-border-color2, #ccc); }
.vlmrun-doc .thumb img { display: block; width: 100%; height: 100%; }
.vlmrun-doc .view { flex: 1; overflow: auto; padding: 8px; box-sizing: border-box; min-width: 0; }
.vlmrun-doc .page { position: relative; margin: 0 auto; background: #fff;
  box-shadow: 0 1px 4px rgba(0, 0, 0, 0.35); }
.vlmrun-doc .page img { display: block; width: 100%; height: 100%; user-select: none; }
.vlmrun-doc .text { position: absolute; inset: 0; overflow: hidden; line-height: 1; }
.vlmrun-doc .text span { position: absolute; white-space: pre; color: transparent;
  transform-origin: 0 0; cursor: text; user-select: text; }
.vlmrun-doc .text span::selection { background: rgba(25, 118, 210, 0.35); color: transparent; }
.vlmrun-doc .text span.hit { background: rgba(255, 193, 7, 0.45); }
.vlmrun-doc .problem { padding: 24px; color: var(--jp-warn-color0, #8a5a00); white-space: pre-wrap; }
.vlmrun-doc .results { flex: none; width: 220px; overflow-y: auto; padding: 6px;
  box-sizing: border-box; border-left: 1px solid var(--jp-border-color2, #e5e5e5);
  background: var(--jp-layout-color0, #fff); }
.vlmrun-doc .results[hidden] { display: none; }
.vlmrun-doc .results button { display: block; width: 100%; text-align: left; margin-bottom: 4px;
  background: transparent; user-select: text; }
.vlmrun-doc .results .head { color: var(--jp-ui-font-color2, #555); margin-bottom: 6px; }
.vlmrun-doc .info { padding: 3px 8px; color: var(--jp-ui-font-color2, #555);
  border-top: 1px solid var(--jp-border-color2, #e5e5e5); background: var(--jp-layout-color0, #fff);
  user-select: text; }
.vlmrun-doc img.still { display: block; max-width: 100%; margin: 8px auto; }
`;

function button(label, title) {
  const node = element("button", "", label);
  node.type = "button";
  node.title = title;
  node.setAttribute("aria-label", title);
  return node;
}

function render({ model, el }) {
  const root = element("div", "vlmrun-doc");
  root.tabIndex = 0;
  root.setAttribute("role", "region");
  root.setAttribute("aria-label", "PDF viewer: arrows or PageUp/PageDown change page, Home/End, +/- zoom");
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // notebook shortcuts stay away
  const style = element("style", "", STYLE);

  // toolbar
  const bar = element("div", "bar");
  const prev = button("‹", "Previous page (Left arrow, PageUp)");
  const pageBox = element("input", "pageno");
  pageBox.type = "number";
  pageBox.min = "1";
  pageBox.setAttribute("aria-label", "Page number; Enter goes there");
  const ofCount = element("span", "of");
  const next = button("›", "Next page (Right arrow, PageDown)");
  const zoomOut = button("−", "Zoom out (-)");
  const fitPage = button("fit page", "The whole page in view (0)");
  const fit = button("fit width", "Fit the page to the width (w)");
  const zoomIn = button("+", "Zoom in (+)");
  const query = element("input", "query");
  query.type = "search";
  query.placeholder = "search text";
  query.setAttribute("aria-label", "Search the document's text; Enter searches");
  const find = button("find", "List the pages holding these words");
  find.classList.add("find");
  const title = element("span", "title", model.get("title") || "");
  bar.append(prev, pageBox, ofCount, next, element("span", "sep"), zoomOut, fitPage, fit, zoomIn);
  bar.append(element("span", "sep"), query, find, title);

  const body = element("div", "body");
  const thumbs = element("div", "thumbs");
  thumbs.setAttribute("aria-label", "Pages");
  const view = element("div", "view");
  const results = element("div", "results");
  results.hidden = true;
  body.append(thumbs, view, results);
  const info = element("div", "info", "asking the kernel for the document…");
  root.append(bar, body, info, style); // the style last: an output's text starts with its own
  el.appendChild(root);

  const state = {
    count: model.get("count") || 0,
    index: Math.max(0, (model.get("page") || 1) - 1),
    sizes: [],
    zoom: null, // null: the whole page in view; "width": fit the width; else a factor of null's size
    seq: 0,
    pending: new Map(), // seq -> what was asked
    pictures: new Map(), // `${index}:${edge}` -> blob URL (LRU by insertion)
    thumbUrls: [],
    thumbQueue: [],
    thumbsInFlight: 0,
    shown: null, // the page element on screen
    hits: [],
    term: "",
    alive: false,
  };

  const setHeight = () => {
    body.style.height = `${model.get("height") || 640}px`;
  };
  setHeight();

  // Before the kernel answers (or if it never does): the stand-in picture.
  const preview = bytesOf(model.get("preview"));
  let still = null;
  if (preview.byteLength) {
    still = element("img", "still");
    still.alt = "first page (static preview)";
    still.src = blobUrl(preview, "image/jpeg");
    view.appendChild(still);
  }

  const send = (msg) => {
    const seq = ++state.seq;
    state.pending.set(seq, msg);
    try {
      model.send({ ...msg, seq });
    } catch (err) {
      info.textContent = "The document viewer needs a running kernel: showing the static preview.";
    }
    return seq;
  };

  const sizeOf = (index) => state.sizes[index] || state.sizes[0] || [612, 792];

  // -- the page on screen -----------------------------------------------------------------
  const layout = () => {
    const [w, h] = sizeOf(state.index);
    const fitWidth = Math.min(Math.max(120, view.clientWidth - 18), 1600);
    const fitPage = Math.min(fitWidth, Math.max(80, ((model.get("height") || 640) - 18) * (w / h)));
    const width = Math.round(
      state.zoom === "width" ? fitWidth : state.zoom ? fitPage * state.zoom : fitPage,
    );
    return { width, height: Math.round((width * h) / w), w, h, fitPage };
  };

  const describe = () => {
    const zoom =
      state.zoom === "width" ? "fit width" : state.zoom ? `zoom ${Math.round(state.zoom * 100)}%` : "fit page";
    const hits = state.hits.length ? ` · ${state.hits.length} page(s) with “${state.term}”` : "";
    info.textContent = `page ${state.index + 1} of ${state.count} · ${zoom}${hits} · click the viewer, then arrows/PageUp/PageDown/Home/End`;
  };

  const showPage = () => {
    if (!state.alive) return;
    const index = state.index;
    const { width, height, w } = layout();
    const sheet = element("div", "page");
    sheet.style.width = `${width}px`;
    sheet.style.height = `${height}px`;
    sheet.dataset.page = String(index + 1);
    const img = element("img");
    img.alt = `page ${index + 1} of ${state.count}`;
    img.dataset.page = String(index + 1);
    const text = element("div", "text");
    text.style.setProperty("--s", String(width / w));
    sheet.append(text); // the picture goes in once it has its bytes (no empty <img>)
    sheet.pageImg = img;
    if (state.shown) state.shown.remove();
    if (still) {
      still.remove();
      still = null;
    }
    view.appendChild(sheet);
    state.shown = sheet;
    const edge = Math.round(Math.max(width, height) * pixelRatio());
    const key = `${index}:${edge}`;
    const cached = state.pictures.get(key);
    if (cached) setPicture(sheet, img, cached, index);
    else send({ type: "page?", index, edge });
    send({ type: "text?", index });
    pageBox.value = String(index + 1);
    prev.disabled = index <= 0;
    next.disabled = index >= state.count - 1;
    for (const node of thumbs.querySelectorAll(".thumb.current")) node.classList.remove("current");
    const thumb = thumbs.children[index];
    if (thumb) {
      thumb.classList.add("current");
      const top = thumb.offsetTop - thumbs.offsetTop;
      if (top < thumbs.scrollTop || top + thumb.offsetHeight > thumbs.scrollTop + thumbs.clientHeight) {
        thumbs.scrollTop = top - 8;
      }
    }
    root.dataset.page = String(index + 1);
    describe();
  };

  const setPicture = (sheet, img, url, index) => {
    img.onload = () => {
      if (state.shown === sheet) root.dataset.shown = String(index + 1); // tests wait on this
    };
    img.src = url;
    if (!img.isConnected) sheet.prepend(img);
  };

  const go = (index) => {
    const target = Math.max(0, Math.min(state.count - 1, index | 0));
    if (target === state.index && state.shown) return;
    state.index = target;
    if (model.get("page") !== target + 1) {
      model.set("page", target + 1);
      model.save_changes();
    }
    showPage();
  };

  const zoomBy = (factor) => {
    if (factor === null || factor === "width") state.zoom = factor;
    else {
      const { width, fitPage } = layout(); // from whatever is shown now
      state.zoom = Math.max(0.25, Math.min(6, (width / fitPage) * factor));
    }
    showPage();
  };

  const fillText = (layer, msg) => {
    layer.textContent = "";
    const [, H] = msg.pt || sizeOf(msg.index);
    const [W] = msg.pt || sizeOf(msg.index);
    const term = state.term.toLocaleLowerCase();
    const spans = [];
    for (const [l, b, r, t, s] of msg.runs || []) {
      const span = element("span", "", s);
      span.style.left = `${(100 * l) / W}%`;
      span.style.top = `${(100 * (H - t)) / H}%`;
      span.style.fontSize = `calc(var(--s) * ${Math.max(1, (t - b) * 0.9).toFixed(2)}px)`;
      if (term && s.toLocaleLowerCase().includes(term)) span.classList.add("hit");
      layer.appendChild(span);
      spans.push([span, (r - l) / W]);
    }
    // Stretch each run to the width it has on the page, so a selection covers the words.
    requestAnimationFrame(() => {
      const width = layer.clientWidth;
      const natural = spans.map(([span]) => span.getBoundingClientRect().width);
      spans.forEach(([span, share], i) => {
        if (natural[i] > 0) span.style.transform = `scaleX(${(share * width) / natural[i]})`;
      });
    });
    root.dataset.textRuns = String(spans.length);
  };

  // -- thumbnails -------------------------------------------------------------------------
  const pumpThumbs = () => {
    while (state.thumbsInFlight < THUMBS_IN_FLIGHT && state.thumbQueue.length) {
      const index = state.thumbQueue.shift();
      if (state.thumbUrls[index]) continue;
      state.thumbsInFlight += 1;
      send({ type: "thumb?", index, edge: Math.round(THUMB_CSS * 1.3 * pixelRatio()) });
    }
  };
  const watcher =
    typeof IntersectionObserver === "function"
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              const index = Number(entry.target.dataset.index);
              if (entry.isIntersecting && !state.thumbUrls[index] && !state.thumbQueue.includes(index)) {
                state.thumbQueue.push(index);
              }
            }
            pumpThumbs();
          },
          { root: thumbs, rootMargin: "200px 0px" },
        )
      : null;
  const buildThumbs = () => {
    thumbs.textContent = "";
    for (let i = 0; i < state.count; i++) {
      const [w, h] = sizeOf(i);
      const cell = button("", `Page ${i + 1}`);
      cell.className = "thumb";
      cell.dataset.index = String(i);
      const sheet = element("span", "sheet");
      sheet.style.height = `${Math.round((THUMB_CSS * h) / w)}px`;
      cell.append(sheet, element("span", "", String(i + 1)));
      cell.addEventListener("click", () => go(i));
      thumbs.appendChild(cell);
      if (watcher) watcher.observe(cell);
    }
  };

  // -- search -----------------------------------------------------------------------------
  const search = () => {
    const term = query.value.trim();
    if (!term) {
      results.hidden = true;
      state.hits = [];
      state.term = "";
      showPage();
      return;
    }
    results.hidden = false;
    results.textContent = "";
    results.appendChild(element("div", "head", `searching for “${term}”…`));
    send({ type: "search?", query: term });
  };
  const showResults = (msg) => {
    state.term = msg.query || "";
    state.hits = msg.hits || [];
    results.textContent = "";
    const n = state.hits.length;
    const head = n ? `${n} page${n === 1 ? "" : "s"} with “${state.term}”` : `no page has “${state.term}”`;
    results.appendChild(element("div", "head", head));
    for (const hit of state.hits) {
      const item = button("", `Go to page ${hit.page}`);
      item.dataset.page = String(hit.page);
      item.append(element("b", "", `p. ${hit.page}`), document.createTextNode(` · ${hit.snippet}`));
      item.addEventListener("click", () => go(hit.page - 1));
      results.appendChild(item);
    }
    if (msg.stopped) results.appendChild(element("div", "problem", `search stopped at ${msg.stopped}`));
    root.dataset.hits = state.hits.map((hit) => hit.page).join(",");
    if (state.shown) {
      const layer = state.shown.querySelector(".text");
      const term = state.term.toLocaleLowerCase();
      for (const span of layer.children) {
        span.classList.toggle("hit", !!term && span.textContent.toLocaleLowerCase().includes(term));
      }
    }
    describe();
  };

  // -- answers from the kernel ------------------------------------------------------------
  const onMessage = (msg, buffers) => {
    if (!msg || !state.pending.has(msg.seq)) return;
    const asked = state.pending.get(msg.seq);
    state.pending.delete(msg.seq);
    if (msg.type === "info") {
      state.alive = true;
      state.count = msg.count;
      state.sizes = msg.sizes || [];
      ofCount.textContent = `/ ${state.count}`;
      pageBox.max = String(state.count);
      root.dataset.ready = "1";
      buildThumbs();
      showPage();
    } else if (msg.type === "page") {
      const url = blobUrl(buffers && buffers[0], msg.mime || "image/jpeg");
      state.pictures.set(`${msg.index}:${asked.edge}`, url);
      if (state.pictures.size > KEEP_PAGES) {
        const [oldest, old] = state.pictures.entries().next().value;
        state.pictures.delete(oldest);
        URL.revokeObjectURL(old);
      }
      const sheet = state.shown;
      if (sheet && sheet.dataset.page === String(msg.index + 1)) {
        setPicture(sheet, sheet.pageImg, url, msg.index);
      }
    } else if (msg.type === "thumb") {
      state.thumbsInFlight -= 1;
      const url = blobUrl(buffers && buffers[0], msg.mime || "image/jpeg");
      state.thumbUrls[msg.index] = url;
      const cell = thumbs.children[msg.index];
      if (cell) {
        const img = element("img");
        img.alt = `page ${msg.index + 1}`;
        img.src = url;
        cell.querySelector(".sheet").replaceChildren(img);
      }
      pumpThumbs();
    } else if (msg.type === "text") {
      const sheet = state.shown;
      if (sheet && sheet.dataset.page === String(msg.index + 1)) fillText(sheet.querySelector(".text"), msg);
    } else if (msg.type === "search") {
      showResults(msg);
    } else if (msg.type === "error") {
      if (asked.type === "thumb?") {
        state.thumbsInFlight -= 1;
        pumpThumbs();
      } else if (asked.type === "page?" && state.shown && state.shown.dataset.page === String(asked.index + 1)) {
        const problem = element("div", "problem", msg.message);
        state.shown.replaceChildren(problem);
        state.shown.style.height = "auto";
      } else if (asked.type === "search?") {
        results.textContent = "";
        results.appendChild(element("div", "problem", msg.message));
      } else if (asked.type === "info?") {
        info.textContent = msg.message;
      }
    }
  };
  model.on("msg:custom", onMessage);
  send({ type: "info?" });
  const timer = setTimeout(() => {
    if (!state.alive) info.textContent = "The kernel has not answered (if it restarted, run the cell again); showing the static preview.";
  }, PATIENCE_MS);

  // -- controls ---------------------------------------------------------------------------
  prev.addEventListener("click", () => go(state.index - 1));
  next.addEventListener("click", () => go(state.index + 1));
  zoomIn.addEventListener("click", () => zoomBy(ZOOM_STEP));
  zoomOut.addEventListener("click", () => zoomBy(1 / ZOOM_STEP));
  fit.addEventListener("click", () => zoomBy("width"));
  fitPage.addEventListener("click", () => zoomBy(null));
  pageBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      go(Number(pageBox.value) - 1);
    }
    event.stopPropagation();
  });
  pageBox.addEventListener("change", () => go(Number(pageBox.value) - 1));
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      search();
    }
    event.stopPropagation(); // typing is not navigation
  });
  find.addEventListener("click", search);
  const keys = {
    ArrowRight: () => go(state.index + 1),
    ArrowLeft: () => go(state.index - 1),
    PageDown: () => go(state.index + 1),
    PageUp: () => go(state.index - 1),
    Home: () => go(0),
    End: () => go(state.count - 1),
    "+": () => zoomBy(ZOOM_STEP),
    "=": () => zoomBy(ZOOM_STEP),
    "-": () => zoomBy(1 / ZOOM_STEP),
    0: () => zoomBy(null),
    w: () => zoomBy("width"),
  };
  root.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement) return;
    const action = keys[event.key];
    if (!action || !plainKey(event) || !state.alive) return;
    event.preventDefault();
    event.stopPropagation();
    action();
  });
  const onPointer = (event) => {
    if (!(event.target instanceof HTMLInputElement || event.target instanceof HTMLButtonElement)) {
      if (!window.getSelection || !String(window.getSelection())) root.focus({ preventScroll: true });
    }
  };
  view.addEventListener("pointerup", onPointer);
  root.addEventListener("focus", () => root.classList.add("engaged"));
  root.addEventListener("blur", () => root.classList.remove("engaged"));
  const onPageTrait = () => {
    const page = model.get("page") || 1;
    if (page - 1 !== state.index) go(page - 1);
  };
  model.on("change:page", onPageTrait);
  model.on("change:height", setHeight);
  let resizeTimer = null;
  const observer =
    typeof ResizeObserver === "function"
      ? new ResizeObserver(() => {
          clearTimeout(resizeTimer);
          resizeTimer = setTimeout(() => {
            if (state.shown && (state.zoom === null || state.zoom === "width")) {
              const { width } = layout();
              if (Math.abs(width - parseFloat(state.shown.style.width)) > 24) showPage();
            }
          }, 150);
        })
      : null;
  if (observer) observer.observe(view);

  return () => {
    clearTimeout(timer);
    clearTimeout(resizeTimer);
    model.off("msg:custom", onMessage);
    model.off("change:page", onPageTrait);
    model.off("change:height", setHeight);
    if (observer) observer.disconnect();
    if (watcher) watcher.disconnect();
    for (const url of state.pictures.values()) URL.revokeObjectURL(url);
    for (const url of state.thumbUrls) if (url) URL.revokeObjectURL(url);
    root.remove();
  };
}

export default { render };
