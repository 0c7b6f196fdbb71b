// A small ONNX runtime for the decoders Latent Explorer exports (explorer/export/onnx.py).
//
// It reads the standard ONNX protobuf and runs the operators those graphs use: Gemm, Relu,
// Sigmoid, Reshape, Flatten, Conv (encoders), ConvTranspose and Slice, in float32, on the main thread, in
// plain JavaScript. Any other operator, attribute value or data type is refused with a
// message (the component then falls back to decoding on the server). Why not
// onnxruntime-web: see this folder's README (in short: its WebAssembly file is 14 MB, for
// graphs that take ~1 ms here).

// ------------------------------------------------------------------ protobuf

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.b = bytes;
    this.i = start;
    this.end = end;
  }
  done() {
    return this.i >= this.end;
  }
  varint() {
    // int64 values: negative ones take 10 bytes; exact through BigInt when long
    let lo = 0, shift = 0, b;
    const start = this.i;
    do {
      if (this.i >= this.end) throw new Error("truncated protobuf");
      b = this.b[this.i++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (this.i - start <= 4) return lo >>> 0;
    let v = 0n;
    for (let k = this.i - 1; k >= start; k--) v = (v << 7n) | BigInt(this.b[k] & 0x7f);
    return Number(BigInt.asIntN(64, v));
  }
  field() {
    const key = this.varint();
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) return [field, this.varint()];
    if (wire === 2) {
      const n = this.varint();
      if (this.i + n > this.end) throw new Error("truncated protobuf");
      const sub = [this.i, this.i + n];
      this.i += n;
      return [field, sub];
    }
    if (wire === 5) {
      const v = new DataView(this.b.buffer, this.b.byteOffset + this.i, 4).getFloat32(0, true);
      this.i += 4;
      return [field, v];
    }
    if (wire === 1) {
      this.i += 8;
      return [field, null];
    }
    throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  *fields() {
    while (!this.done()) yield this.field();
  }
}

const utf8 = new TextDecoder();

function sub(r, [a, b]) {
  return new Reader(r.b, a, b);
}

function text(r, [a, b]) {
  return utf8.decode(r.b.subarray(a, b));
}

function ints(r, v) {
  // a repeated int64: packed (a byte range) or one varint
  if (typeof v === "number") return [v];
  const out = [];
  const s = sub(r, v);
  while (!s.done()) out.push(s.varint());
  return out;
}

function parseTensor(r) {
  const t = { dims: [], type: 0, name: "", raw: null };
  for (const [f, v] of r.fields()) {
    if (f === 1) t.dims.push(...ints(r, v));
    else if (f === 2) t.type = v;
    else if (f === 8) t.name = text(r, v);
    else if (f === 9) t.raw = r.b.slice(v[0], v[1]); // a copy: aligned for typed arrays
    else throw new Error(`weight field ${f} is not supported`);
  }
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.type === 1) {
    if (!t.raw || t.raw.length !== 4 * n) throw new Error(`weight ${t.name} is truncated`);
    return { name: t.name, shape: t.dims, data: new Float32Array(t.raw.buffer, 0, n) };
  }
  if (t.type === 7) {
    if (!t.raw || t.raw.length !== 8 * n) throw new Error(`weight ${t.name} is truncated`);
    const dv = new DataView(t.raw.buffer);
    const data = Array.from({ length: n }, (_, k) => Number(dv.getBigInt64(8 * k, true)));
    return { name: t.name, shape: t.dims, data, int: true };
  }
  throw new Error(`weight ${t.name} has data type ${t.type}, not float32 or int64`);
}

function parseAttribute(r) {
  const a = { name: "", value: null };
  for (const [f, v] of r.fields()) {
    if (f === 1) a.name = text(r, v);
    else if (f === 2 || f === 3) a.value = v;
    else if (f === 8) a.value = (a.value || []).concat(ints(r, v));
    else if (f === 20) continue;
    else throw new Error(`attribute field ${f} is not supported`);
  }
  return a;
}

function parseNode(r) {
  const n = { op: "", inputs: [], outputs: [], attrs: {} };
  for (const [f, v] of r.fields()) {
    if (f === 1) n.inputs.push(text(r, v));
    else if (f === 2) n.outputs.push(text(r, v));
    else if (f === 4) n.op = text(r, v);
    else if (f === 5) {
      const a = parseAttribute(sub(r, v));
      n.attrs[a.name] = a.value;
    } else if (f === 7) {
      if (!["", "ai.onnx"].includes(text(r, v))) throw new Error("an operator of another domain");
    }
  }
  return n;
}

function valueName(r) {
  for (const [f, v] of r.fields()) if (f === 1) return text(r, v);
  return "";
}

/** Parse an ONNX model (bytes) into {nodes, weights, input, outputs}. */
export function parseModel(bytes) {
  const top = new Reader(bytes);
  let graph = null;
  for (const [f, v] of top.fields()) if (f === 7) graph = sub(top, v);
  if (!graph) throw new Error("not an ONNX model (no graph)");
  const g = { nodes: [], weights: new Map(), input: null, outputs: [] };
  for (const [f, v] of graph.fields()) {
    if (f === 1) g.nodes.push(parseNode(sub(graph, v)));
    else if (f === 5) {
      const t = parseTensor(sub(graph, v));
      g.weights.set(t.name, t);
    } else if (f === 11) g.input = valueName(sub(graph, v));
    else if (f === 12) g.outputs.push(valueName(sub(graph, v)));
  }
  return g;
}

// ----------------------------------------------------------------- operators

const ATTRS = {
  Gemm: ["transA", "transB", "alpha", "beta"], Relu: [], Sigmoid: [], Reshape: [], Slice: [],
  Flatten: ["axis"], ConvTranspose: ["kernel_shape", "strides", "pads", "dilations", "group"],
  Conv: ["kernel_shape", "strides", "pads", "dilations", "group"],
};

function size(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function gemm(node, [a, b, c], out) {
  const { transA = 0, transB = 0, alpha = 1, beta = 1 } = node.attrs;
  if (transA) throw new Error("Gemm with transA is not supported");
  const [n, k] = a.shape;
  const m = transB ? b.shape[0] : b.shape[1];
  if ((transB ? b.shape[1] : b.shape[0]) !== k) throw new Error("Gemm: shapes do not match");
  const y = out(n * m);
  const A = a.data, B = b.data, C = c ? c.data : null;
  const cRow = C && C.length === m;
  for (let i = 0; i < n; i++) {
    const ai = i * k;
    for (let j = 0; j < m; j++) {
      let s = 0;
      if (transB) {
        const bj = j * k;
        for (let q = 0; q < k; q++) s += A[ai + q] * B[bj + q];
      } else {
        for (let q = 0; q < k; q++) s += A[ai + q] * B[q * m + j];
      }
      y[i * m + j] = alpha * s + (C ? beta * (cRow ? C[j] : C[i * m + j]) : 0);
    }
  }
  return { shape: [n, m], data: y };
}

function convTranspose(node, [x, w, bias], out) {
  const { kernel_shape: ks, strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], group = 1 } = node.attrs;
  if (group !== 1 || dilations.some((d) => d !== 1)) throw new Error("ConvTranspose: groups or dilation");
  const [n, c, h, wd] = x.shape;
  const [wc, m, kh, kw] = w.shape;
  if (wc !== c || (ks && (ks[0] !== kh || ks[1] !== kw))) throw new Error("ConvTranspose: shapes do not match");
  const [sh, sw] = strides;
  const [pt, pl, pb, pr] = pads;
  const oh = (h - 1) * sh - pt - pb + kh;
  const ow = (wd - 1) * sw - pl - pr + kw;
  const y = out(n * m * oh * ow);
  const X = x.data, W = w.data;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < m; o++) {
      const base = (b * m + o) * oh * ow;
      const bv = bias ? bias.data[o] : 0;
      for (let p = 0; p < oh * ow; p++) y[base + p] = bv;
    }
    for (let ci = 0; ci < c; ci++) {
      const xb = (b * c + ci) * h * wd;
      for (let o = 0; o < m; o++) {
        const wb = (ci * m + o) * kh * kw;
        const yb = (b * m + o) * oh * ow;
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < wd; j++) {
            const v = X[xb + i * wd + j];
            if (v === 0) continue;
            for (let u = 0; u < kh; u++) {
              const r = i * sh - pt + u;
              if (r < 0 || r >= oh) continue;
              for (let t = 0; t < kw; t++) {
                const q = j * sw - pl + t;
                if (q >= 0 && q < ow) y[yb + r * ow + q] += v * W[wb + u * kw + t];
              }
            }
          }
        }
      }
    }
  }
  return { shape: [n, m, oh, ow], data: y };
}

function conv(node, [x, w, bias], out) {
  // the encoder's convolutions (explorer/export/onnx.py writes Conv for a conv body)
  const { kernel_shape: ks, strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], group = 1 } = node.attrs;
  if (group !== 1 || dilations.some((d) => d !== 1)) throw new Error("Conv: groups or dilation");
  const [n, c, h, wd] = x.shape;
  const [m, wc, kh, kw] = w.shape;
  if (wc !== c || (ks && (ks[0] !== kh || ks[1] !== kw))) throw new Error("Conv: shapes do not match");
  const [sh, sw] = strides;
  const [pt, pl, pb, pr] = pads;
  const oh = Math.floor((h + pt + pb - kh) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - kw) / sw) + 1;
  const y = out(n * m * oh * ow);
  const X = x.data, W = w.data;
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < m; o++) {
      const yb = (b * m + o) * oh * ow;
      const bv = bias ? bias.data[o] : 0;
      for (let r = 0; r < oh; r++) {
        for (let q = 0; q < ow; q++) {
          let s = bv;
          for (let ci = 0; ci < c; ci++) {
            const xb = (b * c + ci) * h * wd, wb = (o * c + ci) * kh * kw;
            for (let u = 0; u < kh; u++) {
              const i = r * sh - pt + u;
              if (i < 0 || i >= h) continue;
              for (let t = 0; t < kw; t++) {
                const j = q * sw - pl + t;
                if (j >= 0 && j < wd) s += X[xb + i * wd + j] * W[wb + u * kw + t];
              }
            }
          }
          y[yb + r * ow + q] = s;
        }
      }
    }
  }
  return { shape: [n, m, oh, ow], data: y };
}

function reshape(node, [x, s]) {
  const want = s.data.map((d, k) => (d === 0 ? x.shape[k] : d));
  const known = want.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const shape = want.map((d) => (d === -1 ? size(x.shape) / known : d));
  if (size(shape) !== size(x.shape)) throw new Error("Reshape: sizes do not match");
  return { shape, data: x.data };
}

function slice(node, [x, starts, ends, axes, steps], out) {
  if (steps && steps.data.some((s) => s !== 1)) throw new Error("Slice: steps other than 1");
  const rank = x.shape.length;
  const lo = x.shape.map(() => 0), hi = x.shape.slice();
  const ax = axes ? axes.data : starts.data.map((_, k) => k);
  ax.forEach((a0, k) => {
    const a = a0 < 0 ? a0 + rank : a0;
    const d = x.shape[a];
    const clamp = (v) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
    lo[a] = clamp(starts.data[k]);
    hi[a] = Math.max(lo[a], clamp(ends.data[k]));
  });
  const shape = hi.map((h, k) => h - lo[k]);
  const y = out(size(shape));
  const stride = x.shape.map((_, k) => size(x.shape.slice(k + 1)));
  const idx = new Array(rank).fill(0);
  for (let p = 0; p < y.length; p++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += (lo[k] + idx[k]) * stride[k];
    y[p] = x.data[src];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return { shape, data: y };
}

function unary(fn) {
  return (node, [x], out) => {
    const y = out(x.data.length);
    for (let p = 0; p < y.length; p++) y[p] = fn(x.data[p]);
    return { shape: x.shape, data: y };
  };
}

const OPS = {
  Gemm: gemm,
  Conv: conv,
  ConvTranspose: convTranspose,
  Reshape: reshape,
  Slice: slice,
  Flatten: (node, [x]) => {
    const a = node.attrs.axis ?? 1;
    return { shape: [size(x.shape.slice(0, a)), size(x.shape.slice(a))], data: x.data };
  },
  Relu: unary((v) => (v > 0 ? v : 0)),
  Sigmoid: unary((v) => 1 / (1 + Math.exp(-v))),
};

// ------------------------------------------------------------------- the model

/** A parsed graph ready to run: ``runAll(x, shape)`` -> Map of every computed tensor. */
export class OnnxGraph {
  constructor(bytes) {
    this.g = parseModel(bytes);
    for (const node of this.g.nodes) {
      if (!OPS[node.op]) throw new Error(`operator ${node.op} is not supported in the browser`);
      const extra = Object.keys(node.attrs).filter((a) => !ATTRS[node.op].includes(a));
      if (extra.length) throw new Error(`${node.op} attribute ${extra[0]} is not supported`);
    }
    if (!this.g.input || this.g.outputs.length < 1) throw new Error("the graph has no input or output");
    this.buffers = new Map(); // one output buffer per node and size: no garbage per frame
  }

  runAll(x, shape) {
    const env = new Map(this.g.weights);
    env.set(this.g.input, { shape, data: x instanceof Float32Array ? x : Float32Array.from(x) });
    this.g.nodes.forEach((node, k) => {
      const inputs = node.inputs.map((name) => (name ? env.get(name) : undefined));
      if (inputs.some((t, i) => node.inputs[i] && !t)) throw new Error(`${node.op} reads an unknown tensor`);
      const out = (n) => {
        const key = `${k}:${n}`;
        let buf = this.buffers.get(key);
        if (!buf) this.buffers.set(key, (buf = new Float32Array(n)));
        return buf;
      };
      env.set(node.outputs[0], OPS[node.op](node, inputs, out));
    });
    for (const name of this.g.outputs) if (!env.get(name)) throw new Error("the graph's output is never computed");
    return env;
  }
}

/** A decoder ready to run: ``run(z)`` -> {shape, data} for one latent vector (or a batch). */
export class OnnxDecoder extends OnnxGraph {
  run(z, batch = 1) {
    return this.runAll(z, [batch, z.length / batch]).get(this.g.outputs[0]);
  }
}
