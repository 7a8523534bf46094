// HeadView: queries left, keys right, a line per top-k weight in the head's colour (or dark
// grey for the mean, max or rollout). `data` holds float16 values then uint16 key indices, both
// [entries, queries, k]; data_info.keys names the entries (HeadView._push).

// Lines drawn per frame at most (fewer on canvases taller than 512 tokens'): a 512-token layer
// has 12 heads x 512 queries x 8 keys = 49,152 candidate lines, which Chromium's software canvas
// rasterises in seconds (benchmarks/view_switch.py).
const LINE_BUDGET = 1500;
// Above this many lines they are drawn one device pixel wide.
const WIDE_LINES = 300;

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-headview" });
  const bar = h("div", { className: "aw-bar" });
  const chips = h("span", { className: "aw-heads", title: "click: show/hide a head; double-click: only this head; mean/max: the aggregate over heads" });
  const caption = h("div", { className: "aw-note" });
  const canvas = h("canvas", { className: "aw-headview", style: { display: "block", cursor: "pointer" } });
  const scroller = h("div", { style: { maxHeight: "620px", overflowY: "auto", overflowX: "hidden", display: "inline-block" } }, canvas);
  root.append(caption, bar, errorBox(model, cleanups), scroller);
  el.append(root);

  const nHeads = model.get("n_heads");
  // ←/→: one head at a time (leaving an aggregate), ↑/↓: layers
  const stepHeads = (d) => {
    const heads = model.get("heads");
    const from = model.get("aggregate") ? (d > 0 ? -1 : nHeads) : heads.length === 1 ? heads[0] : d > 0 ? -1 : nHeads;
    model.set("aggregate", "");
    model.set("heads", [Math.max(0, Math.min(nHeads - 1, from + d))]);
  };
  if (model.get("layer_names").length > 1 || model.get("can_rollout")) bar.append(h("label", {}, "layer", layerSelect(model, cleanups)));
  bar.append(
    chips,
    h("label", { title: "weights below the threshold draw no line" }, "threshold", boundRange(model, "threshold", 0, 0.5, 0.01, cleanups)),
    keyControl(root, model, cleanups, { head: stepHeads }),
    toolbar({ name: "attention-heads", canvases: () => [canvas], redraw: () => draw(), svg: () => String(draw("svg")) }),
    pinBadge(model, cleanups),
  );

  function drawChips() {
    const active = new Set(model.get("heads")), agg = model.get("aggregate"), rollout = model.get("rollout");
    const chip = (label, on, color, click, dbl) => {
      const c = h("span", { "data-head": label, className: on ? "" : "off", style: { background: color } }, label);
      c.addEventListener("click", click);
      if (dbl) c.addEventListener("dblclick", dbl);
      return c;
    };
    const list = Array.from({ length: nHeads }, (_, i) => chip(String(i), !agg && !rollout && active.has(i), headColor(i), () => {
      const next = new Set(agg ? [] : model.get("heads"));
      next.has(i) ? next.delete(i) : next.add(i);
      model.set("aggregate", "");
      model.set("heads", [...next].sort((a, b) => a - b));
      model.save_changes();
    }, () => { model.set("aggregate", ""); model.set("heads", [i]); model.save_changes(); }));
    if (nHeads > 1) for (const a of ["mean", "max"]) {
      list.push(chip(a, agg === a && !rollout, "#333333", () => { model.set("aggregate", agg === a ? "" : a); model.save_changes(); }));
    }
    chips.replaceChildren(...list);
  }

  let hover = null; // {side: "q" | "k", index}
  const s = { rowH: 18, width: 460, labelW: 120, top: 20 };
  const note = h("div", { className: "aw-lines", style: { color: "#666", fontSize: "11px", minHeight: "14px" } });
  scroller.before(note);

  function decoded() {
    const info = model.get("data_info") || {};
    if (info.layer !== model.get("layer")) return null;
    const n = info.heads * info.queries * info.k;
    const view = model.get("data");
    return { info, vals: u16Words(view, 0, n), keys: u16Words(view, 2 * n, n) };
  }

  /** Which entries of `data` to draw, with their colours: the chosen heads, or one aggregate. */
  function drawnEntries(info) {
    const key = model.get("rollout") ? "rollout" : model.get("aggregate");
    if (key) return info.keys.includes(key) ? [[info.keys.indexOf(key), "#333333"]] : null;
    return model.get("heads").map((hd) => [info.keys.indexOf(String(hd)), headColor(hd)]);
  }

  /**
   * The lines to draw: for each entry, its weights >= threshold (of the focused token only, when
   * one is hovered or pinned), and at most LINE_BUDGET lines in all. Over the budget each entry
   * keeps its strongest lines: a histogram of the float16 bits (which order positive values)
   * gives the cut-off weight, so the choice costs one pass over the top-k buffer.
   */
  function chooseLines(d, entries, focus, threshold) {
    const { k, queries } = d.info;
    const qFrom = focus && focus.side === "q" ? focus.index : 0;
    const qTo = focus && focus.side === "q" ? Math.min(queries, focus.index + 1) : queries;
    const keyOnly = focus && focus.side === "k" ? focus.index : -1;
    let low = 1; // smallest positive float16 bit pattern at or above the threshold
    while (low < 0x7c00 && F16[low] < threshold) low++;
    // a taller canvas has longer lines: fewer of them above 512 tokens (4096 tokens: 1,100)
    const budget = Math.round(LINE_BUDGET * Math.min(1, 6700 / (queries * s.rowH + s.top)));
    const perEntry = Math.floor(budget / Math.max(1, entries.length));
    let total = 0, shown = 0;
    const chosen = entries.map(([entry, color]) => {
      const hist = new Uint32Array(1024), base = entry * queries * k;
      let count = 0;
      for (let q = qFrom; q < qTo; q++) {
        for (let i = base + q * k, end = i + k; i < end; i++) {
          const bits = d.vals[i];
          if (bits < low || bits > 0x7c00 || (keyOnly >= 0 && d.keys[i] !== keyOnly)) continue;
          hist[bits >> 5]++;
          count++;
        }
      }
      let cut = low, kept = count;
      if (count > perEntry) { // the strongest bins that fit the entry's share
        kept = 0;
        let bin = 1023;
        while (bin >= 0 && kept + hist[bin] <= perEntry) kept += hist[bin--];
        if (kept === 0) { // the strongest bin alone is over the share: its first lines
          while (!hist[bin]) bin--;
          kept = perEntry;
          bin--;
        }
        cut = Math.max(low, (bin + 1) << 5);
      }
      total += count;
      shown += kept;
      return { entry, color, base, cut, cap: kept };
    });
    return { chosen, total, shown, qFrom, qTo, keyOnly };
  }

  // target "svg" returns the picture as SVG text (same drawing, vectors); otherwise paints the canvas
  function draw(target) {
    cancelAnimationFrame(frame);
    frame = 0;
    clearTimeout(loading);
    const d = decoded();
    if (!d && target === undefined && !EXPORT_SCALE && drawnLayer !== null && !model.get("offline")) {
      // a layer on its way usually arrives before a "loading..." frame would be painted (a frame of
      // this tall canvas costs 15-30 ms of the shared CPU): the last picture stays a moment instead
      loading = setTimeout(() => { drawnLayer = null; draw(); }, 250);
      return null;
    }
    const qTok = model.get("query_tokens"), kTok = model.get("key_tokens");
    const n = Math.max(qTok.length, kTok.length);
    // rows shrink with length, so the canvas stays under 9000 CSS px (Chromium's limit is 32767 device px)
    s.rowH = n <= 40 ? 18 : Math.max(Math.min(13, 9000 / n), 0.5);
    const height = Math.ceil(n * s.rowH) + s.top + 4;
    const ctx = target === "svg" ? new SvgContext(s.width, height) : sizeCanvas(canvas, s.width, height);
    const newPath = () => (target === "svg" ? new SvgPath() : new Path2D());
    const x1 = s.labelW, x2 = s.width - s.labelW, top = s.top;
    const y = (i) => top + (i + 0.5) * s.rowH;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, s.width, height);
    ctx.fillStyle = "#666";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    const cross = model.get("kind") === "cross";
    ctx.fillText(cross ? "target (queries)" : "query", x1 / 2, 10);
    ctx.fillText(cross ? "source (keys)" : "key", x2 + s.labelW / 2, 10);
    caption.textContent = model.get("title");

    const pinned = model.get("pinned") ?? -1;
    const focus = hover || (pinned >= 0 ? { side: "q", index: pinned } : null);
    const threshold = model.get("threshold");
    const wanted = d && drawnEntries(d.info); // null while an aggregate is on its way
    const entries = wanted ? wanted.filter(([entry]) => entry >= 0) : null;
    const keyWeight = new Float32Array(kTok.length); // strongest weight into each key, for label boxes
    let lines = 0;
    if (entries) {
      const { k } = d.info;
      const pick = chooseLines(d, entries, focus, threshold);
      // thin lines when there are many: Skia draws lines of at most one device pixel as hairlines,
      // several times faster than wider strokes (whose outlines it fills)
      const hair = 1 / (EXPORT_SCALE || window.devicePixelRatio || 1);
      const width = pick.shown > WIDE_LINES ? hair : Math.max(0.6, Math.min(2.5, s.rowH / 6));
      for (const { base, cut, cap, color } of pick.chosen) {
        // lines bucketed by opacity: a few paths per head instead of one stroke per line
        const buckets = Array.from({ length: 10 }, newPath);
        let drawn = 0;
        for (let q = pick.qFrom; q < pick.qTo && drawn < cap; q++) {
          for (let i = base + q * k, end = i + k; i < end; i++) {
            const bits = d.vals[i];
            if (bits < cut || bits > 0x7c00) continue;
            const key = d.keys[i];
            if (pick.keyOnly >= 0 && key !== pick.keyOnly) continue;
            const w = F16[bits];
            if (focus) keyWeight[key] = Math.max(keyWeight[key], w);
            const path = buckets[Math.min(9, Math.floor(w * 10))];
            path.moveTo(x1 + 4, y(q));
            path.lineTo(x2 - 4, y(key));
            if (++drawn >= cap) break;
          }
        }
        lines += drawn;
        ctx.strokeStyle = color;
        ctx.lineWidth = width;
        buckets.forEach((path, b) => {
          const alpha = Math.min(1, (b + 1) / 10 / (entries.length > 1 ? 1.3 : 1));
          ctx.globalAlpha = width === hair ? 0.25 + 0.75 * alpha : alpha; // a faint hairline would vanish
          ctx.stroke(path);
        });
      }
      ctx.globalAlpha = 1;
      const fewer = pick.shown < pick.total;
      note.textContent = fewer
        ? `${pick.shown.toLocaleString("en")} of ${pick.total.toLocaleString("en")} lines: the strongest of each ${entries.length > 1 ? "head" : "picture"}; hover or click a token for all of its lines`
        : "";
      note.style.visibility = fewer ? "visible" : "hidden";
    } else {
      ctx.fillStyle = "#888";
      ctx.fillText(model.get("offline") ? "layer not saved in this file" : "loading\u2026", s.width / 2, top + 20);
    }
    // what was drawn, for tests and benchmarks
    if (target !== "svg") {
      drawnLayer = d ? d.info.layer : null;
      Object.assign(canvas.dataset, { lines, layer: d ? d.info.layer : "", rowH: s.rowH, top: s.top });
    }

    // labels, thinned so that no two overlap (at least 12 px apart, as the PNGs: drawing.LABEL_SPACING)
    const step = Math.max(1, Math.ceil(12 / s.rowH));
    const fontPx = Math.min(11, Math.max(8, s.rowH - 2));
    ctx.font = `${fontPx}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    const causalOffset = kTok.length - qTok.length; // queries are the last positions
    qTok.forEach((tok, i) => {
      const on = focus && focus.side === "q" && focus.index === i;
      if (on || i === pinned) {
        ctx.fillStyle = i === pinned ? "rgba(220,0,0,0.15)" : "rgba(0,0,0,0.08)";
        ctx.fillRect(0, y(i) - Math.max(s.rowH, fontPx) / 2, x1, Math.max(s.rowH, fontPx));
      }
      // a pinned or hovered label always shows; its neighbours make room for it
      const near = (j) => j >= 0 && Math.abs(j - i) < step && j !== i;
      if (!on && i !== pinned && (i % step || (focus && focus.side === "q" && near(focus.index)) || near(pinned))) return;
      ctx.textAlign = "right";
      ctx.fillStyle = i === pinned ? "#c00" : "#222";
      ctx.fillText(shortLabel(tok), x1 - 6, y(i));
    });
    const keyShown = new Uint8Array(kTok.length);
    let lastKey = -Infinity;
    kTok.forEach((tok, j) => {
      if (keyWeight[j] > 0) {
        ctx.fillStyle = `rgba(0,0,0,${Math.min(0.35, keyWeight[j] * 0.5)})`;
        ctx.fillRect(x2, y(j) - s.rowH / 2, s.labelW, s.rowH);
      }
      const on = focus && focus.side === "k" && focus.index === j;
      // every step-th label, plus the strongest keys of a focused token where there is room
      if (!(on || j % step === 0 || keyWeight[j] > 0.05) || (y(j) - lastKey < 12 && !on)) return;
      keyShown[j] = 1;
      lastKey = y(j);
      const future = model.get("kind") === "causal" && focus && focus.side === "q" && j > focus.index + causalOffset;
      ctx.textAlign = "left";
      ctx.fillStyle = future ? "#bbb" : "#222";
      ctx.fillText(shortLabel(tok), x2 + 6, y(j));
    });
    return ctx;
  }

  function pick(ev) {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, yy = ev.clientY - rect.top - s.top;
    const side = x < s.width / 2 ? "q" : "k";
    const count = model.get(side === "q" ? "query_tokens" : "key_tokens").length;
    const index = Math.floor(yy / s.rowH);
    return index >= 0 && index < count ? { side, index } : null;
  }
  canvas.addEventListener("mousemove", (ev) => {
    const at = pick(ev);
    if (JSON.stringify(at) === JSON.stringify(hover)) return;
    hover = at;
    schedule();
  });
  canvas.addEventListener("mouseleave", () => { hover = null; schedule(); });
  canvas.addEventListener("click", (ev) => {
    const at = pick(ev);
    if (at && at.side === "q") togglePin(model, at.index);
  });

  let frame = 0, loading = 0, drawnLayer = null;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(() => draw()); };
  const events = "change:data change:data_info change:layer change:heads change:aggregate change:rollout change:pinned change:threshold change:title";
  const onHeads = () => drawChips();
  model.on(events, schedule);
  model.on("change:heads change:aggregate change:rollout", onHeads);
  cleanups.push(() => { model.off(events, schedule); model.off("change:heads change:aggregate change:rollout", onHeads); });
  drawChips();
  draw();
  return () => { cancelAnimationFrame(frame); clearTimeout(loading); cleanups.forEach((f) => f()); };
}

export default { render };
