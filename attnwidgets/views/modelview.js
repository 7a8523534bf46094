// ModelView: a grid of uint8 thumbnails (layers x heads, then the mean and max of heads); a
// click opens that cell in the detail heatmap, whose float16 matrix the kernel sends then
// (ModelView._push_detail). A row of the detail pins its token.

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-modelview" });
  const bar = h("div", { className: "aw-bar" });
  const caption = h("div", { className: "aw-note" });
  const grid = h("canvas", { className: "aw-modelview", style: { display: "block", cursor: "pointer" } });
  const tip = h("div", { className: "aw-tip" });
  const gridWrap = h("div", { style: { position: "relative" } }, grid, tip);
  const detail = h("div", { className: "aw-detail", style: { display: "none" } });
  const panes = h("div", { style: { display: "flex", flexWrap: "wrap", gap: "16px", alignItems: "flex-start" } }, gridWrap, detail);
  root.append(caption, bar, errorBox(model, cleanups), panes);
  el.append(root);
  const detailTitle = h("div", { className: "aw-note" });
  detail.append(detailTitle);
  const heat = createHeatmap(detail, { size: 360, onClick: (q) => { if (q < model.get("query_tokens").length) togglePin(model, q); } });
  const open = (step) => (d) => { step(model, d); model.set("opened", true); };
  const hint = h("span", { className: "aw-note" }, "click a head to open it");
  bar.append(
    hint,
    h("button", { onclick: () => { model.set("opened", false); model.save_changes(); } }, "close"),
    keyControl(root, model, cleanups, { head: open(stepHead), layer: open(stepLayer) }),
    toolbar({ name: "attention-model", canvases: () => [grid, heat.canvas], redraw: () => update() }),
    pinBadge(model, cleanups),
  );

  const mosaic = document.createElement("canvas");
  const g = { cell: 40, gap: 3, left: 56, top: 34, split: 6 };
  // x of column c: the mean and max columns sit a little apart from the heads
  const colX = (c, info) => g.left + c * (g.cell + g.gap) + (c >= info.heads ? g.split : 0);

  function paintMosaic() {
    const info = model.get("thumbs_info") || {};
    if (!info.layers) return;
    const colors = colorTable(model);
    const bytes = bytesOf(model.get("thumbs"));
    const ncol = info.columns.length;
    mosaic.width = ncol * info.cols;
    mosaic.height = info.layers * info.rows;
    const ctx = mosaic.getContext("2d");
    const img = ctx.createImageData(mosaic.width, mosaic.height);
    const out = img.data;
    const per = info.rows * info.cols;
    for (let l = 0; l < info.layers; l++) for (let hd = 0; hd < ncol; hd++) {
      const base = (l * ncol + hd) * per;
      for (let r = 0; r < info.rows; r++) for (let c = 0; c < info.cols; c++) {
        const v = bytes[base + r * info.cols + c];
        const o = 4 * ((l * info.rows + r) * mosaic.width + hd * info.cols + c);
        out[o] = colors[3 * v]; out[o + 1] = colors[3 * v + 1]; out[o + 2] = colors[3 * v + 2]; out[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  function drawGrid() {
    const info = model.get("thumbs_info") || {};
    if (!info.layers) return;
    const ncol = info.columns.length;
    g.cell = Math.max(18, Math.min(56, Math.floor(620 / ncol) - g.gap));
    const width = colX(ncol, info), height = g.top + info.layers * (g.cell + g.gap);
    const ctx = sizeCanvas(grid, width, height);
    Object.assign(grid.dataset, { step: g.cell + g.gap, left: g.left, top: g.top, split: g.split, heads: info.heads }); // geometry, for tests
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingEnabled = false;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#444";
    ctx.textAlign = "center";
    ctx.fillText("head", g.left + (info.heads * (g.cell + g.gap)) / 2, 10);
    if (ncol > info.heads) ctx.fillText("of heads", (colX(info.heads, info) + colX(ncol, info)) / 2, 10);
    const names = model.get("layer_names");
    for (let hd = 0; hd < ncol; hd++) ctx.fillText(info.columns[hd], colX(hd, info) + g.cell / 2, 26);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let l = 0; l < info.layers; l++) {
      ctx.fillStyle = "#444";
      ctx.fillText(String(names[l] || l).slice(0, 9), g.left - 6, g.top + l * (g.cell + g.gap) + g.cell / 2);
      for (let hd = 0; hd < ncol; hd++) {
        ctx.drawImage(mosaic, hd * info.cols, l * info.rows, info.cols, info.rows, colX(hd, info), g.top + l * (g.cell + g.gap), g.cell, g.cell);
      }
    }
    // the selection is outlined whether or not it is opened: a view linked to this one
    // (link_views) or Python code sets layer/head, and the grid shows where that is
    const column = info.columns.indexOf(model.get("aggregate") || String(model.get("head")));
    const y0 = g.top + model.get("layer") * (g.cell + g.gap) - 1.5;
    ctx.strokeStyle = "#e00";
    ctx.lineWidth = 2;
    if (model.get("rollout")) { // rollout combines every head of the layers up to this one: the row
      ctx.setLineDash([5, 3]);
      ctx.strokeRect(colX(0, info) - 1.5, y0, colX(ncol - 1, info) + g.cell - colX(0, info) + 3, g.cell + 3);
      ctx.setLineDash([]);
    } else if (column >= 0) {
      ctx.strokeRect(colX(column, info) - 1.5, y0, g.cell + 3, g.cell + 3);
    }
    Object.assign(grid.dataset, { selected: model.get("rollout") ? `${model.get("layer")}/rollout` : `${model.get("layer")}/${info.columns[column]}` });
    const what = model.get("rollout") ? `rollout to ${names[model.get("layer")]}` : `${names[model.get("layer")]}, ${/^\d+$/.test(info.columns[column]) ? `head ${info.columns[column]}` : `${info.columns[column]} of heads`}`;
    hint.textContent = model.get("opened") ? `${what} opened` : `${what} selected: click a head to open it`;
  }

  function drawDetail() {
    const open = model.get("opened");
    detail.style.display = open ? "block" : "none";
    if (!open) return;
    const info = model.get("data_info") || {};
    const layer = model.get("layer"), key = model.get("rollout") ? "rollout" : model.get("aggregate") || String(model.get("head"));
    const name = model.get("layer_names")[layer];
    detailTitle.textContent = key === "rollout" ? `rollout to ${name}` : `${name}, ${/^\d+$/.test(key) ? `head ${key}` : `${key} of heads`}`;
    heat.setTokens(model.get("query_tokens"), model.get("key_tokens"));
    heat.setPinned(model.get("pinned"));
    if (info.key === `${layer}/${key}`) {
      heat.setColors(colorTable(model), info.maxima[0], 0);
      heat.setMatrix(u16Words(model.get("data"), 0, info.rows * info.cols), info.rows, info.cols, info.region, info.row_starts, info.col_starts);
    } else {
      heat.clearMatrix(model.get("offline") ? "not saved in this file" : "loading\u2026");
    }
    heat.draw();
  }

  function cellAt(ev) {
    const info = model.get("thumbs_info") || {};
    const rect = grid.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top - g.top;
    let hd = -1;
    for (let c = 0; c < info.columns.length; c++) if (x >= colX(c, info) && x < colX(c, info) + g.cell + g.gap) hd = c;
    const l = Math.floor(y / (g.cell + g.gap));
    if (hd < 0 || y < 0 || l >= info.layers) return null;
    return { layer: l, column: info.columns[hd], x, y: y + g.top };
  }
  grid.addEventListener("click", (ev) => {
    const at = cellAt(ev);
    if (!at) return;
    model.set("layer", at.layer);
    model.set("rollout", false);
    if (/^\d+$/.test(at.column)) { model.set("head", Number(at.column)); model.set("aggregate", ""); } else model.set("aggregate", at.column);
    model.set("opened", true);
    model.save_changes();
  });
  grid.addEventListener("mousemove", (ev) => {
    const at = cellAt(ev);
    tip.style.display = at ? "block" : "none";
    if (!at) return;
    tip.textContent = `layer ${at.layer}, ${/^\d+$/.test(at.column) ? `head ${at.column}` : `${at.column} of heads`}`;
    tip.style.left = `${at.x + 12}px`;
    tip.style.top = `${at.y + 12}px`;
  });
  grid.addEventListener("mouseleave", () => { tip.style.display = "none"; });

  let frame = 0;
  const update = () => { cancelAnimationFrame(frame); frame = 0; caption.textContent = model.get("title"); drawGrid(); drawDetail(); };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  const repaint = () => { paintMosaic(); schedule(); };
  const events = "change:data change:data_info change:layer change:head change:aggregate change:rollout change:pinned change:opened change:title";
  model.on(events, schedule);
  model.on("change:thumbs change:thumbs_info change:colors", repaint);
  cleanups.push(() => { model.off(events, schedule); model.off("change:thumbs change:thumbs_info change:colors", repaint); });
  paintMosaic();
  update();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
