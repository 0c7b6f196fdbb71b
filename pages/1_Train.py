"""Train: set up a run, start it, and watch the model learn, live.

Training runs in the engine's worker processes (``explorer.jobs``); this page only sends
controls and reads what the engine publishes. Two fragments poll while the run is live
(queued, starting, running or paused) and stop polling when it ends:

* every ~0.75 s: progress, loss curves, the rate–distortion plane, final numbers;
* every ~3 s: the latent scatter with its replay scrubber, reconstructions, KL per dimension.

The session's run is ``st.session_state["train_run"]``, mirrored in the URL (``?run=<id>``),
so a refresh or a shared link reattaches the page to the run.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import streamlit as st

from explorer import jobs, settings
from explorer.config import DATASETS_TOY, ConfigError, RunConfig
from explorer.data import DataError
from explorer.figures import training as figs
from explorer.ui import common
from explorer.ui import train as tu

POLL_S = 0.75          # fast views (progress, curves, R–D plane)
SLOW_S = 3.0           # heavy views (latent scatter, reconstructions, KL bars)
RUN_KEY = "train_run"
DEFAULTS = RunConfig()

common.page_setup("Train", "🏋️")


eng = common.engine()
me = common.owner()
S = st.session_state


# ------------------------------------------------------------ the page's run

def attach(run_id: str | None) -> None:
    """Make ``run_id`` the page's run (None: no run) and mirror it in the URL. The β and lr
    controls take the run's values at the top of the next script run (a widget's value
    cannot change once the widget is drawn)."""
    if run_id is None:
        S.pop(RUN_KEY, None)
    else:
        S[RUN_KEY] = run_id
        S["sync_controls"] = True
    common.query_set(run=run_id)


def sync_controls() -> None:
    """Show the attached run's current β and learning rate in the live controls."""
    v = eng.view(S[RUN_KEY]) if S.get(RUN_KEY) else None
    p = v["progress"] if v else {}
    if p.get("beta") is not None:
        S["beta"] = float(p["beta"])
    if p.get("lr") in tu.LR_CHOICES:
        S["lr"] = p["lr"]


if RUN_KEY not in S:
    wanted = common.query_get("run")
    if wanted:
        if eng.view(wanted) is None:
            eng.refresh_from_disk()          # a run written by an earlier server
        if eng.view(wanted) is None:
            st.warning(f"Run {wanted!r} is not known here: it may have been queued in a browser "
                       f"session that ended (queued runs are then dropped), or deleted.")
            common.query_set(run=None)
        else:
            attach(wanted)
run_id = S.get(RUN_KEY)
view = eng.view(run_id) if run_id else None
if run_id and view is None:                  # e.g. a queued run dropped, or deleted elsewhere
    attach(None)
    run_id = None
status = view["status"] if view else None
live = status in jobs.LIVE
if S.pop("sync_controls", False):
    sync_controls()


# ---------------------------------------------------------------- settings

def data_settings() -> dict:
    v: dict = {}
    v["dataset"] = st.selectbox("Dataset", list(tu.DATASET_LABELS), format_func=tu.DATASET_LABELS.get,
                                key="dataset")
    if v["dataset"] in ("mnist", "fashion-mnist"):
        v["data_path"] = st.text_input(
            "Data file or folder (optional)", key="data_path",
            help="An .npz with x_train, y_train, x_test, y_test, or a folder with the four IDX files. "
                 "Empty: the download cache (needs the internet the first time).")
        v["binarize"] = st.selectbox("Binarise", ["dynamic", "none", "threshold"], key="binarize",
                                     help="dynamic: each batch draws binary pixels from the grey "
                                          "values (the usual choice for a Bernoulli decoder)")
    if v["dataset"] in DATASETS_TOY:
        v["n_points"] = st.number_input("Points", 100, 100_000, 4000, 100, key="n_points")
        v["noise"] = st.number_input("Noise", 0.0, 1.0, 0.05, 0.01, key="noise")
    if v["dataset"] == "file":
        v["data_path"] = own_file_settings()
        v["binarize"] = "none"
    v["subset"] = st.number_input("Training subset (0 = all)", 0, 10_000_000, 0, 100, key="subset",
                                  help="Train on this many randomly chosen training examples")
    v["val_fraction"] = st.slider("Validation fraction", 0.05, 0.5, 0.2, 0.05, key="val_fraction",
                                  help="Held out for validation curves (MNIST and Fashion-MNIST "
                                       "use their official test split instead)")
    return v


def own_file_settings() -> str | None:
    """Upload (or pick an earlier upload of this session); preview it; return its path."""
    limit = settings.get().upload_bytes
    uploads: dict = S.setdefault("uploads", {})
    f = st.file_uploader("Your data (.npz, .npy or .csv)", type=["npz", "npy", "csv"], key="upload",
                         max_upload_size=max(1, limit // 2**20),
                         help=f"Images N×H×W or N×H×W×C (uint8 or floats in [0,1]), optional labels y; "
                              f"or a CSV table with an optional 'label' column. At most "
                              f"{limit / 2**20:.0f} MiB.")
    seen: set = S.setdefault("upload_ids", set())
    if f is not None and f.file_id not in seen:                  # a new upload: store and check it
        seen.add(f.file_id)
        S.pop("upload_error", None)
        try:
            from explorer import data
            path = eng.save_upload(f.getvalue(), f.name, max_bytes=limit,   # validated (never
                                   check=lambda p: data.load_array_file(p, max_bytes=limit))  # unpickled)
            uploads[f.name] = str(path)
        except (jobs.EngineError, DataError) as e:
            S["upload_error"] = f"{f.name}: {e}"
    if S.get("upload_error") and f is not None:
        st.error(S["upload_error"])
    if not uploads:
        return None
    names = list(uploads)
    pick = st.selectbox("Uploaded file", names, index=len(names) - 1, key="upload_pick")
    return uploads[pick]


def model_settings() -> dict:
    v: dict = {}
    v["kind"] = st.radio("Model", ["vae", "ae"], horizontal=True, key="kind",
                         format_func={"vae": "VAE (eq. 2)", "ae": "Autoencoder (eq. 1)"}.get)
    v["body"] = st.radio("Body", ["mlp", "conv"], horizontal=True, key="body",
                         format_func={"mlp": "MLP", "conv": "Conv (images)"}.get)
    v["hidden"] = st.text_input("Hidden widths", ", ".join(map(str, DEFAULTS.model.hidden)), key="hidden",
                                help="Comma-separated layer widths of the encoder; the decoder mirrors them")
    v["latent_dim"] = st.number_input("Latent dimension", 1, 256, DEFAULTS.model.latent_dim, key="latent_dim")
    v["likelihood"] = st.selectbox("Likelihood p(x|z)", ["bernoulli", "gaussian"], key="likelihood",
                                   help="Bernoulli: cross-entropy; Gaussian: squared error / 2σ²")
    if v["likelihood"] == "bernoulli" and S.get("dataset") in DATASETS_TOY:
        st.caption("For the 2-D sets, a Gaussian likelihood is the natural choice.")
    if v["likelihood"] == "gaussian":
        v["sigma"] = st.number_input("σ of p(x|z)", 0.001, 10.0, 0.1, 0.01, format="%.3f", key="sigma")
    v["mc_samples"] = st.number_input("L samples of z per image", 1, 64, 1, key="mc_samples",
                                      help="Monte Carlo samples for the reconstruction term")
    return v


def train_settings() -> dict:
    v: dict = {}
    v["beta_schedule"] = st.selectbox("β schedule", ["constant", "warmup", "cyclical", "capacity", "free_bits"],
                                      key="beta_schedule")
    t = DEFAULTS.train
    if v["beta_schedule"] == "warmup":
        v["warmup_steps"] = st.number_input("Warm-up steps", 1, 10**7, t.warmup_steps, key="warmup_steps")
    elif v["beta_schedule"] == "cyclical":
        v["cycle_steps"] = st.number_input("Cycle steps", 2, 10**7, t.cycle_steps, key="cycle_steps")
        v["cycle_ratio"] = st.slider("Rising part of a cycle", 0.05, 1.0, t.cycle_ratio, key="cycle_ratio")
    elif v["beta_schedule"] == "capacity":
        v["capacity_max"] = st.number_input("Capacity C max (nats)", 0.0, 1000.0, t.capacity_max, key="capacity_max")
        v["capacity_steps"] = st.number_input("Capacity steps", 1, 10**7, t.capacity_steps, key="capacity_steps")
    elif v["beta_schedule"] == "free_bits":
        v["free_bits"] = st.number_input("Free bits λ per dimension (nats)", 0.0, 100.0, 0.5, 0.1, key="free_bits")
    v["batch_size"] = st.number_input("Batch size", 1, 65_536, t.batch_size, key="batch_size")
    v["epochs"] = st.number_input("Epochs", 1, 100_000, t.epochs, key="epochs")
    v["seed"] = st.number_input("Seed", 0, 2**31 - 1, t.seed, key="seed")
    v["name"] = st.text_input("Run name (optional)", key="run_name")
    return v


@st.cache_data(show_spinner="Reading the data…", max_entries=16)
def _preview(data_json: str, max_bytes: int, mtime: float) -> dict:
    from explorer.config import DataConfig
    return tu.data_preview(DataConfig(**json.loads(data_json)), max_bytes)


def data_check(v: dict) -> str | None:
    """Read the chosen data once (not MNIST: the worker downloads or reads it) and preview it;
    returns the reason it cannot be used, or None."""
    if v["dataset"] in ("mnist", "fashion-mnist") or (v["dataset"] == "file" and not v.get("data_path")):
        return None
    try:
        cfg = tu.build_config({**values_defaults, **v})
    except ConfigError:
        return None                       # reported when Start is pressed
    path = cfg.data.path
    mtime = os.path.getmtime(path) if path and os.path.exists(path) else 0.0
    try:
        d = _preview(json.dumps(cfg.data.__dict__), settings.get().upload_bytes, mtime)
    except DataError as e:
        st.error(f"Data: {e}")
        return str(e)
    st.caption(tu.describe_line(d))
    data_info["n_train"] = d["n_train"]
    if v["dataset"] == "file":
        if d["is_image"]:
            st.image(figs.sample_grid(d["samples"]), clamp=True, caption="the first training items")
        if d["label_counts"]:
            st.caption("Labels: " + ", ".join(f"{k}: {n}" for k, n in d["label_counts"].items()))
    return None


data_info: dict = {}      # filled by data_check(): the training-set size, when known

# the model and training settings data_check() needs to build a config (only its data part is used)
values_defaults = {"kind": "vae", "body": "mlp", "hidden": "16", "latent_dim": 2,
                   "likelihood": "bernoulli", "mc_samples": 1, "beta_schedule": "constant",
                   "batch_size": 32, "epochs": 1, "seed": 0, "beta": 1.0, "lr": 1e-3}

with st.sidebar:
    st.header("Settings")
    st.caption("For the next run. β and the learning rate are above the charts: they stay live "
               "during a run.")
    with st.expander("Data", expanded=True):
        values = data_settings()
        data_problem = data_check(values)
    with st.expander("Model", expanded=True):
        values.update(model_settings())
    with st.expander("Training", expanded=False):
        values.update(train_settings())
        if note := tu.batch_note(int(values["batch_size"]), data_info.get("n_train")):
            st.warning(note)


# ---------------------------------------------------------------- controls

def send_live(setter: str, key: str) -> None:
    """Send a live control (``set_beta`` or ``set_lr``) with the widget's value to the page's
    run, if it is live."""
    rid = S.get(RUN_KEY)
    v = eng.view(rid) if rid else None
    if v is not None and v["status"] in jobs.LIVE:
        try:
            getattr(eng, setter)(rid, float(S[key]))
        except jobs.EngineError as e:
            S["train_msg"] = str(e)


def on_beta() -> None:
    send_live("set_beta", "beta")


def on_lr() -> None:
    send_live("set_lr", "lr")


def start(paused: bool = False) -> str | None:
    """Submit the sidebar's settings; returns the run id, or None after showing why not."""
    try:
        cfg = tu.build_config({**values, "beta": S["beta"], "lr": S["lr"]})
    except ConfigError as e:
        S["train_msg"] = f"Cannot start: {e}"
        return None
    if data_problem:
        S["train_msg"] = f"Cannot start: {data_problem}"
        return None
    try:
        rid = eng.submit(cfg, me, start_paused=paused, max_bytes=settings.get().upload_bytes)
    except (jobs.EngineError, ConfigError) as e:
        S["train_msg"] = f"Cannot start: {e}"
        return None
    attach(rid)
    return rid


st.title("Train")
st.caption("Train a small VAE (or autoencoder) and watch it learn. Numbers are per image, in nats: "
           "reconstruction = −log p(x|z) summed over pixels, KL summed over latent dimensions, both "
           "averaged over the batch.")

cols = st.columns([1.1, 1.1, 0.9, 0.9, 0.9, 1.6, 2.0])
with cols[5]:
    st.number_input("β", 0.0, 1000.0, float(DEFAULTS.train.beta), 0.25, key="beta", on_change=on_beta,
                    help="Weight of the KL term (β-VAE). Live: a change applies from the next step "
                         "and is marked on every curve.")
with cols[6]:
    st.select_slider("Learning rate", tu.LR_CHOICES, DEFAULTS.train.lr, key="lr", on_change=on_lr,
                     format_func=lambda x: f"{x:g}", help="Adam's step size. Live, like β.")
clicked = {}
clicked["start"] = cols[0].button("Start", icon=":material/play_arrow:", type="primary", key="start", disabled=live, width="stretch",
                                  help="Start a new run with these settings" if not live else
                                  "This run is live: stop or reset it first")
paused_now = status == "paused"
clicked["pause"] = cols[1].button("Resume" if paused_now else "Pause", key="pause",
                                  icon=":material/play_arrow:" if paused_now else ":material/pause:",
                                  disabled=not live, width="stretch")
clicked["step"] = cols[2].button("Step", icon=":material/skip_next:", key="step", width="stretch",
                                 disabled=view is not None and not live,
                                 help="One batch, then paused (starts a paused run if there is none)")
clicked["stop"] = cols[3].button("Stop", icon=":material/stop:", key="stop", disabled=not live, width="stretch",
                                 help="Stop and save the run (a queued run is dropped)")
clicked["reset"] = cols[4].button("Reset", icon=":material/restart_alt:", key="reset", disabled=view is None, width="stretch",
                                  help="Stop this run if live (it is kept in the run list) and clear "
                                       "the page for a fresh start")

try:
    if clicked["start"]:
        if start() is not None:
            st.rerun()
    elif clicked["pause"]:
        (eng.resume if paused_now else eng.pause)(run_id)
        st.rerun()
    elif clicked["step"]:
        rid = run_id if live else start(paused=True)
        if rid is not None:
            eng.step(rid, 1)
            st.rerun()
    elif clicked["stop"]:
        eng.stop(run_id)
        st.rerun()
    elif clicked["reset"]:
        if live:
            eng.stop(run_id)
        attach(None)
        st.rerun()
except jobs.EngineError as e:
    S["train_msg"] = str(e)

msg = S.pop("train_msg", None)
if msg:
    st.error(msg)


# -------------------------------------------------------------- live views

def show_status(v: dict) -> None:
    s, p = v["status"], v["progress"]
    if s == "queued":
        pos = v["queue_position"]
        busy = sum(1 for w in eng.workers() if w["run_id"])
        if pos == 1 and busy < eng.max_jobs:
            st.info("Queued: a worker process is starting (the first run on a fresh server waits "
                    "a few seconds for it).")
        else:
            runs = "1 run trains" if eng.max_jobs == 1 else f"{eng.max_jobs} runs train"
            st.info(f"Queued: position {pos} in the queue. At most {runs} at once on this "
                    f"server; yours starts when a running one ends.")
    elif s == "starting":
        st.info("Starting: loading the data and building the model…")
    elif s in ("running", "paused"):
        frac, text = tu.progress_line(p)
        st.progress(frac, text=("⏸ paused · " if s == "paused" else "") + text)
    elif s == "finished":
        st.success(f"Finished {v['name'] or v['run_id']}: {int(p.get('step') or 0):,} steps in "
                   f"{tu.fmt_duration(p.get('elapsed_s'))}.")
    elif s == "stopped" and (v["reason"] or "").startswith("stopped "):
        st.warning(f"Run {v['reason']} at step {int(p.get('step') or 0):,}; it is saved and "
                   f"listed below.")
    elif s in ("stopped", "interrupted", "diverged"):
        st.warning(f"Run {s}: {v['reason'] or ''}")
    elif s == "failed":
        st.error(f"The run failed: {v['reason']}")


def show_final_numbers(v: dict) -> None:
    summ = v.get("summary") or {}
    val, tr = summ.get("val") or {}, summ.get("train") or {}
    if not val:
        return
    st.markdown("**Final numbers** (validation, per image, nats)")
    c = st.columns(5)
    c[0].metric("ELBO", f"{val['elbo']:.2f}" if val.get("elbo") is not None else "–",
                help="log p(x) ≥ ELBO = −(reconstruction + KL)")
    c[1].metric("Reconstruction", f"{val['recon']:.2f}" if val.get("recon") is not None else "–")
    c[2].metric("KL", f"{val['kl']:.2f}" if val.get("kl") is not None else "–")
    c[3].metric("Active units", f"{val.get('active_units', '–')} / {v['config'].model.latent_dim}")
    gap = summ.get("gap_elbo")
    c[4].metric("Train − validation ELBO", f"{gap:.2f}" if gap is not None else "–",
                help="A large positive gap means overfitting")
    if tr:
        st.caption(f"Training split: ELBO {tr['elbo']:.2f}, reconstruction {tr['recon']:.2f}, "
                   f"KL {tr['kl']:.2f}.")


def fast_views(rid: str, polling: bool) -> None:
    v = eng.view(rid)
    if v is None:
        st.warning("This run is gone (a queued run is dropped when its session ends).")
        return
    if polling and v["status"] not in jobs.LIVE:
        st.rerun()                       # the run ended: redraw the page once, without polling
    show_status(v)
    if v["rows"]:
        curves = figs.curve_frame(v["rows"], v["val_rows"], v["events"])
        c1, c2, c3 = st.columns([1, 1, 1.15])
        for col, terms in ((c1, ("recon", "beta_kl")), (c2, ("kl", "total"))):
            with col:
                for t in terms:
                    st.vega_lite_chart(figs.panel_frame(curves, t),
                                       figs.live_spec("loss", term=t, legend=(t == "recon")),
                                       key=f"curve_{t}", width="stretch")
        with c3:
            if v["config"].model.kind == "vae":
                beta = v["progress"].get("beta") or v["config"].train.beta
                st.vega_lite_chart(figs.rd_frame(v["rows"], float(beta)), figs.live_spec("rd"),
                                   key="rd", width="stretch")
                st.caption("The run's (KL, reconstruction), smoothed, with its recent trail. Grey: "
                           "equal ELBO. Purple: recon + β·KL = const through the current point; "
                           "training slides the point along it, so a β change turns the line and "
                           "the point follows.")
            else:
                st.info("An autoencoder has no KL term: its rate–distortion point would sit at KL = 0.")
        st.caption("Solid: training (averaged over recent batches); dashed: validation at each "
                   "epoch end. Vertical lines: β changes (purple) and learning-rate changes (orange).")
    elif v["status"] in ("running", "paused"):
        st.caption("Waiting for the first steps…")
    if v["status"] in jobs.ENDED:
        show_final_numbers(v)


def latent_views(rid: str, polling: bool) -> None:
    v = eng.view(rid)
    if v is None or v["status"] in ("queued", "starting"):
        return
    meta, snap, history = v["meta"], v["snapshot"], v["history"]
    labels, names = meta.get("probe_labels"), meta.get("class_names")
    cfg = v["config"]
    if snap is None:
        if v.get("from_disk"):
            disk_views(v)
        return
    st.subheader("Inside the model")
    a, b = st.columns([1.3, 1])
    domain = figs.label_domain(labels, names)
    with a:
        d = snap["mu"].shape[1]
        dims = figs.pick_dims(snap["mu_var"]) if d > 2 else (0, min(1, d - 1))
        frame = replay_scrubber(history)
        st.vega_lite_chart(figs.latent_frame(frame["mu"], labels, names, dims),
                           figs.live_spec("latent", domain=domain, dims=dims), key="latent", width="stretch")
        items = "images" if meta.get("is_image") else "points"
        st.caption(f"Posterior means of {len(frame['mu']):,} validation {items} at epoch "
                   f"{frame['epoch']:.1f} (step {frame['step']:,}); dotted: the prior's 1, 2, 3σ circles."
                   + (f" Showing z{dims[0] + 1} and z{dims[1] + 1}, the two most active of {d} "
                      f"dimensions." if d > 2 else ""))
    with b:
        if meta.get("is_image") and snap.get("recon") is not None:
            st.markdown("**Reconstructions**: validation images, each row followed by the decoder "
                        "mean at z = μ(x)")
            st.image(figs.recon_pairs(meta["originals"], snap["recon"]), width="stretch", clamp=True)
        elif snap.get("recon") is not None and meta.get("probe_x") is not None:
            st.vega_lite_chart(figs.toy_frame(meta["probe_x"], snap["recon"], labels, names),
                               figs.live_spec("toy", domain=domain), key="toy_recon", width="stretch")
        if cfg.model.kind == "vae":
            st.vega_lite_chart(figs.kl_frame(snap["kl_per_dim"], snap.get("mu_var")), figs.live_spec("kl"),
                               key="klbars", width="stretch")
            kl = float(np.sum(snap["kl_per_dim"]))
            st.caption(f"Active units: **{snap['active_units']} of {cfg.model.latent_dim}** "
                       f"(variance of the posterior mean > 0.01) · KL of the probe set {kl:.2f} nats.")
            alarm = tu.collapse_alarm("vae", kl, snap["active_units"], cfg.model.latent_dim, snap["epoch"])
            if alarm:
                st.warning(alarm, icon=":material/warning:")
        else:
            st.caption(f"Active units: {snap['active_units']} of {cfg.model.latent_dim}.")


def replay_scrubber(history: list[dict]) -> dict:
    """A slider over the kept latent snapshots (epochs); it follows the newest one until moved."""
    last = history[-1]
    top = float(last["epoch"])
    if len(history) < 2 or top <= 0:
        return last
    key = "replay_epoch"
    prev_top = S.get("replay_top")
    if key not in S or prev_top is None or S[key] >= prev_top - 1e-9 or S[key] > top:
        S[key] = top                                   # following the run
    S["replay_top"] = top
    at = st.slider("Replay: scrub back through training (epoch)", 0.0, top, key=key,
                   step=max(top / 200, 0.001), format="%.2f",
                   help="Latent snapshots are kept (thinned evenly) so you can watch the clusters "
                        "form, merge or collapse. At the right end it follows the run.")
    return min(history, key=lambda h: (abs(h["epoch"] - at), -h["step"]))


@st.cache_data(show_spinner=False, max_entries=8)
def _disk_snapshot(run_dir: str, mtime: float, config_json: str):
    from explorer.ui.train import snapshot_from_disk
    model = common.load_model(run_dir)
    return snapshot_from_disk(run_dir, RunConfig.from_json(config_json), model)


def disk_views(v: dict) -> None:
    """A run reloaded from disk has no live snapshots: show its final latent space instead."""
    from explorer import store
    weights = v["run_dir"] / store.WEIGHTS
    if not weights.is_file():
        return
    with common.friendly_errors("Could not read this run's final state"):
        snap = _disk_snapshot(str(v["run_dir"]), weights.stat().st_mtime, v["config"].to_json())
        if snap is None:
            st.info("The live snapshots of this run were kept in memory only; open it in Explore.")
            return
        st.subheader("Final state (from the saved weights)")
        a, b = st.columns([1.3, 1])
        d = snap["mu"].shape[1]
        dims = figs.pick_dims(snap["mu_var"]) if d > 2 else (0, min(1, d - 1))
        a.altair_chart(figs.latent_chart(snap["mu"], snap["labels"], snap["class_names"], dims),
                       key="latent_disk", width="stretch")
        if "recon" in snap:
            b.image(figs.recon_pairs(snap["originals"], snap["recon"]), width="stretch", clamp=True)
        if v["config"].model.kind == "vae":
            b.altair_chart(figs.kl_bars(snap["kl_per_dim"], snap["mu_var"]), key="klbars_disk",
                           width="stretch")


if view is not None:
    st.fragment(run_every=POLL_S if live else None, key="train_fast")(fast_views)(run_id, live)
    st.fragment(run_every=SLOW_S if live else None, key="train_slow")(latent_views)(run_id, live)
else:
    st.info("Choose settings in the sidebar and press **Start**. The defaults (digits, a 2-D "
            "latent space, 40 epochs) draw a readable latent map within seconds.")


# ----------------------------------------------------------------- run list

def run_list() -> None:
    """Every run the engine knows (live, finished, and reloaded from disk), newest first."""
    st.subheader("Runs on this server")
    runs = [r for r in eng.list() if r["status"] != "queued" or r["owner"] == me][:100]
    if not runs:
        st.caption("No runs yet. Finished runs appear here and on the other pages.")
        return
    table = pd.DataFrame([{
        "run": r["name"] or r["run_id"], "status": r["status"],
        "data": r["config"].data.name, "model": r["config"].model.kind,
        "z": r["config"].model.latent_dim, "β": (r["progress"].get("beta") or r["config"].train.beta),
        "epochs": float(r["progress"].get("epoch") or 0),
        "val ELBO": ((r["summary"] or {}).get("val") or {}).get("elbo"),
        "yours": "✓" if r["owner"] == me else "",
    } for r in runs])
    st.dataframe(table, hide_index=True, width="stretch", height=min(36 * (len(table) + 1) + 2, 260),
                 column_config={"epochs": st.column_config.NumberColumn(format="%.1f"),
                                "val ELBO": st.column_config.NumberColumn(format="%.2f")})
    ids = [r["run_id"] for r in runs]
    labels = {r["run_id"]: f"{r['name'] or r['run_id']} ({r['status']})" for r in runs}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Open a run on this page", ids, key="open_pick", format_func=labels.get)
    if c2.button("Open", key="open_run", width="stretch"):
        attach(pick)
        st.rerun()


st.divider()
st.fragment(run_every=5.0 if live else None, key="train_runs")(run_list)()
