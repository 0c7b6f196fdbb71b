// Accessibility of the latent-plane component, kept apart from the drawing code (view.js):
// the classes' colours AND marker shapes (the same lists as explorer/figures/common.py, so
// a class looks the same in every chart), the decoded image's text alternative, a polite
// live region that says what a pin or a traversal left, and the play buttons' state.
// docs/ACCESSIBILITY.md lists the keys.

// Okabe & Ito's colours (orange and yellow darkened) and three of Tol's: each >= 3:1 on white.
export const CLASS_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8A6D00",
  "#332288", "#882255", "#666666", "#999933", "#111318"];
export const CLASS_SHAPES = ["circle", "square", "cross", "diamond", "triangle-up",
  "triangle-down", "triangle-right", "triangle-left", "star", "x"];
export const POINT_COLOR = "#3B5BDB";   // points without a class

export function classColor(label) {
  return CLASS_COLORS[label % CLASS_COLORS.length];
}

function poly(g, x, y, r, pts) {
  g.moveTo(x + r * pts[0][0], y + r * pts[0][1]);
  for (const [a, b] of pts.slice(1)) g.lineTo(x + r * a, y + r * b);
  g.closePath();
}

// One filled marker of the class's shape at (x, y), about r pixels in radius.
export function drawMarker(g, label, x, y, r) {
  const shape = label == null ? "circle" : CLASS_SHAPES[label % CLASS_SHAPES.length];
  const t = 0.36;
  g.beginPath();
  switch (shape) {
    case "square": poly(g, x, y, r * 0.85, [[-1, -1], [1, -1], [1, 1], [-1, 1]]); break;
    case "cross": poly(g, x, y, r, [[-t, -1], [t, -1], [t, -t], [1, -t], [1, t], [t, t], [t, 1], [-t, 1],
      [-t, t], [-1, t], [-1, -t], [-t, -t]]); break;
    case "diamond": poly(g, x, y, r * 1.15, [[0, -1], [1, 0], [0, 1], [-1, 0]]); break;
    case "triangle-up": poly(g, x, y, r * 1.1, [[0, -1], [1, 0.8], [-1, 0.8]]); break;
    case "triangle-down": poly(g, x, y, r * 1.1, [[0, 1], [1, -0.8], [-1, -0.8]]); break;
    case "triangle-right": poly(g, x, y, r * 1.1, [[1, 0], [-0.8, 1], [-0.8, -1]]); break;
    case "triangle-left": poly(g, x, y, r * 1.1, [[-1, 0], [0.8, 1], [0.8, -1]]); break;
    case "star": poly(g, x, y, r * 1.2, [[0, -1], [0.24, -0.33], [0.95, -0.31], [0.39, 0.13], [0.59, 0.81],
      [0, 0.4], [-0.59, 0.81], [-0.39, 0.13], [-0.95, -0.31], [-0.24, -0.33]]); break;
    case "x": poly(g, x, y, r, [[-1, -0.6], [-0.6, -1], [0, -0.4], [0.6, -1], [1, -0.6], [0.4, 0], [1, 0.6],
      [0.6, 1], [0, 0.4], [-0.6, 1], [-1, 0.6], [-0.4, 0]]); break;
    default: g.arc(x, y, r, 0, 2 * Math.PI);
  }
  g.fill();
}

// The legend's key for one class: its marker, drawn in a small canvas (hidden from screen
// readers: the class name beside it says the same).
export function legendKey(label) {
  const c = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  c.width = c.height = Math.round(12 * dpr);
  c.style.width = c.style.height = "12px";
  c.className = "lp-swatch";
  c.setAttribute("aria-hidden", "true");
  const g = c.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = classColor(label);
  drawMarker(g, label, 6, 6, 4.5);
  return c;
}

function fmtZ(z) {
  return "(" + Array.from(z, (v) => (Math.abs(v) < 5e-3 ? "0.00" : v.toFixed(2))).join(", ") + ")";
}

// The decoded image's text alternative: which z, which model (the data's ``model``), and for
// a 2-D data set the decoded point.
export function imageLabel(data, z, decoded) {
  const who = data && data.model ? ` of the model ${data.model}` : "";
  let text = `Decoded image: the decoder's mean at z = ${fmtZ(z)}${who}`;
  if (decoded && data && data.out_shape && data.out_shape.length === 1) {
    text = `Decoded point x = ${fmtZ(decoded.data)}: the decoder's mean at z = ${fmtZ(z)}${who}`;
  }
  return text + ".";
}

// A polite live region under the image: what a pin or the end of a traversal left, said once
// (the image's own label follows every move, without being announced).
export function liveRegion(parent) {
  const e = document.createElement("div");
  e.className = "lp-status";
  e.setAttribute("role", "status");
  e.setAttribute("aria-live", "polite");
  parent.appendChild(e);
  return e;
}

export function announce(region, data, z) {
  if (region) region.textContent = `Pinned z = ${fmtZ(z)}. ` + imageLabel(data, z, null);
}

// A play button says whether it is playing (its ▶/⏸ glyph alone would not).
export function playState(btn, playing, what) {
  btn.setAttribute("aria-pressed", playing ? "true" : "false");
  btn.setAttribute("aria-label", `${playing ? "pause" : "play"} ${what}`);
}
