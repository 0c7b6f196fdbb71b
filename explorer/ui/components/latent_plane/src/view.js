// The component's screen: the latent plane (points by label, the prior's circles, the z
// under the pointer and the pinned one), the decoded image beside it, and optional
// per-dimension sliders and path scrubbers, all decoded in the browser.
//
// Decoding happens in requestAnimationFrame: pointer, touch, key and slider events only
// record the wanted z, and each frame decodes the latest one and draws it, so the image
// follows the pointer at display rate however fast events arrive. Nothing is sent to the
// server while the pointer moves; a click (a tap, Enter, a slider's release) pins z and
// sends it once.

import { POINT_COLOR, announce, classColor, drawMarker, imageLabel, legendKey, liveRegion, playState }
  from "./a11y.js";

const PAD = { l: 34, r: 8, t: 8, b: 30 };

function el(tag, cls, parent, attrs = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(z) {
  return "(" + Array.from(z, (v) => (Math.abs(v) < 5e-3 ? "0.00" : v.toFixed(2))).join(", ") + ")";
}

function stats() {
  // what benchmarks/browser_decode.py reads: one entry per frame drawn
  const s = (globalThis.__latentPlaneStats ||= { frames: [], pins: 0 });
  if (s.frames.length > 5000) s.frames.splice(0, 1000);
  return s;
}

export class View {
  constructor(root) {
    this.root = el("div", "lp", null);
    root.appendChild(this.root);
    this.row = el("div", "lp-row", this.root);
    this.planeBox = el("div", "lp-plane-box", this.row);
    this.plane = el("canvas", "lp-plane", this.planeBox, {
      tabindex: "0", role: "application",
      "aria-label": "Latent plane. Move the pointer, or use the arrow keys, to decode z; click or press Enter to pin it.",
    });
    this.legendBox = el("div", "lp-legend", this.planeBox);
    this.side = el("div", "lp-side", this.row);
    this.image = el("canvas", "lp-image", this.side, { role: "img", "aria-label": "decoded image" });
    this.caption = el("div", "lp-caption", this.side);
    this.note = el("div", "lp-note", this.side);
    this.status = liveRegion(this.side);
    this.sliderBox = el("div", "lp-sliders", this.root);
    this.pathBox = el("div", "lp-paths", this.root);
    this.small = document.createElement("canvas");
    this.bg = document.createElement("canvas");
    this.decoder = null;
    this.data = null;
    this.pinned = null;     // the z the page knows (Python's value)
    this.shown = null;      // the z drawn now
    this.wanted = null;     // the z the next frame draws
    this.cursor = null;     // the plane point under the pointer or the keyboard cursor
    this.eventTime = 0;
    this.frame = 0;
    this.play = null;
    this.pinSeq = 0;
    this.bindPlane();
    new ResizeObserver(() => this.layout()).observe(this.root);
  }

  // ------------------------------------------------------------------ data

  update(data, sendPin) {
    const first = this.data === null;
    const zChanged = first || JSON.stringify(data.z) !== JSON.stringify(this.data.z);
    this.data = data;
    this.sendPin = sendPin;
    this.D = data.latent_dim;
    this.planeBox.style.display = data.plane ? "" : "none";
    if (!data.plane && this.pathBox.parentNode !== this.row) this.row.appendChild(this.pathBox); // beside the image
    if (zChanged && !this.play) {
      this.pinned = Float64Array.from(data.z);
      this.want(this.pinned, null);
    }
    this.buildSliders();
    this.buildPaths();
    this.layout();
    if (data.paused && this.play) this.stopPlay(true);   // the page's "pause animations" (WCAG 2.2.2)
  }

  setDecoder(decoder, key) {
    this.decoder = decoder;
    this.image.dataset.key = key;       // which decoder draws (a live run's changes per checkpoint)
    if (this.pinned) this.want(this.wanted || this.pinned, this.cursor);
  }

  message(text) {
    this.note.textContent = text;
  }

  // ------------------------------------------------------------- geometry

  lift(p) {
    // z whose plane coordinates are p and whose other coordinates are the held ones
    const { mean, comp, hold } = this.data.plane;
    const t = this.project(hold);
    const z = Float64Array.from(hold);
    for (let d = 0; d < this.D; d++) z[d] += (p[0] - t[0]) * comp[0][d] + (p[1] - t[1]) * comp[1][d];
    return z;
  }

  project(z) {
    const { mean, comp } = this.data.plane;
    let a = 0, b = 0;
    for (let d = 0; d < this.D; d++) {
      a += (z[d] - mean[d]) * comp[0][d];
      b += (z[d] - mean[d]) * comp[1][d];
    }
    return [a, b];
  }

  toPx(p) {
    const [[x0, x1], [y0, y1]] = this.data.plane.ranges;
    const w = this.pw - PAD.l - PAD.r, h = this.ph - PAD.t - PAD.b;
    return [PAD.l + ((p[0] - x0) / (x1 - x0)) * w, PAD.t + ((y1 - p[1]) / (y1 - y0)) * h];
  }

  fromPx(px, py) {
    const [[x0, x1], [y0, y1]] = this.data.plane.ranges;
    const w = this.pw - PAD.l - PAD.r, h = this.ph - PAD.t - PAD.b;
    const fx = Math.min(1, Math.max(0, (px - PAD.l) / w));
    const fy = Math.min(1, Math.max(0, (py - PAD.t) / h));
    return [x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)];
  }

  // --------------------------------------------------------------- layout

  layout() {
    const d = this.data;
    if (!d) return;
    // side by side while they fit: the image shrinks first (to 110 px), then the plane
    // the drawing pad (this.reserved px) sits beside the plane where the plane and the image
    // keep 380 px; in a narrower column it wraps onto its own line above them
    const full = (this.root.clientWidth || 600) - 16, pad = this.reserved || 0;
    const avail = full - pad >= 380 ? full - pad : full;
    const wantImg = d.image_px || 200, wantPlane = d.plane_px || 360;
    let imgPx = wantImg, planePx = wantPlane;
    if (!d.plane) planePx = 0;
    else if (wantImg + wantPlane > avail) {
      imgPx = Math.max(110, Math.min(wantImg, Math.round(avail * 0.42)));
      planePx = Math.max(160, Math.min(wantPlane, avail - imgPx));
    }
    this.pw = planePx;
    this.ph = Math.round(planePx * (d.plane_aspect || 1));
    this.sizeCanvas(this.plane, this.pw, this.ph);
    this.imgPx = imgPx;
    this.sizeCanvas(this.image, imgPx, imgPx);
    this.side.style.width = imgPx + "px";
    if (d.plane) this.drawBackground();
    this.want(this.wanted || this.pinned, this.cursor);
  }

  sizeCanvas(c, w, h) {
    const r = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * r) || c.height !== Math.round(h * r)) {
      c.width = Math.round(w * r);
      c.height = Math.round(h * r);
    }
    c.style.width = w + "px";
    c.style.height = h + "px";
  }

  ctx(c) {
    const g = c.getContext("2d");
    const r = window.devicePixelRatio || 1;
    g.setTransform(r, 0, 0, r, 0, 0);
    return g;
  }

  drawBackground() {
    // points, prior circles and axes: drawn once per data change, blitted each frame
    const d = this.data, pl = d.plane;
    this.bg.width = this.plane.width;
    this.bg.height = this.plane.height;
    const g = this.ctx(this.bg);
    const css = getComputedStyle(this.root);
    const ink = css.getPropertyValue("--st-text-color").trim() || "#31333f";
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, this.pw, this.ph);
    const [ax, ay] = this.toPx([pl.ranges[0][0], pl.ranges[1][0]]);
    const [bx, by] = this.toPx([pl.ranges[0][1], pl.ranges[1][1]]);
    g.save();
    g.beginPath();
    g.rect(ax, by, bx - ax, ay - by);
    g.clip();
    const ticks = pl.ticks || [[pl.ranges[0][0], pl.ranges[0][1]], [pl.ranges[1][0], pl.ranges[1][1]]];
    if (pl.ticks) {
      // the grid at the plotly plane's ticks (explorer/figures/plane.py: plane_ticks), so that
      // a point sits at the same coordinates on both planes of a page
      g.strokeStyle = "#eeeeee";
      g.lineWidth = 1;
      for (const v of ticks[0]) { const x = this.toPx([v, 0])[0]; g.beginPath(); g.moveTo(x, by); g.lineTo(x, ay); g.stroke(); }
      for (const v of ticks[1]) { const y = this.toPx([0, v])[1]; g.beginPath(); g.moveTo(ax, y); g.lineTo(bx, y); g.stroke(); }
    }
    const pts = d.points;
    if (pts && pts.xy.length) {
      g.globalAlpha = 0.7;
      for (let k = 0; k < pts.xy.length / 2; k++) {
        const [x, y] = this.toPx([pts.xy[2 * k], pts.xy[2 * k + 1]]);
        g.fillStyle = pts.labels ? classColor(pts.labels[k]) : POINT_COLOR;
        drawMarker(g, pts.labels ? pts.labels[k] : null, x, y, (pts.radius || 2.2) + 0.6);
      }
      g.globalAlpha = 1;
    }
    if (pl.prior) {
      // N(0, I) seen on an orthonormal plane is N(centre, I): circles of radius 1, 2, 3
      const c = pl.prior_center || [0, 0];
      const [cx, cy] = this.toPx(c);
      const sx = this.toPx([c[0] + 1, c[1]])[0] - cx, sy = cy - this.toPx([c[0], c[1] + 1])[1];
      g.strokeStyle = "rgba(60,60,60,0.55)";
      g.setLineDash([3, 3]);
      for (const r of [1, 2, 3]) {
        g.beginPath();
        g.ellipse(cx, cy, r * sx, r * sy, 0, 0, 2 * Math.PI);
        g.stroke();
      }
      g.setLineDash([]);
    }
    g.restore();
    g.strokeStyle = "#d0d3da";
    g.strokeRect(ax, by, bx - ax, ay - by);
    g.fillStyle = ink;
    g.font = "11px sans-serif";
    g.textAlign = "center";
    g.fillText(pl.axis[0], (ax + bx) / 2, this.ph - 6);
    // tick labels, skipping one that would crowd the last one drawn (a narrow plane)
    const label = (v) => (pl.ticks ? String(Math.round(v * 1e6) / 1e6) : v.toFixed(1));
    let last = -Infinity;
    for (const v of ticks[0]) {
      const x = this.toPx([v, 0])[0];
      if (x - last < 24) continue;
      g.fillText(label(v), x, ay + 12);
      last = x;
    }
    g.save();
    g.translate(10, (ay + by) / 2);
    g.rotate(-Math.PI / 2);
    g.fillText(pl.axis[1], 0, 0);
    g.restore();
    g.textAlign = "right";
    last = Infinity;
    for (const v of ticks[1]) {
      const y = this.toPx([0, v])[1];
      if (last - y < 14) continue;
      g.fillText(label(v), ax - 3, y + 4);
      last = y;
    }
    this.legend();
  }

  legend() {
    // the classes present, under the plane (HTML, so it wraps and never covers points)
    const pts = this.data.points;
    const present = pts && pts.labels ? [...new Set(pts.labels)].sort((a, b) => a - b).slice(0, 20) : [];
    const sig = JSON.stringify([present, pts && pts.names]);
    if (sig === this.legendSig) return;
    this.legendSig = sig;
    this.legendBox.textContent = "";
    this.legendBox.style.width = this.pw + "px";
    present.forEach((lab) => {
      const item = el("span", "lp-legend-item", this.legendBox);
      item.appendChild(legendKey(lab));
      item.appendChild(document.createTextNode(String((pts.names && pts.names[lab]) ?? lab)));
    });
  }

  // -------------------------------------------------------------- frames

  want(z, cursor) {
    if (!z) return;
    this.wanted = z;
    this.cursor = cursor;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    const z = this.wanted;
    if (!z || !this.data) return;
    const t0 = performance.now();
    let decoded = null;
    if (this.decoder) {
      try {
        decoded = this.decoder.run(Float32Array.from(z));
        this.drawItem(decoded);
      } catch (e) {
        this.onFail?.(e.message);
        return;
      }
    }
    this.shown = z;
    if (this.data.plane) this.drawPlane(z);
    this.caption.textContent = `decoder mean at z = ${fmt(z)}`;
    this.image.setAttribute("aria-label", imageLabel(this.data, z, decoded));
    this.image.dataset.z = JSON.stringify(Array.from(z));
    this.image.dataset.decoded = decoded ? "browser" : "none";
    this.syncSliders(z);
    const t1 = performance.now();
    if (decoded) {
      this.note.textContent = `decoded in your browser in ${(t1 - t0).toFixed(1)} ms`;
      stats().frames.push({ event: this.eventTime, start: t0, end: t1 });
    }
  }

  drawItem(y) {
    const shape = this.data.out_shape;
    if (shape.length === 1) return this.drawToy(y.data);
    const [c, h, w] = shape;
    if (this.small.width !== w || this.small.height !== h) {
      this.small.width = w;
      this.small.height = h;
      this.pixels = new ImageData(w, h);
    }
    const px = this.pixels.data, v = y.data, n = h * w;
    for (let p = 0; p < n; p++) {
      const r = v[p], gg = c === 3 ? v[n + p] : r, b = c === 3 ? v[2 * n + p] : r;
      px[4 * p] = Math.round(255 * Math.min(1, Math.max(0, r)));
      px[4 * p + 1] = Math.round(255 * Math.min(1, Math.max(0, gg)));
      px[4 * p + 2] = Math.round(255 * Math.min(1, Math.max(0, b)));
      px[4 * p + 3] = 255;
    }
    this.small.getContext("2d").putImageData(this.pixels, 0, 0);
    const g = this.ctx(this.image);
    g.imageSmoothingEnabled = false;
    g.drawImage(this.small, 0, 0, this.imgPx, this.imgPx);
  }

  drawToy(xy) {
    // a 2-D toy set: the decoded point in data space, over the data
    const g = this.ctx(this.image), s = this.imgPx, toy = this.data.toy || { xy: [], labels: null };
    const r = this.data.toy_ranges || [[0, 1], [0, 1]];
    const X = (v) => 6 + ((v - r[0][0]) / (r[0][1] - r[0][0])) * (s - 12);
    const Y = (v) => s - 6 - ((v - r[1][0]) / (r[1][1] - r[1][0])) * (s - 12);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, s, s);
    g.strokeStyle = "#d0d3da";
    g.strokeRect(0.5, 0.5, s - 1, s - 1);
    g.globalAlpha = 0.5;
    for (let k = 0; k < toy.xy.length / 2; k++) {
      g.fillStyle = toy.labels ? classColor(toy.labels[k]) : "#999";
      g.fillRect(X(toy.xy[2 * k]) - 1, Y(toy.xy[2 * k + 1]) - 1, 2, 2);
    }
    g.globalAlpha = 1;
    g.fillStyle = "#111";
    g.beginPath();
    g.arc(X(xy[0]), Y(xy[1]), 5, 0, 2 * Math.PI);
    g.fill();
  }

  drawPlane(z) {
    const g = this.ctx(this.plane);
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(this.bg, 0, 0);
    this.ctx(this.plane);
    for (const f of this.overlays || []) f(g); // layers others add (the drawing pad's q(z|x))
    const mark = (p, color, r) => {
      const [x, y] = this.toPx(p);
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      g.arc(x, y, r, 0, 2 * Math.PI);
      g.moveTo(x - r - 4, y);
      g.lineTo(x + r + 4, y);
      g.moveTo(x, y - r - 4);
      g.lineTo(x, y + r + 4);
      g.stroke();
      g.lineWidth = 1;
    };
    if (this.pinned) mark(this.project(this.pinned), "#111", 6);
    if (z !== this.pinned) mark(this.project(z), "#e8590c", 5);
  }

  // --------------------------------------------------------------- input

  bindPlane() {
    const c = this.plane;
    c.style.touchAction = "none";           // a finger drags z instead of scrolling the page
    let down = false;
    const at = (e) => {
      const b = c.getBoundingClientRect();
      return this.fromPx(e.clientX - b.left, e.clientY - b.top);
    };
    const hover = (e) => {
      if (!this.data || !this.data.plane) return;
      this.stopPlay();
      this.eventTime = e.timeStamp;
      const p = at(e);
      this.want(this.lift(p), p);
    };
    c.addEventListener("pointermove", (e) => {
      if (e.pointerType === "mouse" || down) hover(e);
    });
    c.addEventListener("pointerdown", (e) => {
      down = true;
      c.setPointerCapture?.(e.pointerId);
      hover(e);
    });
    c.addEventListener("pointerup", (e) => {
      if (!down) return;
      down = false;
      hover(e);
      this.pin(this.lift(at(e)));
    });
    c.addEventListener("pointercancel", () => {
      down = false;
      this.want(this.pinned, null);
    });
    c.addEventListener("pointerleave", (e) => {
      if (!down && e.pointerType === "mouse") this.want(this.pinned, null);
    });
    c.addEventListener("keydown", (e) => this.key(e));
    c.addEventListener("blur", () => this.want(this.pinned, null));
  }

  key(e) {
    if (!this.data || !this.data.plane) return;
    const [[x0, x1], [y0, y1]] = this.data.plane.ranges;
    const f = e.shiftKey ? 0.1 : 0.02;
    const move = { ArrowLeft: [-f * (x1 - x0), 0], ArrowRight: [f * (x1 - x0), 0],
      ArrowUp: [0, f * (y1 - y0)], ArrowDown: [0, -f * (y1 - y0)] }[e.key];
    const p = this.cursor || this.project(this.pinned);
    if (move) {
      e.preventDefault();
      this.eventTime = e.timeStamp;
      const q = [Math.min(x1, Math.max(x0, p[0] + move[0])), Math.min(y1, Math.max(y0, p[1] + move[1]))];
      this.want(this.lift(q), q);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.pin(this.lift(p));
    } else if (e.key === "Escape") {
      this.want(this.pinned, null);
    }
  }

  pin(z) {
    this.pinned = Float64Array.from(z);
    this.want(this.pinned, null);
    stats().pins++;
    announce(this.status, this.data, this.pinned);
    this.sendPin?.(Array.from(this.pinned, (v) => Math.round(v * 1e4) / 1e4), ++this.pinSeq);
  }

  // ------------------------------------------------------------- sliders

  buildSliders() {
    const specs = this.data.sliders || [];
    const sig = JSON.stringify(specs);
    if (sig === this.sliderSig) return;
    this.sliderSig = sig;
    this.sliderBox.textContent = "";
    this.sliders = [];
    this.sliderBox.style.display = specs.length ? "" : "none";
    this.sliderBox.classList.toggle("lp-scroll", specs.length > 6);
    specs.forEach((s) => {
      const row = el("div", "lp-slider", this.sliderBox);
      const lab = el("label", "lp-slider-label", row);
      lab.textContent = s.label;
      if (s.help) lab.title = s.help;
      const input = el("input", "", row, { type: "range", min: s.lo, max: s.hi, step: "0.01",
        "aria-label": s.label });
      const val = el("span", "lp-slider-value", row);
      const btn = el("button", "lp-play", row, { type: "button", "aria-label": `play ${s.label}` });
      btn.textContent = "▶";
      input.addEventListener("input", (e) => {
        this.stopPlay();
        this.eventTime = e.timeStamp;
        const z = Float64Array.from(this.shown || this.pinned);
        z[s.dim] = Number(input.value);
        this.want(z, null);
      });
      input.addEventListener("change", () => {
        const z = Float64Array.from(this.shown || this.pinned);
        z[s.dim] = Number(input.value);
        this.pin(z);
      });
      btn.addEventListener("click", () => this.togglePlay({ kind: "dim", spec: s, btn }));
      this.sliders.push({ spec: s, input, val });
    });
  }

  syncSliders(z) {
    for (const { spec, input, val } of this.sliders || []) {
      const v = z[spec.dim];
      if (document.activeElement !== input && this.root.getRootNode().activeElement !== input) input.value = v;
      val.textContent = v.toFixed(2);
    }
  }

  // --------------------------------------------------------------- paths

  buildPaths() {
    const paths = this.data.paths || [];
    const sig = JSON.stringify(paths.map((p) => [p.name, p.zs.length, p.zs[0], p.zs[p.zs.length - 1]]));
    if (sig === this.pathSig) return;
    this.pathSig = sig;
    this.pathBox.textContent = "";
    this.pathBox.style.display = paths.length ? "" : "none";
    if (!paths.length) return;
    const top = el("div", "lp-path-row", this.pathBox);
    const select = el("select", "", top, { "aria-label": "path" });
    paths.forEach((p, k) => {
      const o = el("option", "", select, { value: String(k) });
      o.textContent = p.name;
    });
    const btn = el("button", "lp-play", top, { type: "button", "aria-label": "play the path" });
    btn.textContent = "▶ play";
    const use = el("button", "lp-use", top, { type: "button" });
    use.textContent = "use this z";
    const scrub = el("input", "lp-scrub", this.pathBox, { type: "range", min: 0, max: 1000, step: 1,
      value: 0, "aria-label": "position along the path" });
    const ends = el("div", "lp-path-ends", this.pathBox);
    this.path = { select, scrub, btn, ends };
    const show = (t, e) => {
      const p = paths[Number(select.value)];
      if (e) this.eventTime = e.timeStamp;
      ends.textContent = `${p.ends?.[0] ?? "start"} → ${p.ends?.[1] ?? "end"} · t = ${t.toFixed(2)}`;
      this.want(this.along(p.zs, t), null);
    };
    this.path.show = show;
    scrub.addEventListener("input", (e) => {
      this.stopPlay();
      show(Number(scrub.value) / 1000, e);
    });
    select.addEventListener("change", () => show(Number(scrub.value) / 1000));
    btn.addEventListener("click", () => this.togglePlay({ kind: "path", btn }));
    use.addEventListener("click", () => this.pin(this.shown || this.pinned));
    if (!this.data.plane && !(this.data.sliders || []).length) show(0);
  }

  along(zs, t) {
    // piecewise-linear through the path's waypoints (a spherical path comes as many of them)
    const s = Math.min(1, Math.max(0, t)) * (zs.length - 1);
    const k = Math.min(zs.length - 2, Math.floor(s)), f = s - k;
    if (zs.length === 1) return Float64Array.from(zs[0]);
    return Float64Array.from(zs[k], (v, d) => v + f * (zs[k + 1][d] - v));
  }

  // ---------------------------------------------------------------- play

  togglePlay(what) {
    if (this.play) {
      const same = this.play.btn === what.btn;
      this.stopPlay(true);
      if (same) return;
    }
    what.btn.textContent = what.kind === "path" ? "⏸ pause" : "⏸";
    playState(what.btn, true, what.kind === "path" ? "the path" : what.spec.label);
    what.t0 = performance.now();
    if (what.kind === "dim") {
      const { lo, hi, dim } = what.spec;
      const now = (this.shown || this.pinned)[dim];
      what.phase = Math.acos(Math.max(-1, Math.min(1, 1 - (2 * (now - lo)) / (hi - lo))));
    } else {
      what.phase = Math.acos(1 - 2 * (Number(this.path.scrub.value) / 1000));
    }
    this.play = what;
    const tick = (now) => {
      if (this.play !== what || !this.root.isConnected) return;
      const u = 0.5 - 0.5 * Math.cos(what.phase + ((now - what.t0) / 3000) * Math.PI);
      this.eventTime = now;
      if (what.kind === "dim") {
        const z = Float64Array.from(this.shown || this.pinned);
        z[what.spec.dim] = what.spec.lo + u * (what.spec.hi - what.spec.lo);
        this.want(z, null);
      } else {
        this.path.scrub.value = String(Math.round(u * 1000));
        this.path.show(u);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  stopPlay(keep = false) {
    const p = this.play;
    if (!p) return;
    this.play = null;
    p.btn.textContent = p.kind === "path" ? "▶ play" : "▶";
    playState(p.btn, false, p.kind === "path" ? "the path" : p.spec.label);
    if (keep && p.kind === "dim" && this.shown) this.pin(this.shown);
    else if (keep && this.shown) this.status.textContent = "Stopped. " + imageLabel(this.data, this.shown, null);
  }
}
