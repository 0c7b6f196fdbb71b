// Latent Explorer's latent-plane component (Streamlit components v2).
//
// Python (explorer/ui/latent_plane.py) mounts it with JSON data: the plane, the points,
// the current z, optional sliders and paths, and the decoder: its key (a hash of the
// weights) and, when this browser tab does not have it yet, the ONNX bytes (base64).
// Decoders are kept per tab, by key, so a page rerun sends only the key. State sent
// back: ``pinned`` ({z, seq}) when a z is pinned, ``need`` ({key, seq}) when a decoder
// is missing here, ``failed`` (a reason) when it cannot run here: the page then decodes
// on the server.

import { DrawPanel } from "./draw.js";
import { OnnxEncoder } from "./encoder.js";
import { OnnxDecoder } from "./onnx.js";
import { View } from "./view.js";

const decoders = new Map(); // key -> OnnxDecoder, the last few used
const waiters = new Map(); // key -> callbacks waiting for that decoder
const MAX_DECODERS = 6;

function b64bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function remember(key, dec) {
  decoders.delete(key);
  decoders.set(key, dec);
  while (decoders.size > MAX_DECODERS) decoders.delete(decoders.keys().next().value);
  (waiters.get(key) || []).forEach((f) => f(dec));
  waiters.delete(key);
}

function whenReady(key, ms) {
  // another instance on the page may be parsing the same decoder right now
  return new Promise((resolve) => {
    const list = waiters.get(key) || [];
    list.push(resolve);
    waiters.set(key, list);
    setTimeout(() => resolve(decoders.get(key) || null), ms);
  });
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let view = parentElement.__latentPlane;
  if (!view) {
    view = parentElement.__latentPlane = new View(parentElement);
    view.needSeq = 0;
  }
  const fail = (why) => {
    if (view.failed) return;
    view.failed = true;
    view.message(`Decoding in this browser failed: ${why}`);
    setStateValue("failed", why);
  };
  view.onFail = fail;
  try {
    view.update(data, (z, seq) => setStateValue("pinned", { z, seq }));
  } catch (e) {
    fail(e.message);
    return undefined;
  }
  drawing(view, data, setStateValue);
  const key = data.decoder && data.decoder.key;
  if (!key) return undefined;
  let dec = decoders.get(key);
  if (!dec && data.decoder.b64) {
    try {
      dec = new OnnxDecoder(b64bytes(data.decoder.b64));
      dec.run(new Float32Array(data.latent_dim)); // fail here, not mid-frame
      remember(key, dec);
    } catch (e) {
      fail(e.message);
      return undefined;
    }
  }
  if (dec) {
    if (view.decoder !== dec) view.setDecoder(dec, key);
    return undefined;
  }
  view.message("loading the decoder…");
  whenReady(key, 1500).then((got) => {
    if (got) view.setDecoder(got, key);
    else setStateValue("need", { key, seq: ++view.needSeq });
  });
  return undefined;
}

// ------------------------------------------------------------ the drawing pad

const encoders = new Map(); // key -> OnnxEncoder, the last few used

function drawing(view, data, setStateValue) {
  // the drawing pad beside the plane (data.draw: its spec and the encoder's key/bytes)
  const spec = data.draw;
  if (!spec) {
    if (view.drawPanel) {
      view.drawPanel.box.style.display = "none";
      view.reserved = 0;
    }
    return;
  }
  const panel = (view.drawPanel ||= new DrawPanel(view));
  panel.box.style.display = "";
  view.reserved = (spec.pad_px || 180) + 16;
  panel.update(spec, data.out_shape);
  view.layout();
  const key = spec.encoder && spec.encoder.key;
  let enc = encoders.get(key);
  if (!enc && spec.encoder.b64) {
    try {
      enc = new OnnxEncoder(b64bytes(spec.encoder.b64), data.out_shape);
      enc.encode(new Float32Array(enc.n)); // fail here, not mid-stroke
      encoders.delete(key);
      encoders.set(key, enc);
      while (encoders.size > MAX_DECODERS) encoders.delete(encoders.keys().next().value);
    } catch (e) {
      panel.readout.textContent = `The encoder cannot run in this browser: ${e.message}`;
      return;
    }
  }
  if (enc) {
    if (panel.encoder !== enc) panel.setEncoder(enc);
  } else {
    panel.readout.textContent = "loading the encoder…";
    setStateValue("need", { key, seq: ++view.needSeq });
  }
}

// for tests: the runtime alone (tests/test_latent_plane.py checks it against PyTorch), and
// the decoders this tab holds, one of which can be dropped as the cache would drop it
export { OnnxDecoder, OnnxEncoder };
export const decoderKeys = () => [...decoders.keys()];
export const forget = (key) => decoders.delete(key);
