// AlignmentView: a Heatmap (same `data` packing) whose rows after `step` are hidden, with a
// strip of source tokens shaded by the attention of the token being decoded.

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-alignment" });
  const bar = h("div", { className: "aw-bar" });
  const caption = h("div", { className: "aw-note" });
  const target = h("div", { className: "aw-target", style: { margin: "4px 0", lineHeight: "22px" } });
  const source = h("div", { className: "aw-source", style: { margin: "4px 0 8px", lineHeight: "22px" } });
  root.append(caption, bar, errorBox(model, cleanups), h("div", { className: "aw-note" }, "target (decoded so far)"), target,
    h("div", { className: "aw-note" }, "source, shaded by the attention of the last decoded token"), source);
  el.append(root);
  const heat = createHeatmap(root, { size: model.get("size"), onClick: (q) => { if (q < model.get("query_tokens").length) togglePin(model, q); } });

  if (model.get("layer_names").length > 1 || model.get("can_rollout")) bar.append(h("label", {}, "layer", layerSelect(model, cleanups)));
  if (model.get("n_heads") > 1) bar.append(h("label", {}, "head", headSelect(model, cleanups)));
  const nTargets = model.get("query_tokens").length;
  const stepBy = (d) => { model.set("step", Math.max(0, Math.min(nTargets, model.get("step") + d))); model.save_changes(); };
  let timer = null;
  const play = h("button", { title: "decode one token at a time" }, "\u25b6");
  play.addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "\u25b6"; return; }
    if (model.get("step") >= nTargets) { model.set("step", 0); model.save_changes(); }
    play.textContent = "\u25a0";
    timer = setInterval(() => { if (model.get("step") >= nTargets) play.click(); else stepBy(1); }, 600);
  });
  cleanups.push(() => clearInterval(timer));
  const stepLabel = h("span", {});
  bar.append(
    h("label", {}, "step", h("button", { onclick: () => stepBy(-1) }, "\u25c0"), boundRange(model, "step", 0, nTargets, 1, cleanups),
      h("button", { onclick: () => stepBy(1) }, "\u25b6\u2223"), stepLabel),
    play, colormapSelect(model, cleanups), keyControl(root, model, cleanups),
    toolbar({ name: "alignment", canvases: () => [heat.canvas], redraw: () => update() }),
    pinBadge(model, cleanups),
  );

  let frame = 0;
  function update() {
    cancelAnimationFrame(frame);
    frame = 0;
    const qTok = model.get("query_tokens"), kTok = model.get("key_tokens"), step = model.get("step");
    caption.textContent = model.get("title");
    stepLabel.textContent = `${step} / ${qTok.length}`;
    heat.setTokens(qTok, kTok);
    heat.setReveal(step);
    const m = shownMatrix(model);
    const info = m ? m.info : {};
    const colors = colorTable(model);
    target.replaceChildren(...qTok.map((tok, i) => h("span", {
      style: { padding: "2px 4px", margin: "1px", border: i === step - 1 ? "2px solid #e00" : "1px solid #ccc", visibility: i < step ? "visible" : "hidden" },
    }, tok)));
    let row = null;
    if (m && step > 0 && !info.row_starts && !info.col_starts) row = m.words.subarray((step - 1) * info.cols, step * info.cols);
    const rowMax = row ? Math.max(...Array.from(row, (w) => F16[w])) || 1 : 1;
    source.replaceChildren(...kTok.map((tok, j) => {
      const v = row ? F16[row[j]] / rowMax : 0;
      return h("span", { title: row ? fmt(F16[row[j]]) : "", style: { padding: "2px 4px", margin: "1px", border: "1px solid #ccc", background: row ? cssColor(colors, v) : "#fff", color: v > 0.6 ? "#000" : row ? "#fff" : "#222" } }, tok);
    }));
    if (m) {
      heat.setColors(colors, model.get("vmax") > 0 ? model.get("vmax") : m.max, model.get("threshold"));
      heat.setMatrix(m.words, info.rows, info.cols, info.region, info.row_starts, info.col_starts);
    } else {
      heat.clearMatrix(model.get("offline") ? "not saved in this file" : "loading\u2026");
    }
    heat.setPinned(model.get("pinned"));
    heat.draw();
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  const events = "change:data change:data_info change:more change:more_info change:layer change:head change:aggregate change:rollout change:pinned change:colors change:threshold change:vmax change:step change:title";
  model.on(events, schedule);
  cleanups.push(() => model.off(events, schedule));
  update();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
