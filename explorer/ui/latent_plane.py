"""The latent-plane component's Python side: decode under the pointer, in the browser.

:func:`mount` draws the component (``explorer/ui/components/latent_plane``, a Streamlit
components-v2 module): the plane with the points by label, the prior's circles and the
current z, the decoded image beside it, and optional per-dimension sliders and path
scrubbers (traversals, interpolation) with a play mode. The browser holds the run's
decoder (ONNX, from :func:`explorer.decoder_cache.run_decoder`) and decodes the z under the
pointer, a finger or the arrow keys at display rate, sending nothing to the server; a
click (a tap, Enter, a slider's release) pins z, which comes back as the component's
value (``on_pin`` is called with it before the page reruns).

What reaches the browser: only the decoder (weights and graph, validated and capped by
:func:`~explorer.export.onnx_check.check_onnx`), sent once per browser tab and decoder (the
component asks again, ``need``, if it lacks one). When the component cannot be used —
its built files are missing, Streamlit cannot register it, the decoder is over the cap,
or the browser reports that it cannot run it (``failed``) — :func:`mount` returns None
after a one-line notice, and the page decodes on the server as before.

:func:`~explorer.figures.plane.payload` builds the data the component is given (plain values,
Streamlit-free: the notebook widget, :mod:`explorer.notebook`, gives the same component the
same data).
"""
from __future__ import annotations

import base64
import functools
import logging
import time
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.components.v2.get_bidi_component_manager import get_bidi_component_manager
from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

from .. import store
from ..analysis import latent
from ..analysis import projections
from ..config import RunConfig
from ..decoder_cache import model_file, run_decoder
from ..export import onnx_check, onnx_write
from ..figures.plane import MAX_POINTS, BrowserDecoder, payload, plane_spec, points_spec  # noqa: F401 - pages use them here
from ..figures.training import pick_dims
from ..models import build_model
from ..probe import load_decoder_state
from . import common, draw_pad, motion

NAME = "latent_explorer.latent_plane"
FOLDER = Path(__file__).resolve().parent / "components" / "latent_plane"
ASSETS = FOLDER / "build"
JS, CSS = "latent_plane.js", "latent_plane.css"
FAILED = "_lp_failed"         # session: why the browser could not decode (then: the server)
SENT = "_lp_sent"             # session: decoder keys this browser tab holds
_log = logging.getLogger(__name__)


# ------------------------------------------------------------- the decoder

@st.cache_resource(max_entries=32, show_spinner=False)
def _decoder(run_dir: str, mtime_ns: int, size: int) -> BrowserDecoder | str:
    try:
        data, key = run_decoder(Path(run_dir))
    except onnx_check.OnnxError as e:
        return str(e)
    return BrowserDecoder(key, base64.b64encode(data).decode("ascii"), len(data))


def browser_decoder(run_dir: Path) -> BrowserDecoder | str:
    """The run's decoder for the browser, exported once per weights file (a live run's
    checkpoints each get theirs), or the reason it cannot be sent (too large)."""
    s = model_file(Path(run_dir)).stat()
    return _decoder(str(run_dir), s.st_mtime_ns, s.st_size)


# ----------------------------------------------------------- registration

@functools.cache
def _renderer():
    return st.components.v2.component(NAME, js=JS, css=CSS)


def _register() -> None:
    """Declare the component's asset folder on the running server (what an installed
    package's pyproject.toml would declare), then the component itself."""
    manager = get_bidi_component_manager()
    if manager.get_component_asset_root(NAME) is None:
        pkg, comp = NAME.split(".")
        manifest = ComponentManifest(name=pkg, version="1", components=[ComponentConfig(comp, "build")])
        manager.register_from_manifest(manifest, FOLDER)


@functools.lru_cache(maxsize=4)
def _built(assets: Path) -> bool:
    """Whether the component's built files are in ``assets`` (looked at once per process)."""
    return all((assets / f).is_file() for f in (JS, CSS))


def unavailable() -> str | None:
    """Why the component cannot be used in this session (None: it can)."""
    if st.session_state.get(FAILED):
        return st.session_state[FAILED]
    if st.query_params.get("decode") == "server":
        return "asked for in the link (decode=server)"
    if not _built(ASSETS):
        return (f"the component's built files are missing from {ASSETS} (its README says how to "
                "build them)")
    try:
        _register()
        _renderer()
    except Exception as e:  # noqa: BLE001 - any Streamlit API mismatch means: fall back
        _log.warning("latent-plane component unavailable: %s", e)
        return f"this Streamlit cannot load the component ({type(e).__name__})"
    if not _web_browser():
        return "this client is not a web browser"
    return None


def _web_browser() -> bool:
    """Whether this session's client is a web browser (every one's user agent starts
    ``Mozilla/5.0``); script clients (AppTest, the load test's websocket client) cannot
    run the component and get the server's decoding."""
    try:
        return "Mozilla/" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # noqa: BLE001 - no session context (bare mode)
        return False


def notice(reason: str) -> None:
    """The one-line notice shown above the server-side decoder."""
    st.caption(f"ⓘ Decoding on the server: {reason}.")


# ------------------------------------------------------------------ mounting

def _noop() -> None:
    pass


def _pinned(key: str, on_pin) -> None:
    """The component pinned a z (runs before the page reruns): hand it to ``on_pin``."""
    got = (st.session_state.get(key) or {}).get("pinned") or {}
    z = got.get("z") if isinstance(got, dict) else None
    if isinstance(z, list) and z and all(isinstance(v, (int, float)) for v in z):
        on_pin(np.asarray(z, dtype=np.float64))


def _failed(key: str) -> None:
    why = (st.session_state.get(key) or {}).get("failed")
    if why:
        st.session_state[FAILED] = f"this browser could not run the decoder ({str(why)[:160]})"


def _asked(key: str, need, wanted: str) -> bool:
    """Whether the component asked (``need``) for ``wanted`` and has not been sent it since."""
    session = st.session_state
    served = session.get(f"_lp_served_{key}")
    if not (isinstance(need, dict) and need.get("key") == wanted and need.get("seq") != served):
        return False
    session[f"_lp_served_{key}"] = need.get("seq")
    return True


def mount(key: str, run_dir: Path, model, *, z, on_pin=None, quiet: bool = False,
          height: int | str = "content", decoder: BrowserDecoder | str | None = None,
          draw=None, **parts) -> dict | None:
    """Draw the component for the run in ``run_dir`` (``model``: its loaded copy, for its
    shapes) at ``z``; ``parts`` are :func:`payload`'s (plane, points, sliders, paths, toy,
    sizes). ``draw``: the drawing pad's :class:`~explorer.ui.draw_pad.DrawSpec` (its encoder
    is sent like the decoder, once per tab). Returns the component's state (``pinned``:
    ``{"z", "seq"}`` once a z was pinned), or None when the page must decode on the server
    instead, after a one-line notice (not when ``quiet``: a page's second instance)."""
    why = unavailable()
    dec = None
    if why is None:
        dec = decoder if decoder is not None else browser_decoder(run_dir)
        if isinstance(dec, str):
            why = dec
    if why is not None:
        if not quiet:
            notice(why)
        return None
    session = st.session_state
    sent = session.setdefault(SENT, set())
    state = session.get(key) or {}
    need = state.get("need") if isinstance(state, dict) else None
    parts.setdefault("model", Path(run_dir).name)
    data = payload(dec, latent_dim=model.latent_dim, out_shape=model.data_shape, z=z,
                   send_decoder=_asked(key, need, dec.key) or dec.key not in sent, paused=motion.paused(), **parts)
    sent.add(dec.key)
    if draw is not None and not isinstance(draw, str):
        data["draw"] = draw.payload(send_encoder=_asked(key, need, draw.key) or draw.key not in sent)
        sent.add(draw.key)
    result = _renderer()(key=key, data=data, height=height,
                         on_pinned_change=functools.partial(_pinned, key, on_pin or (lambda z: None)),
                         on_need_change=_noop, on_failed_change=functools.partial(_failed, key))
    return dict(result)


def pinned_z(state: dict | None) -> np.ndarray | None:
    """The z pinned in the component (its value), or None."""
    got = (state or {}).get("pinned")
    if isinstance(got, dict) and isinstance(got.get("z"), list):
        return np.asarray(got["z"], dtype=np.float64)
    return None


# ------------------------------------------------------------ a live run's

def _snapshot_model(config_json: str, data_shape: tuple):
    """A model of the run's shape (made afresh: sessions must not share one they fill in)."""
    return build_model(RunConfig.from_json(config_json).model, data_shape, "cpu").eval()


def snapshot_decoder(run_id: str, config_json: str, data_shape: tuple, step: int, state: dict):
    """A live run's decoder at a snapshot (its tensors travel with the snapshot): the model to
    take shapes from, and the decoder for the browser (or why it cannot be sent)."""
    model = _snapshot_model(config_json, data_shape)
    load_decoder_state(model, state)
    try:
        data = onnx_write.decoder_onnx(model, tag=f"{run_id}@{step}")
        onnx_check.check_onnx(data, onnx_check.BROWSER_MAX_BYTES)
    except onnx_check.OnnxError as e:
        return model, str(e)
    return model, BrowserDecoder(f"{run_id}@{step}", base64.b64encode(data).decode("ascii"), len(data))


def live_decoder(v) -> None:
    """The Train page: decode under the pointer with a live run's latest checkpoint, over
    its latest snapshot's codes (``v``: the run's :class:`~explorer.runs.RunView`). The
    browser gets the new decoder when a new checkpoint lands (the fragment that calls this
    polls)."""
    run_dir, snap, info = Path(v.run_dir), v.snapshot, v.info
    weights = run_dir / store.WEIGHTS
    if snap is None or info is None or (snap.decoder is None and not store.model_saved(run_dir)):
        return
    decoder = None
    if snap.decoder is not None:          # the snapshot's own decoder: refreshed at each snapshot
        model, decoder = snapshot_decoder(v.run_id, v.config.to_json(), tuple(info.data_shape),
                                          snap.step, snap.decoder)
    else:
        model = common.load_model(run_dir)
    mu, d = np.asarray(snap.mu), model.latent_dim
    if mu.ndim != 2 or mu.shape[1] != d:
        return                                       # the snapshot and checkpoint disagree for now
    proj = projections.dims_projection(d, pick_dims(snap.mu_var) if d > 2 else (0, min(1, d - 1)))
    key = f"train_lp_{v.run_id}"
    z = pinned_z(st.session_state.get(key))
    z = np.zeros(d) if z is None or len(z) != d else z
    st.markdown("**Decode a point** with the latest checkpoint: move the pointer over the plane")
    toy = {"x": info.probe_x, "y": info.probe_labels} if info.probe_x is not None and not info.is_image else None
    pad = draw_pad.spec(run_dir, v.config, tuple(info.data_shape))      # the encoder: the latest checkpoint's
    state = mount(key, run_dir, model, z=z, toy=toy, plane_px=320, image_px=200, decoder=decoder, draw=pad,
                  plane=plane_spec(proj, None, latent.plane_extent(proj.transform(mu),
                                                                   proj.transform(np.zeros(d)))),
                  points=points_spec(proj.transform(mu), info.probe_labels, info.class_names))
    if state is not None:
        when = (f"the model at step {snap.step:,}, the same moment as the points; each new snapshot "
                "reaches your browser within seconds" if decoder is not None else
                f"the checkpoint saved at {time.strftime('%H:%M:%S', time.localtime(weights.stat().st_mtime))} "
                "(each epoch's end); a newer one reaches your browser within seconds")
        st.caption(f"Points: the probe set's posterior means at step {snap.step:,}. Decoder: {when}."
                   + (f" Showing z{proj.axis_titles[0][1:]} and z{proj.axis_titles[1][1:]}; the others "
                      "held at 0." if d > 2 else ""))
        if not isinstance(pad, str):
            saved = time.strftime('%H:%M:%S', time.localtime(weights.stat().st_mtime))
            st.caption(draw_pad.caption(d, model.kind, plane=f"z{proj.axis_titles[0][1:]} and "
                                        f"z{proj.axis_titles[1][1:]}")
                       + f" The pad's encoder is the checkpoint saved at {saved}; a newer one replaces it.")
