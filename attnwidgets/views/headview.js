// HeadView: queries left, keys right, a line per top-k weight in the head's colour.
// `data` holds float16 values then uint16 key indices, both [heads, queries, k] (HeadView._push).

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-headview" });
  const bar = h("div", { className: "aw-bar" });
  const chips = h("span", { className: "aw-heads", title: "click: show/hide a head; double-click: only this head" });
  const caption = h("div", { className: "aw-note" });
  const canvas = h("canvas", { className: "aw-headview", style: { display: "block", cursor: "pointer" } });
  const scroller = h("div", { style: { maxHeight: "620px", overflowY: "auto", overflowX: "hidden", display: "inline-block" } }, canvas);
  root.append(caption, bar, errorBox(model, cleanups), scroller);
  el.append(root);

  const layers = model.get("layer_names");
  if (layers.length > 1) bar.append(h("label", {}, "layer", boundSelect(model, "layer", layers.map((n, i) => [i, n]), cleanups, Number)));
  bar.append(
    chips,
    h("label", { title: "weights below the threshold draw no line" }, "threshold", boundRange(model, "threshold", 0, 0.5, 0.01, cleanups)),
    downloadButton(() => canvas, "attention-heads"),
  );

  function drawChips() {
    const active = new Set(model.get("heads"));
    chips.replaceChildren(...Array.from({ length: model.get("n_heads") }, (_, i) => {
      const chip = h("span", { "data-head": i, className: active.has(i) ? "" : "off", style: { background: headColor(i) } }, String(i));
      chip.addEventListener("click", () => {
        const next = new Set(model.get("heads"));
        next.has(i) ? next.delete(i) : next.add(i);
        model.set("heads", [...next].sort((a, b) => a - b));
        model.save_changes();
      });
      chip.addEventListener("dblclick", () => { model.set("heads", [i]); model.save_changes(); });
      return chip;
    }));
  }

  let hover = null; // {side: "q" | "k", index}
  const s = { rowH: 18, width: 460, labelW: 120 };

  function decoded() {
    const info = model.get("data_info") || {};
    if (info.layer !== model.get("layer")) return null;
    const n = info.heads * info.queries * info.k;
    const view = model.get("data");
    return { info, vals: u16Words(view, 0, n), keys: u16Words(view, 2 * n, n) };
  }

  function draw() {
    frame = 0;
    const qTok = model.get("query_tokens"), kTok = model.get("key_tokens");
    const n = Math.max(qTok.length, kTok.length);
    s.rowH = n <= 40 ? 18 : Math.max(4, Math.min(13, 30000 / n));
    const height = Math.ceil(n * s.rowH) + 24;
    const ctx = sizeCanvas(canvas, s.width, height);
    const x1 = s.labelW, x2 = s.width - s.labelW, top = 20;
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

    const d = decoded();
    const pinned = model.get("token");
    const focus = hover || (pinned >= 0 ? { side: "q", index: pinned } : null);
    const threshold = model.get("threshold");
    const active = model.get("heads");
    const keyWeight = new Float32Array(kTok.length); // strongest weight into each key, for label boxes
    if (d) {
      const { k, queries } = d.info;
      for (const head of active) {
        // lines bucketed by opacity: a few paths per head instead of one stroke per line
        const buckets = Array.from({ length: 10 }, () => new Path2D());
        const base = head * queries * k;
        const qFrom = focus && focus.side === "q" ? focus.index : 0;
        const qTo = focus && focus.side === "q" ? focus.index + 1 : queries;
        for (let q = qFrom; q < qTo; q++) {
          for (let slot = 0; slot < k; slot++) {
            const w = F16[d.vals[base + q * k + slot]];
            if (!(w >= threshold) || w <= 0) continue;
            const key = d.keys[base + q * k + slot];
            if (focus && focus.side === "k" && key !== focus.index) continue;
            if (focus) keyWeight[key] = Math.max(keyWeight[key], w);
            const path = buckets[Math.min(9, Math.floor(w * 10))];
            path.moveTo(x1 + 4, y(q));
            path.lineTo(x2 - 4, y(key));
          }
        }
        ctx.strokeStyle = headColor(head);
        ctx.lineWidth = Math.max(1, Math.min(2.5, s.rowH / 6));
        buckets.forEach((path, b) => {
          ctx.globalAlpha = Math.min(1, (b + 1) / 10 / (active.length > 1 ? 1.3 : 1));
          ctx.stroke(path);
        });
      }
      ctx.globalAlpha = 1;
    } else {
      ctx.fillStyle = "#888";
      ctx.fillText(model.get("offline") ? "layer not saved in this file" : "loading\u2026", s.width / 2, top + 20);
    }

    // labels, thinned when rows are too short to read every one
    const step = Math.max(1, Math.ceil(10 / s.rowH));
    const fontPx = Math.min(11, Math.max(7, s.rowH - 2));
    ctx.font = `${fontPx}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    const causalOffset = kTok.length - qTok.length; // queries are the last positions
    qTok.forEach((tok, i) => {
      const on = focus && focus.side === "q" && focus.index === i;
      if (on || i === pinned) {
        ctx.fillStyle = i === pinned ? "rgba(220,0,0,0.15)" : "rgba(0,0,0,0.08)";
        ctx.fillRect(0, y(i) - s.rowH / 2, x1, s.rowH);
      }
      if (i % step && !on) return;
      ctx.textAlign = "right";
      ctx.fillStyle = i === pinned ? "#c00" : "#222";
      ctx.fillText(shortLabel(tok), x1 - 6, y(i));
    });
    kTok.forEach((tok, j) => {
      if (keyWeight[j] > 0) {
        ctx.fillStyle = `rgba(0,0,0,${Math.min(0.35, keyWeight[j] * 0.5)})`;
        ctx.fillRect(x2, y(j) - s.rowH / 2, s.labelW, s.rowH);
      }
      const on = focus && focus.side === "k" && focus.index === j;
      if (j % step && !on && !(keyWeight[j] > 0.05)) return;
      const future = model.get("kind") === "causal" && focus && focus.side === "q" && j > focus.index + causalOffset;
      ctx.textAlign = "left";
      ctx.fillStyle = future ? "#bbb" : "#222";
      ctx.fillText(shortLabel(tok), x2 + 6, y(j));
    });
  }

  function pick(ev) {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, yy = ev.clientY - rect.top - 20;
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
    if (!at || at.side !== "q") return;
    model.set("token", model.get("token") === at.index ? -1 : at.index);
    model.save_changes();
  });

  let frame = 0;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  const events = "change:data change:data_info change:layer change:heads change:token change:threshold change:title";
  const onHeads = () => drawChips();
  model.on(events, schedule);
  model.on("change:heads", onHeads);
  cleanups.push(() => { model.off(events, schedule); model.off("change:heads", onHeads); });
  drawChips();
  draw();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
