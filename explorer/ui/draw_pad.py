"""Draw and watch the encoder: the drawing pad beside the latent plane (its Python side).

The pad lives in the latent-plane component (``components/latent_plane/src/draw.js``):
as a person draws, the browser renders the strokes at the data's size, runs the run's
*encoder* (its ONNX export, :func:`explorer.export.onnx_write.encoder_onnx`, on the same
in-browser runtime as the decoder) and draws q(z|x) on the plane: its mean and its 1σ
and 2σ ellipses, at every animation frame, with nothing sent to the server. "Sample z"
draws z = μ + σ ⊙ ε with ε ~ N(0, I), shows ε and decodes z.

:func:`spec` gives what the component needs for one run (or the reason there is no pad:
2-D toy data, an encoder too large for a browser); :func:`latent_plane.mount
<explorer.ui.latent_plane.mount>` sends it, with the encoder's bytes once per browser tab.
How the pad renders a drawing follows each dataset: the brush's width matches the data's
strokes, binarised data are thresholded as the model's inputs were, and the starting
drawings sit where the data's own items do (MNIST's digits in the central 20 of 28 pixels).
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from .. import decoder_cache
from .. import store
from ..config import RunConfig
from ..export import onnx_check, onnx_write

PAD_PX = 180


@dataclass(frozen=True)
class BrowserEncoder:
    """A run's encoder as sent to the browser: its key (``enc-`` + the weights' hash) and bytes."""
    key: str
    b64: str
    nbytes: int


@dataclass
class DrawSpec:
    """The pad's settings for one run (plain data) and its encoder."""
    encoder: BrowserEncoder
    brush: float                          # stroke width, a share of the pad's side
    binarize: float | None                # threshold the drawing as the inputs were, or None
    starters: list[dict] = field(default_factory=list)
    title: str = "Draw here: q(z|x) follows every stroke"
    invert: bool = False

    @property
    def key(self) -> str:
        return self.encoder.key

    def payload(self, *, send_encoder: bool) -> dict:
        enc = {"key": self.encoder.key}
        if send_encoder:
            enc["b64"] = self.encoder.b64
        return {"encoder": enc, "brush": self.brush, "binarize": self.binarize, "title": self.title,
                "starters": self.starters, "invert": self.invert, "pad_px": PAD_PX}


# ------------------------------------------------------------ the encoder

@st.cache_resource(max_entries=32, show_spinner=False)
def _encoder(run_dir: str, mtime_ns: int, size: int) -> BrowserEncoder | str:
    model = store.load_model(Path(run_dir), device="cpu")
    data = onnx_write.encoder_onnx(model)
    try:
        onnx_check.check_onnx(data, onnx_check.BROWSER_MAX_BYTES)
    except onnx_check.OnnxError as e:
        return str(e).replace("the decoder is", "the encoder is")
    key = "enc-" + decoder_cache.weights_key(Path(run_dir))
    return BrowserEncoder(key, base64.b64encode(data).decode("ascii"), len(data))


def browser_encoder(run_dir: Path) -> BrowserEncoder | str:
    """The run's encoder for the browser, exported once per weights file, or why not."""
    s = (Path(run_dir) / store.WEIGHTS).stat()
    return _encoder(str(run_dir), s.st_mtime_ns, s.st_size)


# ------------------------------------------------------------ starting drawings

def _ring(cx, cy, rx, ry, n=28):
    return [v for k in range(n + 1) for v in (cx + rx * math.cos(2 * math.pi * k / n),
                                             cy + ry * math.sin(2 * math.pi * k / n))]


def _digit_starters(box: float) -> list[dict]:
    """A 0, a 1 and a 7, drawn in a box of side ``box`` (a share of the pad) at its centre."""
    def fit(pts):
        return [round(0.5 + (v - 0.5) * box, 4) for v in pts]
    return [{"name": "a 0", "strokes": [{"pts": fit(_ring(0.5, 0.5, 0.3, 0.42))}]},
            {"name": "a 1", "strokes": [{"pts": fit([0.42, 0.18, 0.55, 0.06, 0.55, 0.94])}]},
            {"name": "a 7", "strokes": [{"pts": fit([0.2, 0.1, 0.8, 0.1, 0.42, 0.94])}]}]


def _shape_starters() -> list[dict]:
    """Filled shapes like the shapes data's (a square, a triangle, an ellipse)."""
    return [{"name": "a square", "strokes": [{"pts": [0.38, 0.38, 0.62, 0.38, 0.62, 0.62, 0.38, 0.62], "fill": True}]},
            {"name": "a triangle", "strokes": [{"pts": [0.5, 0.33, 0.65, 0.6, 0.35, 0.6], "fill": True}]},
            {"name": "an ellipse", "strokes": [{"pts": [round(v, 4) for v in _ring(0.45, 0.55, 0.16, 0.09)],
                                                "fill": True}]}]


def _other_starters() -> list[dict]:
    return [{"name": "a ring", "strokes": [{"pts": [round(v, 4) for v in _ring(0.5, 0.5, 0.25, 0.3)]}]},
            {"name": "a bar", "strokes": [{"pts": [0.5, 0.2, 0.5, 0.8]}]},
            {"name": "a cross", "strokes": [{"pts": [0.3, 0.3, 0.7, 0.7]}, {"pts": [0.7, 0.3, 0.3, 0.7]}]}]


def pad_settings(config: RunConfig) -> tuple[float, float | None, list[dict]]:
    """``(brush, binarize threshold or None, starters)`` for the run's data."""
    d = config.data
    cut = d.threshold if d.binarize == "threshold" else None
    if d.name == "digits":
        return 0.17, cut, _digit_starters(0.85)
    if d.name == "mnist":
        return 0.095, cut, _digit_starters(0.68)
    if d.name == "shapes":
        return 0.1, 0.5, _shape_starters()
    return 0.09, cut, _other_starters()


def spec(run_dir: Path, config: RunConfig, data_shape) -> DrawSpec | str:
    """The pad for the run in ``run_dir`` (its weights file's encoder), or why there is none."""
    if len(tuple(data_shape)) != 3:
        return "the drawing pad is for images; this run's data are points in 2-D"
    if not (Path(run_dir) / store.WEIGHTS).is_file() or not store.model_saved(run_dir):   # (mid first save)
        return "this run has no saved weights yet (the first checkpoint comes at the first epoch's end)"
    enc = browser_encoder(Path(run_dir))
    if isinstance(enc, str):
        return enc
    brush, cut, starters = pad_settings(config)
    return DrawSpec(encoder=enc, brush=brush, binarize=cut, starters=starters)


def caption(latent_dim: int, kind: str = "vae", *, plane: str = "two dimensions") -> str:
    """What the pad's layer on the plane means, said on the page (and for d > 2 and an
    autoencoder, what it is not)."""
    text = ("**Draw** on the pad: your browser runs the encoder on the drawing at every stroke and "
            "draws q(z|x) on the plane: its mean (dot) and its 1σ and 2σ ellipses. The image beside "
            "the plane is the decoder's mean at z = μ(x). **Sample z** draws z = μ + σ ⊙ ε, "
            "ε ~ N(0, I), shows ε and decodes z (the × marks on the plane).")
    if kind == "ae":
        text += " This is an autoencoder: its code is a point, so there is no ellipse and nothing to sample."
    if latent_dim > 2:
        text += (f" The latent space has {latent_dim} dimensions and the plane shows {plane}: the ellipse "
                 "is q(z|x) projected onto the plane (the marginal of the Gaussian along its two "
                 "directions), and the dot is μ's projection; the decoded image uses all of μ.")
    return text
