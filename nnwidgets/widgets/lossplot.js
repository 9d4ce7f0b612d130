// nnwidgets live loss plot: plain SVG, no external libraries (nothing can be
// loaded from a CDN in class). The kernel sends only new points (binary
// float64 buffers), batched and
// rate-limited, in the synced trait points_update ({seq, data}) together with
// the progress traits: one comm message per update. A page that loads while
// the widget already holds points asks for a full snapshot ({type: "sync"}).
//
// Stable DOM (browser tests rely on it):
//   .nnw-lossplot[data-npoints]  root, data-npoints = training points received
//   svg.nnw-lossplot-canvas      the plot
//   .nnw-lossplot-status         "epoch 12/1000 · 3,456 samples/s · ETA 2 s · cpu"
//   button.nnw-stop              ends training gracefully (like Ctrl-C)
//   input.nnw-log-toggle         log-scale y axis
//   .nnw-lossplot-legend         one entry per run (train solid, validation dashed)

const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const STORES = new WeakMap();
// presentation defaults (the CSS, themed by JupyterLab variables, overrides them)
const TEXT = { fill: "#555", "font-size": 11, "font-family": "sans-serif" };

// A series arrives as a binary float64 buffer (points_update: a DataView from
// the widget manager) or as a plain array (snapshots); null = no such series.
function series(x) {
  if (x === null || x === undefined) return null;
  if (x instanceof ArrayBuffer) x = new DataView(x);
  if (x instanceof DataView) {
    const out = new Array(Math.floor(x.byteLength / 8));
    for (let i = 0; i < out.length; i++) out[i] = x.getFloat64(8 * i, true);
    return out;
  }
  return ArrayBuffer.isView(x) ? Array.from(x) : x;
}

// NaN / infinite losses (a diverged run) are gaps in the curve
function finiteOrNull(v) {
  return typeof v === "number" && isFinite(v) ? v : null;
}

function makeStore(model) {
  // seq: number of the last points_update applied (0: none yet)
  const store = { runs: [], npoints: 0, seq: 0, views: new Set(), syncRequested: false };
  store.run = (k) => {
    while (store.runs.length <= k) store.runs.push({ epoch: [], loss: [], val: [] });
    return store.runs[k];
  };
  store.redraw = () => { for (const v of store.views) v.schedule(); };
  store.append = (data) => {
    for (const [k, e, l, v] of data || []) {
      const epochs = series(e), loss = series(l), val = series(v);
      const r = store.run(k);
      for (let i = 0; i < epochs.length; i++) {
        r.epoch.push(epochs[i]);
        r.loss.push(finiteOrNull(loss[i]));
        r.val.push(val ? finiteOrNull(val[i]) : null);
      }
      store.npoints += epochs.length;
    }
  };
  store.requestSync = () => {
    if (store.syncRequested) return;
    store.syncRequested = true;
    model.send({ type: "sync" });
  };
  store.onUpdate = () => {
    const upd = model.get("points_update") || {};
    if (!upd.seq || upd.seq <= store.seq) return;  // nothing new, or already in a snapshot
    if (upd.seq !== store.seq + 1) {  // a gap: this page joined late, ask for every point
      store.requestSync();
      return;
    }
    store.append(upd.data);
    store.seq = upd.seq;
    store.redraw();
  };
  store.onMsg = (msg) => {
    if (!msg || typeof msg !== "object" || msg.type !== "snapshot") return;
    store.runs = [];
    store.npoints = 0;
    store.append(msg.data);
    store.seq = msg.seq || 0;
    store.syncRequested = false;
    store.redraw();
  };
  model.on("change:points_update", store.onUpdate);
  model.on("msg:custom", store.onMsg);
  // a widget that already holds points when this page loads: fetch them all
  if ((model.get("points_update") || {}).seq) store.requestSync();
  return store;
}

function getStore(model) {
  let store = STORES.get(model);
  if (!store) {
    store = makeStore(model);
    STORES.set(model, store);
  }
  return store;
}

function fmtNum(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

function fmtEpoch(t) {
  const v = Math.round(t);
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(v);
}

function fmtTime(s) {
  if (s === null || s === undefined || !isFinite(s) || s < 0) return "–";
  if (s < 1) return "<1 s";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const err = step0 / mag;
  const step = mag * (err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
  return ticks;
}

function initialize({ model }) {
  getStore(model);
}

function render({ model, el: host }) {
  const store = getStore(model);
  const root = el("div", "nnw-lossplot", host);
  root.dataset.npoints = String(store.npoints);

  const header = el("div", "nnw-lossplot-header", root);
  const title = el("span", "nnw-lossplot-title", header);
  const controls = el("span", "nnw-lossplot-controls", header);
  const logLabel = el("label", "nnw-log-label", controls);
  const logBox = el("input", "nnw-log-toggle", logLabel);
  logBox.type = "checkbox";
  logLabel.appendChild(document.createTextNode(" log scale"));
  const stopBtn = el("button", "nnw-stop", controls);
  stopBtn.type = "button";
  stopBtn.textContent = "■ Stop";
  stopBtn.title = "End training after this epoch and keep the model (like Ctrl-C)";

  const W = 560, H = 300, M = { l: 58, r: 12, t: 10, b: 36 };
  const canvas = svg("svg", {
    class: "nnw-lossplot-canvas", viewBox: `0 0 ${W} ${H}`, width: "100%",
    preserveAspectRatio: "xMidYMid meet", role: "img", "aria-label": "training loss curves",
  }, root);
  const legend = el("div", "nnw-lossplot-legend", root);
  const status = el("div", "nnw-lossplot-status", root);

  logBox.addEventListener("change", () => {
    model.set("log_y", logBox.checked);
    model.save_changes();
    view.schedule();
  });
  stopBtn.addEventListener("click", () => {
    stopBtn.disabled = true;
    stopBtn.textContent = "Stopping…";
    model.send({ type: "stop" });
  });

  function updateStatus() {
    const st = model.get("status");
    const maxE = model.get("max_epochs");
    const epoch = model.get("epoch");
    const sps = model.get("samples_per_s");
    const parts = [];
    parts.push(`epoch ${epoch}${maxE ? "/" + maxE : ""}`);
    if (sps > 0) parts.push(`${Math.round(sps).toLocaleString("en-US")} samples/s`);
    if (st === "training") parts.push(`ETA ${fmtTime(model.get("eta_s"))}`);
    else parts.push(`${st} in ${fmtTime(model.get("elapsed_s"))}`);
    const dev = model.get("device");
    if (dev) parts.push(dev);
    status.textContent = parts.join(" · ");
    root.dataset.status = st;
    title.textContent = model.get("title") || "Training loss";
    logBox.checked = !!model.get("log_y");
    const running = st === "training";
    if (!running) {
      stopBtn.disabled = true;
      stopBtn.textContent = st === "stopped" || st === "stopping" ? "Stopped" : "■ Stop";
    } else if (!model.get("stop_requested")) {
      stopBtn.disabled = false;
      stopBtn.textContent = "■ Stop";
    }
  }

  function draw() {
    root.dataset.npoints = String(store.npoints);
    updateStatus();
    while (canvas.firstChild) canvas.removeChild(canvas.firstChild);
    const logY = !!model.get("log_y");
    const labels = model.get("run_labels") || [];
    const tf = (v) => (logY ? (v > 0 ? Math.log10(v) : NaN) : v);
    let xmax = 1, ymin = Infinity, ymax = -Infinity;
    for (const r of store.runs) {
      for (let i = 0; i < r.epoch.length; i++) {
        xmax = Math.max(xmax, r.epoch[i]);
        for (const v of [r.loss[i], r.val[i]]) {
          const y = v === null ? NaN : tf(v);
          if (isFinite(y)) { ymin = Math.min(ymin, y); ymax = Math.max(ymax, y); }
        }
      }
    }
    // the x axis follows the epochs trained so far (a max_iter of 10000 that
    // converges at 300 must not squash the curve); the status line has the total
    xmax = Math.max(xmax, 10);
    if (!isFinite(ymin)) { ymin = 0; ymax = 1; }
    if (ymax - ymin < 1e-12) { ymax += 0.5; ymin -= 0.5; }
    const pad = 0.04 * (ymax - ymin);
    ymin -= pad; ymax += pad;
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const sx = (x) => M.l + (x - 1) / Math.max(1e-9, xmax - 1) * pw;
    const sy = (y) => M.t + (1 - (y - ymin) / (ymax - ymin)) * ph;

    const axes = svg("g", { class: "nnw-axes" }, canvas);
    svg("rect", { x: M.l, y: M.t, width: pw, height: ph, class: "nnw-frame", fill: "none", stroke: "#bbb" }, axes);
    for (const t of niceTicks(1, xmax, 6)) {
      const x = sx(t);
      svg("line", { x1: x, x2: x, y1: M.t + ph, y2: M.t + ph + 4, class: "nnw-tick", stroke: "#999" }, axes);
      const txt = svg("text", { x, y: M.t + ph + 16, "text-anchor": "middle", class: "nnw-ticklabel", ...TEXT }, axes);
      txt.textContent = fmtEpoch(t);
    }
    const yt = logY
      ? niceTicks(Math.floor(ymin), Math.ceil(ymax), 5).filter((t) => Math.abs(t - Math.round(t)) < 1e-9 && t >= ymin && t <= ymax)
      : niceTicks(ymin, ymax, 5);
    for (const t of yt) {
      const y = sy(t);
      svg("line", { x1: M.l, x2: M.l + pw, y1: y, y2: y, class: "nnw-grid", stroke: "#e5e5e5" }, axes);
      const txt = svg("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", class: "nnw-ticklabel", ...TEXT }, axes);
      txt.textContent = logY ? fmtNum(Math.pow(10, t)) : fmtNum(t);
    }
    const xl = svg("text", { x: M.l + pw / 2, y: H - 4, "text-anchor": "middle", class: "nnw-axislabel", ...TEXT }, axes);
    xl.textContent = "epoch";
    const ylab = svg("text", { x: 12, y: M.t + ph / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${M.t + ph / 2})`, class: "nnw-axislabel", ...TEXT }, axes);
    ylab.textContent = logY ? "loss (log scale)" : "loss";

    const maxPts = 2 * pw;
    store.runs.forEach((r, k) => {
      const color = COLORS[k % COLORS.length];
      const n = r.epoch.length;
      const stride = Math.max(1, Math.ceil(n / maxPts));
      for (const [series, dash] of [[r.loss, null], [r.val, "5 3"]]) {
        let d = "";
        let pen = false;
        const idx = [];
        for (let i = 0; i < n; i += stride) idx.push(i);
        if (n && idx[idx.length - 1] !== n - 1) idx.push(n - 1);
        for (const i of idx) {
          const v = series[i];
          const y = v === null ? NaN : tf(v);
          if (!isFinite(y)) { pen = false; continue; }
          d += `${pen ? "L" : "M"}${sx(r.epoch[i]).toFixed(1)},${sy(y).toFixed(1)}`;
          pen = true;
        }
        if (d) {
          const attrs = { d, stroke: color, fill: "none", "stroke-width": 1.6, class: dash ? "nnw-val" : "nnw-train" };
          if (dash) attrs["stroke-dasharray"] = dash;
          svg("path", attrs, canvas);
        }
      }
    });

    legend.textContent = "";
    const shown = Math.max(labels.length, store.runs.length);
    for (let k = 0; k < shown; k++) {
      const item = el("span", "nnw-legend-item", legend);
      const sw = el("span", "nnw-swatch", item);
      sw.style.background = COLORS[k % COLORS.length];
      const r = store.runs[k];
      const hasVal = r && r.val.some((v) => v !== null);
      const last = r && r.loss.length ? ` · loss ${fmtNum(r.loss[r.loss.length - 1])}` : "";
      item.appendChild(document.createTextNode(`${labels[k] || "run " + (k + 1)}${last}${hasVal ? " (dashed: validation)" : ""}`));
    }
  }

  let pending = false;
  const view = {
    schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; draw(); });
    },
  };
  store.views.add(view);
  const onChange = () => view.schedule();
  const TRAITS = ["status", "epoch", "max_epochs", "samples_per_s", "eta_s", "elapsed_s",
                  "device", "log_y", "run_labels", "title", "stop_requested"];
  for (const t of TRAITS) model.on(`change:${t}`, onChange);
  draw();
  return () => {
    store.views.delete(view);
    for (const t of TRAITS) model.off(`change:${t}`, onChange);
  };
}

export default { initialize, render };
// for tests of the data flow without a browser (node)
export { getStore as _getStore };
