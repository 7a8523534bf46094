// Heatmap view: the shown matrix comes in `data`, neighbouring heads of the same layer in
// `more` (Heatmap._push); a head that is already in either repaints at once, any other waits
// for the kernel's reply.

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-heatmap" });
  const bar = h("div", { className: "aw-bar" });
  const caption = h("div", { className: "aw-note" });
  root.append(caption, bar, errorBox(model, cleanups));
  el.append(root);

  const heat = createHeatmap(root, {
    size: model.get("size"),
    onClick: (q) => { if (q < model.get("query_tokens").length) togglePin(model, q); },
    onWindow: (w) => {
      const info = model.get("data_info") || {}, r = info.region || [0, 0, 0, 0];
      // a window inside what the browser holds at full detail needs nothing; anything else is fetched
      const inside = w[0] >= r[0] && w[1] <= r[1] && w[2] >= r[2] && w[3] <= r[3];
      if (inside && !info.row_starts && !info.col_starts) return;
      if (JSON.stringify(w) === JSON.stringify(r)) return;
      const nq = model.get("query_tokens").length, nk = model.get("key_tokens").length;
      const whole = w[0] === 0 && w[1] === nq && w[2] === 0 && w[3] === nk;
      model.set("window", whole ? [] : w);
      model.save_changes();
    },
  });

  if (model.get("layer_names").length > 1 || model.get("can_rollout")) bar.append(h("label", {}, "layer", layerSelect(model, cleanups)));
  if (model.get("n_heads") > 1) bar.append(h("label", {}, "head", headSelect(model, cleanups)));
  bar.append(
    h("label", {}, "colours", colormapSelect(model, cleanups)),
    h("label", { title: "values below the threshold draw as the lowest colour" }, "threshold", boundRange(model, "threshold", 0, 1, 0.01, cleanups)),
    h("button", { title: "zoom: mouse wheel; pan: drag; reset: double-click", onclick: () => heat.resetView() }, "reset zoom"),
    keyControl(root, model, cleanups),
    toolbar({ name: "attention-heatmap", canvases: () => [heat.canvas], redraw: () => update() }),
    pinBadge(model, cleanups),
  );

  let frame = 0;
  function update() {
    cancelAnimationFrame(frame);
    frame = 0;
    heat.setTokens(model.get("query_tokens"), model.get("key_tokens"));
    heat.setSize(model.get("size"));
    caption.textContent = model.get("title");
    const m = shownMatrix(model);
    if (m) {
      const vmax = model.get("vmax") > 0 ? model.get("vmax") : m.max;
      heat.setColors(colorTable(model), vmax, model.get("threshold"));
      heat.setMatrix(m.words, m.info.rows, m.info.cols, m.info.region, m.info.row_starts, m.info.col_starts);
    } else {
      heat.clearMatrix(model.get("offline") ? "not saved in this file" : "loading\u2026");
    }
    heat.setPinned(model.get("pinned"));
    heat.draw();
  }
  // several traits often change in one message: repaint once per frame
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  const events = "change:data change:data_info change:more change:more_info change:layer change:head change:aggregate change:rollout change:colors change:threshold change:vmax change:pinned change:size change:title";
  model.on(events, schedule);
  cleanups.push(() => model.off(events, schedule));
  update();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
