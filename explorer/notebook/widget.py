"""The latent plane as a notebook widget: ``run.explore()``.

    w = explorer.open("digits-vae-z2-b1").explore()
    w            # the plane: hover decodes under the pointer (in the browser), a click pins z
    w.z          # the pinned z, in Python

:class:`LatentWidget` is an ``anywidget.AnyWidget`` whose ES module is the app's
latent-plane component behind a thin adapter (``src/widget.js``, built into
``build/widget.js``); it is given the same data as the app's pages
(:func:`explorer.figures.plane.payload`) and the run's decoder as ONNX, which the
browser runs. :func:`explore` fills it from a run: the points of its stored validation
images (or its data), the plane of its two most active dimensions (or the two you choose),
one slider per dimension and a traversal of each of the most active ones.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from .. import data as data_mod
from .. import store
from ..analysis import latent
from ..decoder_cache import run_decoder
from ..figures.plane import BrowserDecoder, payload, plane_spec, points_spec

ASSETS = Path(__file__).resolve().parent.parent / "ui" / "components" / "latent_plane" / "build"
MAX_POINTS = 2000             # points encoded for the plane
TRAVERSALS = 4                # dimensions given a traversal path, most active first


class LatentWidget(anywidget.AnyWidget):
    """The latent plane, decoded in the browser. ``z``: the z pinned there (a click, Enter,
    a slider's release), readable and settable from Python."""

    _esm = ASSETS / "widget.js"
    _css = ASSETS / "latent_plane.css"
    kind = traitlets.Unicode("plane").tag(sync=True)
    data = traitlets.Dict().tag(sync=True)
    decoder_b64 = traitlets.Unicode("").tag(sync=True)
    decoder_key = traitlets.Unicode("").tag(sync=True)
    z = traitlets.List(traitlets.Float()).tag(sync=True)
    rows = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def set_decoder(self, onnx_bytes: bytes) -> None:
        """Send a decoder (ONNX bytes) to the browser, once per distinct decoder."""
        key = hashlib.sha256(onnx_bytes).hexdigest()[:32]
        if key != self.decoder_key:
            self.decoder_b64 = base64.b64encode(onnx_bytes).decode("ascii")
            self.decoder_key = key

    @traitlets.observe("z")
    def _z_moved(self, change) -> None:
        """A z set from Python moves the plane's pinned point too."""
        z = list(change["new"] or [])
        if self.data and len(z) == self.data.get("latent_dim") and z != self.data.get("z"):
            self.data = {**self.data, "z": [round(float(v), 4) for v in z]}


def points_of(run, n: int = MAX_POINTS):
    """``(x, y, class names)`` to encode: the run's stored validation images, else its data's."""
    probe = store.load_probe(run.path)
    if probe is not None:
        x, y, names = probe
        return x[:n], None if y is None else y[:n], names
    cfg = run.config
    if data_mod.available_offline(cfg.data):
        ds = data_mod.load(cfg.data)
        return ds.x_val[:n], None if ds.y_val is None else ds.y_val[:n], ds.class_names
    return None, None, None


def plane_data(model, mu, logvar, labels, names, *, dims=None, z=None, sliders: bool = True,
               traversals: bool = True, decoder_key: str = "") -> dict:
    """The component's data for a model and its codes (``mu``, ``logvar``: ``[N, D]``)."""
    d = model.latent_dim
    specs = latent.slider_specs(d, mu if len(mu) > 1 else None, logvar, model.kind)
    if dims is None:
        dims = (specs[0].dim, specs[1].dim) if d > 1 else (0, 0)
    proj = latent.dims_projection(d, tuple(dims))
    z = np.zeros(d) if z is None else np.asarray(z, float)
    xy = proj.transform(mu) if len(mu) else np.zeros((0, 2))
    paths = []
    if traversals:
        values = np.linspace(-3.0, 3.0, 25)
        for s in specs[:TRAVERSALS]:
            zs = np.zeros((len(values), d))
            zs[:, s.dim] = values
            paths.append((f"traverse z{s.dim + 1}", zs, ("−3", "+3")))
    dec = BrowserDecoder(decoder_key, "", 0)
    return payload(dec, latent_dim=d, out_shape=model.data_shape, z=z, send_decoder=False,
                   plane=plane_spec(proj, None, latent.plane_extent(xy, proj.transform(np.zeros(d)))),
                   points=points_spec(xy, labels, names), sliders=specs if sliders else None,
                   paths=paths or None)


def explore(run, *, dims: tuple[int, int] | None = None, n: int = MAX_POINTS, sliders: bool = True,
            traversals: bool = True) -> LatentWidget:
    """A :class:`LatentWidget` for ``run`` (an :class:`explorer.api.Run`): ``dims`` the two
    dimensions of the plane (0-based; default the two most active), ``n`` points at most."""
    model = run.model
    x, y, names = points_of(run, n)
    if x is not None:
        mu, logvar = (a.cpu().numpy() for a in model.encode_mean(x))
    else:
        mu = logvar = np.zeros((0, model.latent_dim))
    w = LatentWidget()
    w.set_decoder(run_decoder(run.path, model)[0])
    w.data = plane_data(model, mu, logvar, None if y is None else y.numpy(), names, dims=dims,
                        sliders=sliders, traversals=traversals, decoder_key=w.decoder_key)
    w.z = [0.0] * model.latent_dim
    return w
