// The notebook's live training view: reconstruction and KL against the step, training
// (solid, averaged over recent batches by Python) and validation (dashed, dots at each
// evaluation), on two small canvases, redrawn when Python sends new rows (``rows``: column
// arrays, at most a few hundred points, thinned in Python). Labels as on the app's Train page.

const SPLITS = { training: "#1f77b4", validation: "#ff7f0e" };
const PAD = { l: 46, r: 8, t: 20, b: 26 };

function tick(v) {
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export class Curves {
  constructor(root) {
    this.box = document.createElement("div");
    this.box.className = "lp-curves";
    root.appendChild(this.box);
    this.status = document.createElement("div");
    this.status.className = "lp-caption lp-curve-status";
    this.box.appendChild(this.status);
    this.row = document.createElement("div");
    this.row.className = "lp-row";
    this.box.appendChild(this.row);
    this.panels = ["recon", "kl"].map((term) => {
      const c = document.createElement("canvas");
      c.className = "lp-curve";
      c.setAttribute("role", "img");
      c.dataset.term = term;
      this.row.appendChild(c);
      return { term, canvas: c };
    });
    const note = document.createElement("div");
    note.className = "lp-note";
    note.textContent = "Solid: training (averaged over recent batches); dashed: validation. Nats per image.";
    this.box.appendChild(note);
  }

  update(rows, status) {
    this.status.textContent = status || "";
    if (!rows || !rows.step) return;
    for (const p of this.panels) this.draw(p, rows);
  }

  draw({ term, canvas }, rows) {
    const w = 320, h = 190, r = window.devicePixelRatio || 1;
    canvas.width = w * r;
    canvas.height = h * r;
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    const title = term === "recon" ? "reconstruction" : "KL";
    canvas.setAttribute("aria-label", `${title} against the step, training and validation`);
    const g = canvas.getContext("2d");
    g.setTransform(r, 0, 0, r, 0, 0);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, w, h);
    const series = [
      ["training", rows.step, rows[term]],
      ["validation", rows.val_step || [], rows["val_" + term] || []],
    ];
    const xs = series.flatMap((s) => s[1]), ys = series.flatMap((s) => s[2]).filter(Number.isFinite);
    g.fillStyle = "#31333f";
    g.font = "12px sans-serif";
    g.fillText(title, PAD.l, 13);
    if (!xs.length || !ys.length) return;
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
    const px = (x) => PAD.l + ((x - x0) / (x1 - x0)) * (w - PAD.l - PAD.r);
    const py = (y) => h - PAD.b - ((y - y0) / (y1 - y0)) * (h - PAD.t - PAD.b);
    g.strokeStyle = "#d0d3da";
    g.beginPath();
    g.moveTo(PAD.l, PAD.t);
    g.lineTo(PAD.l, h - PAD.b);
    g.lineTo(w - PAD.r, h - PAD.b);
    g.stroke();
    g.fillStyle = "#555";
    g.fillText(tick(y1), 2, PAD.t + 8);
    g.fillText(tick(y0), 2, h - PAD.b);
    g.fillText("step " + Math.round(x1), w - PAD.r - 70, h - 8);
    for (const [split, sx, sy] of series) {
      g.strokeStyle = g.fillStyle = SPLITS[split];
      g.lineWidth = 1.6;
      g.setLineDash(split === "validation" ? [5, 3] : []);
      g.beginPath();
      sx.forEach((x, i) => (i ? g.lineTo(px(x), py(sy[i])) : g.moveTo(px(x), py(sy[i]))));
      g.stroke();
      if (split === "validation") sx.forEach((x, i) => g.fillRect(px(x) - 2, py(sy[i]) - 2, 4, 4));
    }
    g.setLineDash([]);
    g.fillStyle = SPLITS.training;
    g.fillText("training", w - 120, 13);
    g.fillStyle = SPLITS.validation;
    g.fillText("validation", w - 65, 13);
  }
}
