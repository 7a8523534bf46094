// Shared helpers for every attnwidgets view.
// views/base.py concatenates this file in front of each view's own .js file, so a view
// module needs no import (anywidget loads modules from blob URLs, where relative imports
// cannot resolve) and the saved HTML can inline one self-contained script.

// ---- float16 -------------------------------------------------------------------------

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// Every float16 bit pattern decoded once: a table lookup beats DataView.getFloat16.
const F16 = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  return table;
})();

/** Uint16 words of a buffer (DataView or bytes) starting at byteOffset; copies only if misaligned. */
function u16Words(view, byteOffset, count) {
  const start = view.byteOffset + byteOffset;
  if (start % 2 === 0) return new Uint16Array(view.buffer, start, count);
  return new Uint16Array(view.buffer.slice(start, start + 2 * count));
}

function bytesOf(view) {
  if (!view) return new Uint8Array(0);
  if (view instanceof Uint8Array) return view;
  if (view instanceof ArrayBuffer) return new Uint8Array(view);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

// ---- colour --------------------------------------------------------------------------

/** 256 RGB triples of the model's colour map (sent by Python from matplotlib). */
function colorTable(model) {
  const bytes = bytesOf(model.get("colors"));
  if (bytes.length >= 768) return bytes;
  const grey = new Uint8Array(768);
  for (let i = 0; i < 256; i++) grey[3 * i] = grey[3 * i + 1] = grey[3 * i + 2] = 255 - i;
  return grey;
}

function cssColor(colors, t) {
  const i = Math.max(0, Math.min(255, Math.round(t * 255)));
  return `rgb(${colors[3 * i]},${colors[3 * i + 1]},${colors[3 * i + 2]})`;
}

/** float16 bits -> packed RGBA (little-endian), so painting is one lookup per cell. */
function makeLut(colors, vmax, threshold) {
  const lut = new Uint32Array(65536);
  const scale = vmax > 0 ? 255 / vmax : 0;
  for (let h = 0; h < 65536; h++) {
    const v = F16[h];
    let i = v < threshold || !(v >= 0) ? 0 : Math.min(255, Math.round(v * scale));
    lut[h] = colors[3 * i] | (colors[3 * i + 1] << 8) | (colors[3 * i + 2] << 16) | (255 << 24);
  }
  return lut;
}

// ---- DOM -----------------------------------------------------------------------------

const AW_CSS = `
.aw-root { font: 12px/1.3 system-ui, sans-serif; color: #222; background: #fff; padding: 2px; position: relative; display: inline-block; max-width: 100%; }
.aw-bar { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 4px; }
.aw-bar label { display: inline-flex; gap: 4px; align-items: center; }
.aw-bar select, .aw-bar button, .aw-bar input { font: inherit; }
.aw-error { display: none; background: #fde8e8; color: #8a1c1c; border: 1px solid #e4a0a0; padding: 6px 8px; margin: 4px 0; white-space: pre-wrap; max-width: 640px; }
.aw-tip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95); border: 1px solid #999; padding: 2px 5px; display: none; white-space: nowrap; z-index: 2; }
.aw-heads span { display: inline-block; padding: 1px 5px; margin: 1px; border-radius: 3px; cursor: pointer; color: #fff; user-select: none; }
.aw-heads span.off { opacity: .25; }
.aw-note { color: #666; }
.aw-root:focus { outline: none; }
.aw-root:focus-visible, .aw-root.aw-focus { outline: 2px solid #0072B2; outline-offset: 1px; }
.aw-tools { display: inline-flex; gap: 4px; margin-left: auto; }
.aw-pin { display: none; background: #fff3cd; border: 1px solid #e0c060; border-radius: 3px; padding: 1px 6px; }
.aw-pin button { border: none; background: none; cursor: pointer; padding: 0 2px; font-weight: bold; }
.aw-keys { color: #888; font-size: 11px; }
`;

function injectStyle() {
  if (document.getElementById("aw-style")) return;
  const style = document.createElement("style");
  style.id = "aw-style";
  style.textContent = AW_CSS;
  document.head.appendChild(style);
}

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "style") Object.assign(node.style, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** A <select> bound to a model trait: options are [value, label] pairs. */
function boundSelect(model, trait, options, cleanups, parse = (v) => v) {
  const sel = h("select", { "data-trait": trait });
  const fill = (opts) => {
    sel.replaceChildren(...opts.map(([v, label]) => h("option", { value: String(v) }, label)));
    sel.value = String(model.get(trait));
  };
  fill(options);
  sel.addEventListener("change", () => {
    model.set(trait, parse(sel.value));
    model.save_changes();
  });
  const sync = () => { sel.value = String(model.get(trait)); };
  model.on(`change:${trait}`, sync);
  cleanups.push(() => model.off(`change:${trait}`, sync));
  sel.refill = fill;
  return sel;
}

/** An <input type=range> bound to a float or int trait. */
function boundRange(model, trait, min, max, step, cleanups) {
  const input = h("input", { type: "range", min, max, step, "data-trait": trait });
  input.value = model.get(trait);
  input.addEventListener("input", () => {
    model.set(trait, Number(input.value));
    model.save_changes();
  });
  const sync = () => { input.value = model.get(trait); };
  model.on(`change:${trait}`, sync);
  cleanups.push(() => model.off(`change:${trait}`, sync));
  return input;
}

/** The red box that shows the model's `error` trait (a refused value, bad input). */
function errorBox(model, cleanups) {
  const box = h("div", { className: "aw-error", role: "alert" });
  const update = () => {
    const msg = model.get("error") || "";
    box.textContent = msg;
    box.style.display = msg ? "block" : "none";
  };
  model.on("change:error", update);
  cleanups.push(() => model.off("change:error", update));
  update();
  return box;
}

// ---- the toolbar: PNG (and SVG) of exactly what the view shows ------------------------

// While a picture is exported, canvases are redrawn at this many pixels per CSS pixel (sizeCanvas).
let EXPORT_SCALE = 0;

/**
 * Redraw the view's canvases at `scale` pixels per CSS pixel and paste them, where they sit on
 * the page, into one canvas (white behind). `redraw` must draw synchronously.
 */
function exportCanvas(canvases, redraw, scale = 2) {
  EXPORT_SCALE = scale;
  try {
    redraw();
    const shown = canvases().filter((c) => c.offsetParent !== null && c.width > 0);
    const rects = shown.map((c) => c.getBoundingClientRect());
    const x0 = Math.min(...rects.map((r) => r.left)), y0 = Math.min(...rects.map((r) => r.top));
    const x1 = Math.max(...rects.map((r) => r.right)), y1 = Math.max(...rects.map((r) => r.bottom));
    const out = document.createElement("canvas");
    out.width = Math.round((x1 - x0) * scale);
    out.height = Math.round((y1 - y0) * scale);
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    shown.forEach((c, i) => ctx.drawImage(c, Math.round((rects[i].left - x0) * scale), Math.round((rects[i].top - y0) * scale), c.width, c.height));
    return out;
  } finally {
    EXPORT_SCALE = 0;
    redraw();
  }
}

function download(href, filename) {
  const a = h("a", { href, download: filename, style: { display: "none" } });
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * The toolbar every view carries: "PNG" downloads the current picture at twice screen size
 * (labels included, redrawn, not upscaled); "SVG" appears where the view can draw vectors.
 * options: { name, canvases: () => [canvas], redraw: () => void, svg: (() => string) | null }
 */
function toolbar(options) {
  const png = h("button", { "data-export": "png", title: "download the current picture as PNG (twice screen resolution)" }, "PNG");
  png.addEventListener("click", () => {
    download(exportCanvas(options.canvases, options.redraw).toDataURL("image/png"), `${options.name}.png`);
  });
  const tools = h("span", { className: "aw-tools" }, png);
  if (options.svg) {
    const svg = h("button", { "data-export": "svg", title: "download the current picture as SVG (vectors, for papers)" }, "SVG");
    svg.addEventListener("click", () => {
      const url = URL.createObjectURL(new Blob([options.svg()], { type: "image/svg+xml" }));
      download(url, `${options.name}.svg`);
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
    tools.append(svg);
  }
  return tools;
}

function escapeXml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A path that records moveTo/lineTo as SVG path data (stands in for Path2D). */
class SvgPath {
  constructor() { this.d = []; }
  moveTo(x, y) { this.d.push(`M${x.toFixed(1)} ${y.toFixed(1)}`); }
  lineTo(x, y) { this.d.push(`L${x.toFixed(1)} ${y.toFixed(1)}`); }
}

/** The part of CanvasRenderingContext2D the line views use, writing SVG elements instead of pixels. */
class SvgContext {
  constructor(width, height) {
    Object.assign(this, { width, height, parts: [], fillStyle: "#000", strokeStyle: "#000", lineWidth: 1, globalAlpha: 1,
      font: "11px system-ui, sans-serif", textAlign: "left", textBaseline: "alphabetic" });
  }
  setTransform() {}
  save() {}
  restore() {}
  fillRect(x, y, w, hh) {
    this.parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${hh.toFixed(1)}" fill="${this.fillStyle}"${this.globalAlpha < 1 ? ` fill-opacity="${this.globalAlpha}"` : ""}/>`);
  }
  fillText(text, x, y) {
    const anchor = { left: "start", start: "start", right: "end", end: "end", center: "middle" }[this.textAlign] || "start";
    const baseline = this.textBaseline === "middle" ? ' dominant-baseline="central"' : "";
    const size = (this.font.match(/([\d.]+)px/) || [0, 11])[1];
    this.parts.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" font-family="system-ui, sans-serif" text-anchor="${anchor}"${baseline} fill="${this.fillStyle}">${escapeXml(text)}</text>`);
  }
  stroke(path) {
    if (!path.d.length) return;
    this.parts.push(`<path d="${path.d.join("")}" fill="none" stroke="${this.strokeStyle}" stroke-width="${this.lineWidth}" stroke-opacity="${this.globalAlpha.toFixed(2)}"/>`);
  }
  toString() {
    // the namespace is a name, never fetched; built so the saved files hold no URL at all (tests check)
    return `<svg xmlns="${["http:", "", "www.w3.org", "2000", "svg"].join("/")}" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}">\n${this.parts.join("\n")}\n</svg>\n`;
  }
}

// ---- pinning, keyboard, layer and head controls (shared by every token view) ----------

/** Text that names the pinned token and says how to unpin it; hidden when nothing is pinned. */
function pinBadge(model, cleanups) {
  const text = h("span", {});
  const unpin = h("button", { title: "unpin", "aria-label": "unpin" }, "\u00d7");
  const badge = h("span", { className: "aw-pin", role: "status" }, text, unpin);
  unpin.addEventListener("click", () => { model.set("pinned", null); model.save_changes(); });
  const update = () => {
    const q = model.get("pinned");
    badge.style.display = q === null || q === undefined ? "none" : "inline-block";
    if (q !== null && q !== undefined) text.textContent = `pinned: \u201c${shortLabel(model.get("query_tokens")[q], 20)}\u201d (token ${q}) \u2014 click it again or press Esc to unpin `;
  };
  model.on("change:pinned", update);
  cleanups.push(() => model.off("change:pinned", update));
  update();
  return badge;
}

/** Pin query token q, or unpin it when it is the pinned one. */
function togglePin(model, q) {
  model.set("pinned", model.get("pinned") === q ? null : q);
  model.save_changes();
}

/** ←/→ steps through the head control's options (heads, then mean and max), ↑/↓ the layers. */
function stepHead(model, d) {
  const options = [];
  for (let i = 0; i < model.get("n_heads"); i++) options.push(String(i));
  if (model.get("n_heads") > 1) options.push("mean", "max");
  const at = options.indexOf(model.get("aggregate") || String(model.get("head")));
  const next = options[Math.max(0, Math.min(options.length - 1, at + d))];
  if (next === "mean" || next === "max") model.set("aggregate", next);
  else { model.set("head", Number(next)); model.set("aggregate", ""); }
}

function stepLayer(model, d) {
  const n = model.get("layer_names").length;
  model.set("layer", Math.max(0, Math.min(n - 1, model.get("layer") + d)));
}

/**
 * Keyboard control of a view that has focus (click it or Tab to it): ←/→ head, ↑/↓ layer,
 * Esc unpins. Keys typed into the view's own selects and inputs are left to them, and handled
 * keys do not reach JupyterLab (which would move between cells).
 */
function keyControl(root, model, cleanups, steps = {}) {
  const head = steps.head || ((d) => stepHead(model, d));
  const layer = steps.layer || ((d) => stepLayer(model, d));
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.setAttribute("aria-keyshortcuts", "ArrowLeft ArrowRight ArrowUp ArrowDown Escape");
  const onKey = (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || /^(SELECT|INPUT|TEXTAREA|BUTTON)$/.test(ev.target.tagName)) return;
    const pinned = model.get("pinned");
    const act = {
      ArrowLeft: () => head(-1), ArrowRight: () => head(1), ArrowUp: () => layer(-1), ArrowDown: () => layer(1),
      Escape: () => { if (pinned !== null && pinned !== undefined) model.set("pinned", null); },
    }[ev.key];
    if (!act) return;
    ev.preventDefault();
    ev.stopPropagation();
    act();
    model.save_changes();
  };
  // a click anywhere in the view gives it the keyboard (JupyterLab would keep it on the notebook)
  const onDown = (ev) => { if (!/^(SELECT|INPUT|TEXTAREA|BUTTON|OPTION)$/.test(ev.target.tagName)) setTimeout(() => root.focus({ preventScroll: true }), 0); };
  const onFocus = () => root.classList.add("aw-focus"), onBlur = () => root.classList.remove("aw-focus");
  root.addEventListener("keydown", onKey);
  root.addEventListener("mousedown", onDown);
  root.addEventListener("focus", onFocus);
  root.addEventListener("blur", onBlur);
  cleanups.push(() => { root.removeEventListener("keydown", onKey); root.removeEventListener("mousedown", onDown); });
  return h("span", { className: "aw-keys", title: "click the view, then: \u2190/\u2192 head, \u2191/\u2193 layer, Esc unpin" }, "\u2190\u2192 head \u2191\u2193 layer");
}

/** The layer <select>: every layer, then (encoders) "rollout to" every layer, bound to `layer` + `rollout`. */
function layerSelect(model, cleanups) {
  const names = model.get("layer_names");
  const sel = h("select", { "data-trait": "layer" }, ...names.map((n, i) => h("option", { value: String(i) }, n)));
  if (model.get("can_rollout")) {
    sel.append(h("optgroup", { label: "attention rollout (all layers up to)" }, ...names.map((n, i) => h("option", { value: `r${i}` }, `rollout to ${n}`))));
  }
  const sync = () => { sel.value = (model.get("rollout") ? "r" : "") + model.get("layer"); };
  sel.addEventListener("change", () => {
    const value = sel.value; // read first: each model.set re-syncs the select
    model.set("rollout", value.startsWith("r"));
    model.set("layer", Number(value.replace("r", "")));
    model.save_changes();
  });
  model.on("change:layer change:rollout", sync);
  cleanups.push(() => model.off("change:layer change:rollout", sync));
  sync();
  return sel;
}

/** Size a canvas for the screen's pixel ratio (or the export scale); returns its 2-D context in CSS pixels. */
function sizeCanvas(canvas, width, height) {
  const dpr = EXPORT_SCALE || window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * dpr)), hh = Math.max(1, Math.round(height * dpr));
  const ctx = canvas.getContext("2d");
  if (canvas.width === w && canvas.height === hh && ctx.reset) {
    ctx.reset(); // cleared and default state as a resize would, without a new (tall: MBs) bitmap
  } else {
    canvas.width = w;
    canvas.height = hh;
  }
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function shortLabel(text, max = 14) {
  const t = String(text).replace(/\s/g, "\u00b7");
  return t.length > max ? t.slice(0, max - 1) + "\u2026" : t;
}

function fmt(v) {
  return Number.isFinite(v) ? (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2)) : String(v);
}

// Twelve colours that stay apart for colour-blind readers (Okabe-Ito + Tol), then a hue walk.
const HEAD_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999933", "#882255", "#44AA99", "#332288", "#AA4499", "#117733"];
function headColor(i) {
  return i < HEAD_COLORS.length ? HEAD_COLORS[i] : `hsl(${(i * 137.5) % 360},65%,45%)`;
}

/** A <select> over heads plus the mean/max aggregates, bound to the `head` and `aggregate` traits. */
function headSelect(model, cleanups) {
  const options = [];
  for (let i = 0; i < model.get("n_heads"); i++) options.push([String(i), `head ${i}`]);
  if (model.get("n_heads") > 1) options.push(["mean", "mean of heads"], ["max", "max of heads"]);
  const sel = h("select", { "data-trait": "head" }, ...options.map(([v, l]) => h("option", { value: v }, l)));
  const sync = () => {
    sel.value = model.get("aggregate") || String(model.get("head"));
    sel.disabled = Boolean(model.get("rollout")); // rollout already combines every head
    sel.title = sel.disabled ? "rollout combines the heads (mean) of every layer" : "←/→ when the view has focus";
  };
  sel.addEventListener("change", () => {
    const value = sel.value; // read first: each model.set re-syncs the select
    if (value === "mean" || value === "max") model.set("aggregate", value);
    else { model.set("head", Number(value)); model.set("aggregate", ""); }
    model.save_changes();
  });
  model.on("change:head change:aggregate change:rollout", sync);
  cleanups.push(() => model.off("change:head change:aggregate change:rollout", sync));
  sync();
  return sel;
}

function colormapSelect(model, cleanups) {
  const names = ["viridis", "cividis", "magma", "Greys"];
  if (!names.includes(model.get("colormap"))) names.unshift(model.get("colormap"));
  return boundSelect(model, "colormap", names.map((n) => [n, n]), cleanups);
}

// ---- the heatmap component (Heatmap, ModelView's detail pane, AlignmentView) ----------

/**
 * A canvas heatmap of one float16 matrix with token labels, colour bar, hover value,
 * row/column highlight, and wheel zoom / drag pan / double-click reset.
 * The matrix may cover only a region of the full token grid, max-pooled into bins
 * (rowStarts/colStarts give each bin's first token); the view maps it into place.
 */
function createHeatmap(parent, options = {}) {
  const canvas = h("canvas", { className: "aw-heatmap", style: { display: "block", cursor: "crosshair" } });
  const tip = h("div", { className: "aw-tip" });
  const wrap = h("div", { style: { position: "relative" } }, canvas, tip);
  parent.append(wrap);
  const image = document.createElement("canvas"); // the matrix at one pixel per cell
  const widths = new WeakMap(); // token list -> widest label in px
  const s = {
    qTokens: [], kTokens: [], words: null, rows: 0, cols: 0,
    region: [0, 0, 0, 0], rowStarts: null, colStarts: null,
    view: [0, 1, 0, 1], colors: null, vmax: 1, threshold: 0, lut: null,
    hover: null, pinned: -1, revealRows: Infinity, size: options.size || 440,
    message: "", layout: null, drag: null, zoomable: options.zoom !== false,
  };
  let windowTimer = null;

  function nq() { return s.qTokens.length; }
  function nk() { return s.kTokens.length; }

  function paintImage() {
    if (!s.words || !s.lut) return;
    image.width = s.cols;
    image.height = s.rows;
    const ctx = image.getContext("2d");
    const img = ctx.createImageData(s.cols, s.rows);
    const out = new Uint32Array(img.data.buffer);
    const lut = s.lut, words = s.words;
    for (let i = 0; i < out.length; i++) out[i] = lut[words[i]];
    ctx.putImageData(img, 0, 0);
  }

  function layout() {
    const measure = canvas.getContext("2d");
    measure.font = "11px system-ui, sans-serif";
    // label widths are measured once per token list (a redraw on every switch would measure them all again)
    const widest = (tokens) => {
      if (!widths.has(tokens)) widths.set(tokens, Math.min(110, 8 + Math.max(20, ...tokens.slice(0, 2000).map((t) => measure.measureText(shortLabel(t)).width))));
      return widths.get(tokens);
    };
    const left = widest(s.qTokens), top = widest(s.kTokens);
    const plotW = s.size;
    const plotH = Math.round(Math.max(100, Math.min(s.size * 1.4, (s.size * nq()) / Math.max(1, nk()))));
    return { left, top, plotW, plotH, width: left + plotW + 70, height: top + plotH + 8 };
  }

  function sx(k) { const L = s.layout; return L.left + ((k - s.view[2]) / (s.view[3] - s.view[2])) * L.plotW; }
  function sy(q) { const L = s.layout; return L.top + ((q - s.view[0]) / (s.view[1] - s.view[0])) * L.plotH; }

  function binOf(starts, first, count, token) {
    if (!starts) return token - first;
    let lo = 0, hi = count - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid] <= token) lo = mid; else hi = mid - 1; }
    return lo;
  }

  function draw() {
    s.layout = layout();
    const L = s.layout;
    // geometry of the plot and the token window in view, for tests and scripts
    Object.assign(canvas.dataset, { left: L.left, top: L.top, plotW: L.plotW, plotH: L.plotH, view: s.view.join(",") });
    if (s.hover) {
      // the same mouse point may now be over another token (zoom, pan, new tokens)
      const at = tokenAtXY(s.hover.x, s.hover.y);
      s.hover = at && at.q < nq() && at.k < nk() ? at : null;
      if (!s.hover) tip.style.display = "none";
    }
    const ctx = sizeCanvas(canvas, L.width, L.height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, L.width, L.height);
    ctx.save();
    ctx.beginPath();
    ctx.rect(L.left, L.top, L.plotW, L.plotH);
    ctx.clip();
    ctx.fillStyle = "#eee";
    ctx.fillRect(L.left, L.top, L.plotW, L.plotH);
    if (s.words) {
      const [q0, q1, k0, k1] = s.region;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(image, sx(k0), sy(q0), sx(k1) - sx(k0), sy(q1) - sy(q0));
    }
    if (s.revealRows < nq()) {
      ctx.fillStyle = "#f2f2f2"; // opaque: the rows not decoded yet must not show through
      ctx.fillRect(L.left, sy(s.revealRows), L.plotW, L.top + L.plotH - sy(s.revealRows));
    }
    const band = (q, k) => {
      ctx.fillStyle = "rgba(255,255,255,0.28)";
      if (q !== null) ctx.fillRect(L.left, sy(q), L.plotW, Math.max(1, sy(q + 1) - sy(q)));
      if (k !== null) ctx.fillRect(sx(k), L.top, Math.max(1, sx(k + 1) - sx(k)), L.plotH);
    };
    if (s.hover) band(s.hover.q, s.hover.k);
    if (s.pinned >= 0) {
      ctx.strokeStyle = "#e00";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(L.left + 0.5, sy(s.pinned), L.plotW - 1, Math.max(2, sy(s.pinned + 1) - sy(s.pinned)));
    }
    ctx.restore();
    // token labels, thinned so they never overlap
    ctx.fillStyle = "#222";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    const labels = (from, to, spacing, drawOne) => {
      const step = Math.max(1, Math.ceil(12 / Math.max(spacing, 1e-9)));
      for (let i = Math.max(0, Math.ceil(from)); i < Math.min(to, Infinity); i++) if (i % step === 0) drawOne(i);
    };
    labels(s.view[0], Math.min(s.view[1], nq()), L.plotH / (s.view[1] - s.view[0]), (i) => {
      ctx.fillStyle = i === s.pinned ? "#c00" : i >= s.revealRows ? "#bbb" : "#222";
      ctx.fillText(shortLabel(s.qTokens[i]), L.left - 4, (sy(i) + sy(i + 1)) / 2);
    });
    ctx.fillStyle = "#222";
    ctx.textAlign = "left";
    labels(s.view[2], Math.min(s.view[3], nk()), L.plotW / (s.view[3] - s.view[2]), (i) => {
      ctx.save();
      ctx.translate((sx(i) + sx(i + 1)) / 2, L.top - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(shortLabel(s.kTokens[i]), 0, 0);
      ctx.restore();
    });
    // colour bar
    if (s.colors) {
      const x = L.left + L.plotW + 12;
      for (let y = 0; y < L.plotH; y++) {
        ctx.fillStyle = cssColor(s.colors, 1 - y / L.plotH);
        ctx.fillRect(x, L.top + y, 12, 1.5);
      }
      ctx.fillStyle = "#222";
      ctx.textAlign = "left";
      [[0, s.vmax], [0.5, s.vmax / 2], [1, 0]].forEach(([f, v]) => ctx.fillText(fmt(v), x + 15, L.top + f * L.plotH));
    }
    if (s.hover) showTip(); // also after new data arrives under a still mouse
    if (s.message) {
      ctx.fillStyle = "#555";
      ctx.textAlign = "center";
      ctx.fillText(s.message, L.left + L.plotW / 2, L.top + L.plotH / 2);
    }
  }

  function showTip() {
    const at = s.hover, cell = valueAt(at.q, at.k);
    const name = (tokens, [a, b]) => (b - a > 1 ? `${shortLabel(tokens[a], 10)}\u2026${shortLabel(tokens[b - 1], 10)} [${a}\u2013${b - 1}] (max)` : `${shortLabel(tokens[a], 20)} [${a}]`);
    tip.textContent = cell ? `${name(s.qTokens, cell.rows)} \u2192 ${name(s.kTokens, cell.cols)}: ${fmt(cell.value)}` : "loading\u2026";
    tip.style.display = "block";
    tip.style.left = `${at.x + 12}px`;
    tip.style.top = `${at.y + 12}px`;
  }

  function valueAt(q, k) {
    if (!s.words) return null;
    const [q0, q1, k0, k1] = s.region;
    if (q < q0 || q >= q1 || k < k0 || k >= k1) return null;
    const r = binOf(s.rowStarts, q0, s.rows, q), c = binOf(s.colStarts, k0, s.cols, k);
    const span = (starts, i, first, last, count) => (starts ? [starts[i], i + 1 < count ? starts[i + 1] : last] : [first + i, first + i + 1]);
    return { value: F16[s.words[r * s.cols + c]], rows: span(s.rowStarts, r, q0, q1, s.rows), cols: span(s.colStarts, c, k0, k1, s.cols) };
  }

  function tokenAt(ev) {
    const rect = canvas.getBoundingClientRect();
    return tokenAtXY(ev.clientX - rect.left, ev.clientY - rect.top);
  }

  function tokenAtXY(x, y) {
    const L = s.layout;
    if (!L || x < L.left || x >= L.left + L.plotW || y < L.top || y >= L.top + L.plotH) return null;
    const q = Math.floor(s.view[0] + ((y - L.top) / L.plotH) * (s.view[1] - s.view[0]));
    const k = Math.floor(s.view[2] + ((x - L.left) / L.plotW) * (s.view[3] - s.view[2]));
    return { q, k, x, y };
  }

  function onMove(ev) {
    if (s.drag) {
      const L = s.layout, [vq0, vq1, vk0, vk1] = s.drag.view;
      const dq = ((ev.clientY - s.drag.y) / L.plotH) * (vq1 - vq0), dk = ((ev.clientX - s.drag.x) / L.plotW) * (vk1 - vk0);
      setView([vq0 - dq, vq1 - dq, vk0 - dk, vk1 - dk]);
      return;
    }
    const at = tokenAt(ev);
    if (!at || at.q >= nq() || at.k >= nk()) { leave(); return; }
    s.hover = at;
    draw();
    if (options.onHover) options.onHover(at.q, at.k);
  }

  function leave() {
    if (s.hover === null) return;
    s.hover = null;
    tip.style.display = "none";
    draw();
    if (options.onHover) options.onHover(null, null);
  }

  function setView(v) {
    const clampAxis = (a, b, n) => {
      const span = Math.min(n, Math.max(Math.min(4, n), b - a));
      a = Math.max(0, Math.min(n - span, a));
      return [a, a + span];
    };
    const [a, b] = clampAxis(v[0], v[1], nq()), [c, d] = clampAxis(v[2], v[3], nk());
    s.view = [a, b, c, d];
    draw();
    if (options.onWindow) {
      clearTimeout(windowTimer);
      windowTimer = setTimeout(() => options.onWindow([Math.floor(a), Math.ceil(b), Math.floor(c), Math.ceil(d)]), 200);
    }
  }

  function onWheel(ev) {
    if (!s.zoomable) return;
    const at = tokenAt(ev);
    if (!at) return;
    ev.preventDefault();
    const f = ev.deltaY > 0 ? 1.25 : 0.8, L = s.layout, [a, b, c, d] = s.view;
    const fq = (at.y - L.top) / L.plotH, fk = (at.x - L.left) / L.plotW;
    const cq = a + fq * (b - a), ck = c + fk * (d - c);
    setView([cq - fq * (b - a) * f, cq + (1 - fq) * (b - a) * f, ck - fk * (d - c) * f, ck + (1 - fk) * (d - c) * f]);
  }

  const onDown = (ev) => { if (s.zoomable && tokenAt(ev)) s.drag = { x: ev.clientX, y: ev.clientY, view: s.view.slice(), moved: false }; };
  const onUp = (ev) => {
    const drag = s.drag;
    s.drag = null;
    if (drag && Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) < 3) {
      const at = tokenAt(ev);
      if (at && options.onClick) options.onClick(at.q, at.k);
    }
  };
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", () => { s.drag = null; leave(); });
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("mousedown", onDown);
  canvas.addEventListener("mouseup", onUp);
  canvas.addEventListener("dblclick", () => api.resetView());

  const api = {
    canvas,
    state: s,
    setTokens(q, k) {
      const changed = q.length !== nq() || k.length !== nk();
      s.qTokens = q; s.kTokens = k;
      if (changed) s.view = [0, q.length, 0, k.length];
    },
    /** words: Uint16Array of float16 bits, rows x cols, covering region [q0,q1,k0,k1]. */
    setMatrix(words, rows, cols, region, rowStarts = null, colStarts = null) {
      Object.assign(s, { words, rows, cols, region, rowStarts, colStarts, message: "" });
      paintImage();
    },
    clearMatrix(message) { s.words = null; s.message = message; },
    setColors(colors, vmax, threshold) {
      s.colors = colors; s.vmax = vmax; s.threshold = threshold;
      s.lut = makeLut(colors, vmax, threshold);
      paintImage();
    },
    setPinned(row) { s.pinned = row === null || row === undefined ? -1 : row; },
    setReveal(rows) { s.revealRows = rows; },
    setSize(size) { s.size = size; },
    resetView() { setView([0, nq(), 0, nk()]); },
    draw,
  };
  return api;
}

/** Read matrix `key` out of a packed float16 buffer described by `info` (see base.py). */
function packedMatrix(view, info, key) {
  const index = info.keys.indexOf(String(key));
  if (index < 0 || !view) return null;
  const n = info.rows * info.cols;
  return { words: u16Words(view, index * n * 2, n), max: info.maxima[index] };
}

/** The matrix for the current selection from `data` or `more` (Heatmap, AlignmentView), or null when it has not arrived. */
function shownMatrix(model) {
  const info = model.get("data_info") || {};
  if (info.layer !== model.get("layer")) return null;
  const key = model.get("rollout") ? "rollout" : model.get("aggregate") || String(model.get("head"));
  const m = packedMatrix(model.get("data"), info, key);
  if (m) return { ...m, info };
  const more = model.get("more_info") || {};
  if (more.layer !== info.layer || JSON.stringify(more.region) !== JSON.stringify(info.region)) return null;
  const n = packedMatrix(model.get("more"), more, key);
  return n ? { ...n, info } : null;
}
