// Draw and watch the encoder: a drawing pad beside the latent plane.
//
// Every stroke is rendered at the data's own size (as the model's inputs are: ink = 1),
// encoded in the browser (./encoder.js), and q(z|x) = N(mu, diag(sigma^2)) is drawn on the
// plane: its mean and its 1-sigma and 2-sigma ellipses. On a plane that shows two of D > 2
// dimensions (or a PCA plane), the ellipse is the projection of q onto the plane's two
// directions, the exact marginal of a Gaussian along them. The decoded image beside the
// plane shows the decoder's mean at z = mu (the reconstruction). "Sample z" draws
// z = mu + sigma * eps with eps ~ N(0, I), shows eps and decodes z. All in animation frames,
// in the browser: nothing reaches the server while drawing.

function el(tag, cls, parent, attrs = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
  if (parent) parent.appendChild(e);
  return e;
}

function stats() {
  const s = (globalThis.__latentPlaneStats ||= { frames: [], pins: 0 });
  s.draw ||= [];
  if (s.draw.length > 5000) s.draw.splice(0, 1000);
  return s;
}

const fmt = (a, n = 6) => {
  const v = Array.from(a.slice(0, n), (x) => (Math.abs(x) < 5e-3 ? "0.00" : x.toFixed(2)));
  return "(" + v.join(", ") + (a.length > n ? ", …" : "") + ")";
};

function gauss() {
  // a standard normal draw (Box-Muller)
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

export class DrawPanel {
  constructor(view) {
    this.view = view;
    this.box = el("div", "lp-draw", null);
    view.row.insertBefore(this.box, view.row.firstChild);
    this.head = el("div", "lp-draw-head", this.box);
    this.pad = el("canvas", "lp-pad", this.box, {
      role: "img", "aria-label": "Drawing pad: draw with the mouse, a pen or a finger; the encoder reads it as you draw.",
    });
    const tools = el("div", "lp-draw-tools", this.box);
    this.clearBtn = el("button", "lp-tool", tools, { type: "button" });
    this.clearBtn.textContent = "clear";
    this.invertBtn = el("button", "lp-tool", tools, { type: "button", "aria-pressed": "false" });
    this.invertBtn.textContent = "invert";
    this.starter = el("select", "lp-tool", tools, { "aria-label": "start from a drawing" });
    this.sampleBtn = el("button", "lp-tool lp-sample", this.box, { type: "button" });
    this.sampleBtn.textContent = "🎲 Sample z ~ q(z|x)";
    this.seesBox = el("div", "lp-draw-sees", this.box);
    el("span", "", this.seesBox).textContent = "the encoder sees";
    this.sees = el("canvas", "lp-sees", this.seesBox, { role: "img", "aria-label": "the drawing at the model's input size" });
    this.readout = el("div", "lp-draw-q", this.box, { "aria-live": "polite" });
    this.samplesBox = el("div", "lp-samples", this.box);
    this.hi = document.createElement("canvas");     // the strokes, rendered large
    this.small = document.createElement("canvas");  // ... and at the data's size
    this.strokes = [];
    this.inverted = false;
    this.q = null;
    this.samples = [];
    this.frame = 0;
    this.eventTime = 0;
    this.encoder = null;
    this.bind();
    view.overlays = (view.overlays || []).filter((f) => f.owner !== this);
    const overlay = (g) => this.drawOverlay(g);
    overlay.owner = this;
    view.overlays.push(overlay);
  }

  // ------------------------------------------------------------------ data

  update(spec, outShape) {
    this.spec = spec;
    this.inShape = outShape;
    const [, h, w] = outShape.length === 3 ? outShape : [1, 1, 1];
    this.h = h;
    this.w = w;
    const px = spec.pad_px || 180;
    if (this.padPx !== px) {
      this.padPx = px;
      const r = window.devicePixelRatio || 1;
      this.pad.width = Math.round(px * r);
      this.pad.height = Math.round(px * r);
      this.pad.style.width = this.pad.style.height = px + "px";
      this.box.style.width = px + "px";
    }
    this.hi.width = this.hi.height = Math.max(4 * Math.max(h, w), 112);
    this.small.width = w;
    this.small.height = h;
    this.sees.width = w;
    this.sees.height = h;
    this.head.textContent = spec.title || "Draw here";
    const sig = JSON.stringify(spec.starters || []);
    if (sig !== this.starterSig) {
      this.starterSig = sig;
      this.starter.textContent = "";
      el("option", "", this.starter, { value: "" }).textContent = "start from…";
      (spec.starters || []).forEach((s, k) => {
        el("option", "", this.starter, { value: String(k) }).textContent = s.name;
      });
    }
    if (spec.invert !== undefined && this.inverted !== !!spec.invert && this.strokes.length === 0) {
      this.inverted = !!spec.invert;
    }
    this.invertBtn.setAttribute("aria-pressed", String(this.inverted));
    this.schedule();
  }

  setEncoder(enc) {
    this.encoder = enc;
    this.schedule();
  }

  // ----------------------------------------------------------------- input

  bind() {
    const c = this.pad;
    c.style.touchAction = "none";
    let stroke = null;
    const at = (e) => {
      const b = c.getBoundingClientRect();
      return [Math.min(1, Math.max(0, (e.clientX - b.left) / b.width)),
        Math.min(1, Math.max(0, (e.clientY - b.top) / b.height))];
    };
    c.addEventListener("pointerdown", (e) => {
      try {
        c.setPointerCapture(e.pointerId); // keep the stroke when the pen leaves the pad
      } catch (err) {
        // an id the browser does not track (a synthetic event): draw without capture
      }
      stroke = { pts: at(e) };
      this.strokes.push(stroke);
      this.changed(e.timeStamp);
    });
    c.addEventListener("pointermove", (e) => {
      if (!stroke) return;
      const evs = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const ev of evs.length ? evs : [e]) stroke.pts.push(...at(ev));
      this.changed(e.timeStamp);
    });
    const end = () => {
      stroke = null;
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    this.clearBtn.addEventListener("click", () => {
      this.strokes = [];
      this.changed(performance.now());
    });
    this.invertBtn.addEventListener("click", () => {
      this.inverted = !this.inverted;
      this.invertBtn.setAttribute("aria-pressed", String(this.inverted));
      this.changed(performance.now());
    });
    this.starter.addEventListener("change", () => {
      const s = (this.spec.starters || [])[Number(this.starter.value)];
      if (!s) return;
      this.strokes = s.strokes.map((st) => ({ pts: st.pts.slice(), fill: !!st.fill }));
      this.starter.value = "";
      this.changed(performance.now());
    });
    this.sampleBtn.addEventListener("click", () => this.sample());
  }

  changed(t) {
    this.eventTime = t;
    this.samples = [];
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.step());
  }

  // ---------------------------------------------------------------- frames

  render() {
    // the strokes at the data's size, ink = 1: white on black, averaged into pixels
    const g = this.hi.getContext("2d"), s = this.hi.width;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#000";
    g.fillRect(0, 0, s, s);
    g.strokeStyle = g.fillStyle = "#fff";
    g.lineCap = g.lineJoin = "round";
    g.lineWidth = (this.spec.brush || 0.1) * s;
    for (const st of this.strokes) {
      const p = st.pts;
      g.beginPath();
      g.moveTo(p[0] * s, p[1] * s);
      if (p.length === 2) g.lineTo(p[0] * s + 0.01, p[1] * s);
      for (let k = 2; k < p.length; k += 2) g.lineTo(p[k] * s, p[k + 1] * s);
      if (st.fill) {
        g.closePath();
        g.fill();
      }
      g.stroke();
    }
    const sm = this.small.getContext("2d", { willReadFrequently: true });
    sm.imageSmoothingEnabled = true;
    sm.imageSmoothingQuality = "high";
    sm.clearRect(0, 0, this.w, this.h);
    sm.drawImage(this.hi, 0, 0, this.w, this.h);
    const px = sm.getImageData(0, 0, this.w, this.h).data;
    const c = this.inShape.length === 3 ? this.inShape[0] : 1;
    const n = this.w * this.h, x = new Float32Array(c * n);
    const cut = this.spec.binarize;
    for (let p = 0; p < n; p++) {
      let v = px[4 * p] / 255;
      if (this.inverted) v = 1 - v;
      if (cut !== null && cut !== undefined) v = v > cut ? 1 : 0;
      for (let k = 0; k < c; k++) x[k * n + p] = v;
    }
    return x;
  }

  showPad(x) {
    // the pad shows the strokes as drawn (inverted: dark ink on light), and the small
    // canvas what the encoder reads
    const g = this.pad.getContext("2d"), r = window.devicePixelRatio || 1;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.imageSmoothingEnabled = true;
    g.filter = this.inverted ? "invert(1)" : "none";
    g.drawImage(this.hi, 0, 0, this.pad.width, this.pad.height);
    g.filter = "none";
    if (!this.strokes.length) {
      g.setTransform(r, 0, 0, r, 0, 0);
      g.fillStyle = this.inverted ? "#555" : "#aaa";
      g.font = "13px sans-serif";
      g.textAlign = "center";
      g.fillText("draw here", this.padPx / 2, this.padPx / 2);
    }
    const n = this.w * this.h, img = new ImageData(this.w, this.h);
    for (let p = 0; p < n; p++) {
      const v = Math.round(255 * x[p]);
      img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = v;
      img.data[4 * p + 3] = 255;
    }
    this.sees.getContext("2d").putImageData(img, 0, 0);
  }

  step() {
    this.frame = 0;
    if (!this.spec) return;
    const t0 = performance.now();
    const x = this.render();
    this.showPad(x);
    if (!this.encoder) {
      this.readout.textContent = "loading the encoder…";
      return;
    }
    try {
      this.q = this.encoder.encode(x);
    } catch (e) {
      this.readout.textContent = `The encoder could not run in this browser: ${e.message}`;
      return;
    }
    const { mu, logvar } = this.q;
    this.pad.lastX = x;         // the encoder's input, for tests (tests/test_browser_decode.py)
    this.pad.dataset.mu = JSON.stringify(Array.from(mu, (v) => Math.round(v * 1e5) / 1e5));
    this.pad.dataset.logvar = logvar ? JSON.stringify(Array.from(logvar, (v) => Math.round(v * 1e5) / 1e5)) : "";
    this.readout.textContent = logvar
      ? `q(z|x): μ = ${fmt(mu)}, σ = ${fmt(logvar.map((v) => Math.exp(v / 2)))}`
      : `z = ${fmt(mu)} (an autoencoder: the code is a point, q has no spread)`;
    this.sampleBtn.disabled = !logvar || !this.strokes.length;
    const v = this.view;
    if (this.strokes.length) {
      v.wanted = mu;            // the image beside the plane: the decoder's mean at z = mu
      v.cursor = null;
      v.draw();                 // decode and draw now, in this frame
      if (v.data && v.data.plane) v.caption.textContent = `decoder mean at z = μ(x) = ${fmt(mu, 8)}`;
    } else if (this.drove) {
      v.want(v.pinned, null);   // a cleared pad hands the image back to the pinned z
    }
    this.drove = this.strokes.length > 0;
    const t1 = performance.now();
    stats().draw.push({ event: this.eventTime, start: t0, end: t1 });
    this.pad.dataset.frames = String(Number(this.pad.dataset.frames || 0) + 1);
  }

  // --------------------------------------------------------------- samples

  sample() {
    if (!this.q || !this.q.logvar || !this.view.decoder) return;
    const { mu, logvar } = this.q;
    const eps = Float64Array.from(mu, () => gauss());
    const z = Float64Array.from(mu, (m, d) => m + Math.exp(logvar[d] / 2) * eps[d]);
    const y = this.view.decoder.run(Float32Array.from(z));
    const item = { z, eps, canvas: el("canvas", "lp-sample-img", null) };
    this.samples.unshift(item);
    if (this.samples.length > 4) this.samples.pop();
    this.drawImage(item.canvas, y);
    this.samplesBox.textContent = "";
    this.samples.forEach((s, k) => {
      const fig = el("figure", "lp-sample-fig", this.samplesBox);
      fig.appendChild(s.canvas);
      const cap = el("figcaption", "", fig);
      cap.textContent = k === 0 ? `ε = ${fmt(s.eps, 4)} → z = μ + σ ⊙ ε = ${fmt(s.z, 4)}` : `ε = ${fmt(s.eps, 3)}`;
    });
    this.samplesBox.dataset.n = String(this.samples.length);
    this.samplesBox.dataset.eps = JSON.stringify(Array.from(eps));
    this.view.want(this.view.wanted || mu, null);        // redraw the plane with the sample marked
  }

  drawImage(canvas, y) {
    const shape = this.inShape;
    if (shape.length !== 3) return;
    const [c, h, w] = shape, n = h * w;
    canvas.width = w;
    canvas.height = h;
    const img = new ImageData(w, h);
    for (let p = 0; p < n; p++) {
      const r = y.data[p], gg = c === 3 ? y.data[n + p] : r, b = c === 3 ? y.data[2 * n + p] : r;
      img.data[4 * p] = Math.round(255 * Math.min(1, Math.max(0, r)));
      img.data[4 * p + 1] = Math.round(255 * Math.min(1, Math.max(0, gg)));
      img.data[4 * p + 2] = Math.round(255 * Math.min(1, Math.max(0, b)));
      img.data[4 * p + 3] = 255;
    }
    canvas.getContext("2d").putImageData(img, 0, 0);
  }

  // ------------------------------------------------------------ the plane

  ellipse(k) {
    // the k-sigma ellipse of q projected onto the plane: points in plane coordinates
    const v = this.view, { comp } = v.data.plane, D = v.D;
    const { mu, logvar } = this.q;
    let a = 0, b = 0, c = 0;
    for (let d = 0; d < D; d++) {
      const s2 = Math.exp(logvar[d]);
      a += comp[0][d] * comp[0][d] * s2;
      b += comp[0][d] * comp[1][d] * s2;
      c += comp[1][d] * comp[1][d] * s2;
    }
    const half = (a + c) / 2, rad = Math.sqrt(((a - c) / 2) ** 2 + b * b);
    const l1 = half + rad, l2 = Math.max(0, half - rad);
    const th = 0.5 * Math.atan2(2 * b, a - c);
    const e1 = [Math.cos(th), Math.sin(th)], e2 = [-Math.sin(th), Math.cos(th)];
    const m = v.project(mu), out = [];
    for (let i = 0; i <= 48; i++) {
      const t = (2 * Math.PI * i) / 48, u = k * Math.sqrt(l1) * Math.cos(t), w = k * Math.sqrt(l2) * Math.sin(t);
      out.push([m[0] + u * e1[0] + w * e2[0], m[1] + u * e1[1] + w * e2[1]]);
    }
    return { pts: out, axes: [Math.sqrt(l1), Math.sqrt(l2)], centre: m };
  }

  drawOverlay(g) {
    const v = this.view;
    if (!this.q || !this.strokes.length || !v.data || !v.data.plane) return;
    const m = v.project(this.q.mu);
    const [mx, my] = v.toPx(m);
    // black on a white halo: readable over every class colour of the points
    const trace = (pts) => {
      g.beginPath();
      pts.forEach((p, i) => {
        const [x, y] = v.toPx(p);
        if (i) g.lineTo(x, y);
        else g.moveTo(x, y);
      });
    };
    if (this.q.logvar) {
      for (const [k, dash] of [[2, [5, 4]], [1, []]]) {
        const e = this.ellipse(k);
        trace(e.pts);
        g.fillStyle = "rgba(0, 0, 0, 0.06)";
        g.fill();
        g.setLineDash(dash);
        g.strokeStyle = "rgba(255, 255, 255, 0.9)";
        g.lineWidth = 4;
        g.stroke();
        g.strokeStyle = "#111";
        g.lineWidth = 2;
        g.stroke();
        g.setLineDash([]);
        if (k === 1) this.pad.dataset.ellipse = JSON.stringify({ centre: [mx, my], axes: e.axes });
      }
    }
    g.fillStyle = "#111";
    g.strokeStyle = "#fff";
    g.lineWidth = 2;
    g.beginPath();
    g.arc(mx, my, 4.5, 0, 2 * Math.PI);
    g.fill();
    g.stroke();
    for (const s of this.samples) {
      const [x, y] = v.toPx(v.project(s.z));
      for (const [color, width] of [["#fff", 4], ["#111", 2]]) {
        g.strokeStyle = color;
        g.lineWidth = width;
        g.beginPath();
        g.moveTo(x - 5, y - 5);
        g.lineTo(x + 5, y + 5);
        g.moveTo(x + 5, y - 5);
        g.lineTo(x - 5, y + 5);
        g.stroke();
      }
    }
    g.lineWidth = 1;
  }
}
