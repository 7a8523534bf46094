// Heatmap view: the matrix comes from `data` (float16, see Heatmap._push); a head that is
// already in the buffer repaints at once, any other waits for the kernel's reply.

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
    onClick: (q) => {
      if (q >= model.get("query_tokens").length) return;
      model.set("token", model.get("token") === q ? -1 : q);
      model.save_changes();
    },
    onWindow: (w) => {
      const info = model.get("data_info") || {};
      // only a pooled matrix has more detail to fetch; otherwise zoom is purely local
      if (!info.row_starts && !info.col_starts) return;
      if (JSON.stringify(w) === JSON.stringify(info.region)) return;
      model.set("window", w);
      model.save_changes();
    },
  });

  const layers = model.get("layer_names");
  if (layers.length > 1) bar.append(h("label", {}, "layer", boundSelect(model, "layer", layers.map((n, i) => [i, n]), cleanups, Number)));
  if (model.get("n_heads") > 1) bar.append(h("label", {}, "head", headSelect(model, cleanups)));
  bar.append(
    h("label", {}, "colours", colormapSelect(model, cleanups)),
    h("label", { title: "values below the threshold draw as the lowest colour" }, "threshold", boundRange(model, "threshold", 0, 1, 0.01, cleanups)),
    h("button", { title: "zoom: mouse wheel; pan: drag; reset: double-click", onclick: () => heat.resetView() }, "reset zoom"),
    downloadButton(() => heat.canvas, "attention-heatmap"),
  );

  let frame = 0;
  function update() {
    frame = 0;
    const info = model.get("data_info") || {};
    const key = model.get("aggregate") || String(model.get("head"));
    heat.setTokens(model.get("query_tokens"), model.get("key_tokens"));
    heat.setSize(model.get("size"));
    caption.textContent = model.get("title");
    const m = info.layer === model.get("layer") ? packedMatrix(model.get("data"), info, key) : null;
    if (m) {
      const vmax = model.get("vmax") > 0 ? model.get("vmax") : m.max;
      heat.setColors(colorTable(model), vmax, model.get("threshold"));
      heat.setMatrix(m.words, info.rows, info.cols, info.region, info.row_starts, info.col_starts);
    } else {
      heat.clearMatrix(model.get("offline") ? "not saved in this file" : "loading\u2026");
    }
    heat.setPinned(model.get("token"));
    heat.draw();
  }
  // several traits often change in one message: repaint once per frame
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  const events = "change:data change:data_info change:layer change:head change:aggregate change:colors change:threshold change:vmax change:token change:size change:title";
  model.on(events, schedule);
  cleanups.push(() => model.off(events, schedule));
  update();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
