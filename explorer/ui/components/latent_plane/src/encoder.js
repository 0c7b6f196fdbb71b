// The run's encoder in the browser: the same ONNX runtime as the decoder (./onnx.js) runs
// the graph explorer/export/onnx.py's encoder_onnx writes: x [1, C, H, W] -> mu [1, D] and,
// for a VAE, logvar [1, D] (an autoencoder's code is a point: mu only).

import { OnnxGraph } from "./onnx.js";

export class OnnxEncoder extends OnnxGraph {
  constructor(bytes, inShape) {
    super(bytes);
    this.inShape = inShape.slice();
    this.n = inShape.reduce((a, b) => a * b, 1);
  }

  /** q(z|x) of one item ``x`` (Float32Array of C·H·W values): {mu, logvar} (Float64Arrays;
   * logvar null for an autoencoder). */
  encode(x) {
    if (x.length !== this.n) throw new Error(`the encoder wants ${this.n} values, got ${x.length}`);
    const env = this.runAll(x, [1, ...this.inShape]);
    const [muName, lvName] = this.g.outputs;
    const mu = Float64Array.from(env.get(muName).data);
    const logvar = lvName ? Float64Array.from(env.get(lvName).data) : null;
    return { mu, logvar };
  }
}
