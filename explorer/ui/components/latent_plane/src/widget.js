// Latent Explorer's notebook widget (anywidget): the same latent plane as the app's pages
// (view.js) and the same in-browser decoder (onnx.js), behind anywidget's standard contract
// (an ES module whose default export has ``render({ model, el })``), so it runs in
// JupyterLab, Jupyter Notebook, VS Code and marimo alike. explorer/notebook/widget.py is
// its Python side.
//
// Traitlets read here: ``data`` (the dict explorer/figures/plane.py:payload builds, as the
// app's component gets it), ``decoder_b64`` and ``decoder_key`` (the ONNX decoder, sent once
// per model), ``kind`` ("plane", or "live": training curves above the plane, from ``rows``
// and ``status``). Written back: ``z`` (the z pinned by a click, Enter or a slider's release).

import { Curves } from "./curves.js";
import { OnnxDecoder } from "./onnx.js";
import { View } from "./view.js";

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "lp-widget";
  el.appendChild(root);
  const curves = model.get("kind") === "live" ? new Curves(root) : null;
  const planeBox = document.createElement("div");
  root.appendChild(planeBox);
  const view = new View(planeBox);
  let key = null;
  const pin = (z) => {
    model.set("z", Array.from(z));
    model.save_changes();
  };
  const decoder = () => {
    const want = model.get("decoder_key"), b64 = model.get("decoder_b64");
    if (!want || want === key || !b64) return;
    try {
      const dec = new OnnxDecoder(bytesOf(b64));
      dec.run(new Float32Array(model.get("data").latent_dim)); // fail here, not mid-frame
      view.setDecoder(dec, want);
      key = want;
      view.message("");
    } catch (e) {
      view.message(`This browser cannot run the decoder: ${e.message}`);
    }
  };
  const update = () => {
    const data = model.get("data");
    if (!data || !data.latent_dim) {
      view.message("waiting for the model…");
      return;
    }
    view.update(data, pin);
    decoder();
  };
  const rows = () => curves && curves.update(model.get("rows"), model.get("status"));
  model.on("change:data", update);
  model.on("change:decoder_b64", update);
  model.on("change:rows", rows);
  model.on("change:status", rows);
  update();
  rows();
  return () => {
    model.off("change:data", update);
    model.off("change:decoder_b64", update);
    model.off("change:rows", rows);
    model.off("change:status", rows);
  };
}

export default { render };
