// ImageAttention: the picture (PNG, sent once), the current map stretched over it with the
// chosen opacity and colours, and channel weights as bars. All maps of the current query are
// in `maps`, so layer/head/opacity changes repaint without the kernel.

function render({ model, el }) {
  injectStyle();
  const cleanups = [];
  const root = h("div", { className: "aw-root aw-view-image" });
  const bar = h("div", { className: "aw-bar" });
  const caption = h("div", { className: "aw-note" });
  const canvas = h("canvas", { className: "aw-image", style: { display: "block" } });
  const bars = h("canvas", { className: "aw-channels", style: { display: "block" } });
  const tip = h("div", { className: "aw-tip" });
  const panes = h("div", { style: { display: "flex", gap: "16px", flexWrap: "wrap", alignItems: "flex-start", position: "relative" } }, canvas, bars, tip);
  root.append(caption, bar, errorBox(model, cleanups), panes);
  el.append(root);

  const hasMap = (model.get("image") || { byteLength: 0 }).byteLength > 0 && model.get("query_tokens").length > 0;
  const hasBars = (model.get("channels") || { byteLength: 0 }).byteLength > 0;
  const names = model.get("layer_names");
  if (names.length > 1) bar.append(h("label", {}, "layer", boundSelect(model, "layer", names.map((n, i) => [i, n]), cleanups, Number)));
  if (hasMap && model.get("n_heads") > 1) bar.append(h("label", {}, "head", headSelect(model, cleanups)));
  if (hasMap) bar.append(h("label", {}, "opacity", boundRange(model, "opacity", 0, 1, 0.05, cleanups)), colormapSelect(model, cleanups));
  bar.append(
    keyControl(root, model, cleanups, { head: (d) => { if (hasMap && model.get("n_heads") > 1) stepHead(model, d); } }),
    toolbar({ name: "image-attention", canvases: () => [canvas, bars], redraw: () => update() }),
  );

  let picture = null; // the decoded image, once
  const bytes = bytesOf(model.get("image"));
  if (bytes.length) {
    const url = URL.createObjectURL(new Blob([bytes], { type: model.get("image_type") }));
    const img = new Image();
    img.onload = () => { picture = img; schedule(); };
    img.src = url;
    cleanups.push(() => URL.revokeObjectURL(url));
  }
  const overlay = document.createElement("canvas");

  function drawImage() {
    if (!bytes.length) { canvas.style.display = "none"; return; }
    if (!picture) return;
    const scale = Math.min(380 / picture.width, 380 / picture.height, 4);
    const w = Math.round(picture.width * scale), hgt = Math.round(picture.height * scale);
    const ctx = sizeCanvas(canvas, w, hgt + 22);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, hgt + 22);
    ctx.drawImage(picture, 0, 0, w, hgt);
    const info = model.get("maps_info") || {};
    if (!info.keys) return;
    const key = model.get("aggregate") || String(model.get("head"));
    const index = model.get("layer") * info.keys.length + info.keys.indexOf(key);
    const n = info.rows * info.cols;
    const words = u16Words(model.get("maps"), index * n * 2, n);
    const colors = colorTable(model);
    const lut = makeLut(colors, info.maxima[index] || 1, 0);
    overlay.width = info.cols;
    overlay.height = info.rows;
    const octx = overlay.getContext("2d");
    const data = octx.createImageData(info.cols, info.rows);
    const out = new Uint32Array(data.data.buffer);
    for (let i = 0; i < n; i++) out[i] = lut[words[i]];
    octx.putImageData(data, 0, 0);
    ctx.globalAlpha = model.get("opacity");
    ctx.imageSmoothingEnabled = true; // a smooth map reads as a region, not as blocks
    ctx.drawImage(overlay, 0, 0, w, hgt);
    ctx.globalAlpha = 1;
    for (let i = 0; i < w; i++) { ctx.fillStyle = cssColor(colors, i / w); ctx.fillRect(i, hgt + 6, 1.5, 8); }
    ctx.fillStyle = "#222";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(fmt(info.maxima[index]), w, hgt + 21);
    ctx.textAlign = "left";
    ctx.fillText("0", 0, hgt + 21);
  }

  function drawBars() {
    if (!hasBars) { bars.style.display = "none"; return; }
    const info = model.get("channels_info");
    const layer = Math.min(model.get("layer"), info.layers - 1);
    const vals = u16Words(model.get("channels"), layer * info.channels * 2, info.channels);
    const w = Math.max(200, Math.min(520, info.channels * 8)), hgt = 200, left = 34, bottom = 20;
    const ctx = sizeCanvas(bars, w + left, hgt + bottom + 16);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w + left, hgt + bottom + 16);
    ctx.fillStyle = "#222";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`channel weights, ${names[layer]}`, left, 11);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    [0, 0.5, 1].forEach((v) => ctx.fillText(String(v), left - 4, 16 + hgt - v * hgt));
    const bw = w / info.channels;
    ctx.fillStyle = "#0072B2";
    for (let c = 0; c < info.channels; c++) {
      const v = Math.max(0, Math.min(1, F16[vals[c]]));
      ctx.fillRect(left + c * bw, 16 + hgt - v * hgt, Math.max(1, bw - 1), v * hgt);
    }
    ctx.strokeStyle = "#888";
    ctx.strokeRect(left, 16, w, hgt);
    ctx.fillStyle = "#222";
    ctx.textAlign = "center";
    ctx.fillText(`channel (0\u2013${info.channels - 1})`, left + w / 2, 16 + hgt + 12);
    bars.onmousemove = (ev) => {
      const r = bars.getBoundingClientRect(), c = Math.floor((ev.clientX - r.left - left) / bw);
      if (c < 0 || c >= info.channels) { tip.style.display = "none"; return; }
      tip.textContent = `channel ${c}: ${fmt(F16[vals[c]])}`;
      tip.style.display = "block";
      tip.style.left = `${ev.clientX - panes.getBoundingClientRect().left + 12}px`;
      tip.style.top = `${ev.clientY - panes.getBoundingClientRect().top + 12}px`;
    };
    bars.onmouseleave = () => { tip.style.display = "none"; };
  }

  let frame = 0;
  const update = () => { cancelAnimationFrame(frame); frame = 0; caption.textContent = model.get("title"); drawImage(); drawBars(); };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  const events = "change:maps change:maps_info change:channels change:layer change:head change:aggregate change:opacity change:colors change:title";
  model.on(events, schedule);
  cleanups.push(() => model.off(events, schedule));
  update();
  return () => { cancelAnimationFrame(frame); cleanups.forEach((f) => f()); };
}

export default { render };
