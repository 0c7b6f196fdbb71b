"""Views that poll the engine while a run is live, in one place.

Every page that shows a live run draws it with these fragments: each re-runs on its own
timer (``st.fragment(run_every=...)``) while the run is queued, starting, running or
paused, reads :meth:`~explorer.engine.Engine.view` (plain data) and rebuilds its figures;
when the run ends it reruns the page once and stops polling.

* Train: the status line (progress, the collapse alarm; ~0.75 s) and the run's views (loss
  curves, the rate–distortion plane, final numbers, the latent scatter with a replay
  scrubber, reconstructions, KL per dimension; ~3 s), drawn from one view of the run so
  that the scatter and the curves show the same moment.
* β lab: :func:`poll_sweep`, until every run of a sweep has ended.
* Explore: :func:`wait_for_checkpoint` and :func:`follow_run`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from ..decoder_cache import model_file
from ..analysis.beta.reading import likelihood_notes
from .. import paths, store
from ..config import RunConfig
from ..engine import Status
from ..figures import describe
from ..figures import training as training_figures
from ..figures.latent import png_data_uri
from ..runs import RunEntry, RunView
from . import chart_text, common, latent_plane, load, motion
from . import train as train_ui
from .train import snapshot_from_disk

TRAIN_STATUS_S = 0.75     # the progress line and the collapse alarm: cheap, what a learner watches
TRAIN_VIEWS_S = 3.0       # curves, R–D plane, latent scatter, reconstructions, KL bars, decoder
# Measured with benchmarks/live_overhead.py on a quiet 2-core machine: in-app training ran at
# 0.82 of headless speed with the curves every 1.5 s and the latent views every 3 s, and at
# 0.95 with 2.5 s and 5 s (the tab's renderer: 4.4 then 3.2 CPU-seconds during the run).
# The curves and the latent views were two fragments (2.5 s and 5 s) reading two views: the
# scatter then trailed the curves by up to 5 s (~8 epochs of the digits). One fragment every
# 3 s draws both from one view: the server's CPU per live view stays as it was (measured under
# AppTest, a draw of the curves ~85 ms and of the latent views ~27 ms: 85/2.5 + 27/5 ≈ 39 ms
# a second before, (85 + 27)/3 ≈ 37 after). With many sessions on the server both are polled
# slower (explorer/ui/load.py).


def _poll(fn, every: float, live: bool, key: str, *args) -> None:
    """``fn(*args, live)`` as a fragment, polled every ``every`` seconds while ``live``, slower
    on a busy server (:func:`explorer.ui.load.every`)."""
    def counted(*a):
        load.note_session()
        fn(*a)
    st.fragment(run_every=motion.every(load.every(every)) if live else None, key=key)(counted)(*args, live)


# ===================================================================== Train

def train_views(run_id: str, live: bool, shown: Status | None = None) -> None:
    """The Train page's live fragments for ``run_id``. ``shown`` is the run's status when
    the page was drawn (its buttons, its runs table): when the run's status moves on (it
    starts, a Step's run comes up paused, another tab resumes it, it ends), the status
    fragment reruns the page so that they match. Redrawing the curves is what costs the
    browser most (measured with a Chrome trace: with the curves polled every 0.75 s the tab's
    main thread was busy 70% of the time, on the cores the run trains on), so they are
    polled less often than the progress line. A paused run's views do not change until it
    moves (a Step, β or the learning rate set from another tab): they are drawn once and not
    polled, and the status line reruns the page when the run moves (:func:`moment`); polling
    them cost the tab ~15% of a core and the server ~5% while nothing changed."""
    st.session_state.pop(SEEN, None)          # the status line's first run keeps the moment it shows
    _poll(_status_view, TRAIN_STATUS_S, live, "train_status", run_id, shown)
    _poll(_run_views, TRAIN_VIEWS_S, live and shown != Status.PAUSED, "train_views", run_id)


SEEN = "le_train_seen"      # (run id, moment) of the paused run the page drew


def moment(v: RunView) -> tuple:
    """What the Train page's views show of a run, as a value that changes whenever they would:
    its step, its logged and validation rows, its β and lr (and their changes), its latest
    snapshot and replay frames. A paused run keeps its moment until it moves."""
    snap = v.snapshot
    return (v.progress.step, len(v.rows), len(v.val_rows), len(v.events), len(v.history), v.beta, v.lr,
            None if snap is None else (snap.step, snap.epoch))


def _run_views(rid: str, polling: bool) -> None:
    """The curves and the latent views from one view of the run: one moment, one read."""
    v = common.engine().view(rid)
    if v is None:
        return
    # a container each: when the curves' part gains or loses an element (a β change's note),
    # the latent views keep their places, and their charts update in place, never remount
    with st.container():
        _curve_views(v)
    with st.container():
        _latent_views(v)


def show_status(v: RunEntry) -> None:
    s, p = v.status, v.progress
    eng = common.engine()
    if s == Status.QUEUED:
        pos = v.queue_position
        if pos == 1 and eng.busy_workers() < eng.max_jobs:
            st.info("Queued: a worker process is starting (the first run on a fresh server waits "
                    "a few seconds for it).")
        else:
            runs = "1 run trains" if eng.max_jobs == 1 else f"{eng.max_jobs} runs train"
            st.info(f"Queued: position {pos} in the queue. At most {runs} at once on this "
                    f"server; yours starts when a running one ends.")
    elif s == Status.STARTING:
        st.info("Starting: loading the data and building the model…")
    elif s == Status.RUNNING and v.summary.get("tracked"):
        st.info(f"Training in its own loop, outside this app (explorer.track): step {p.step:,}, epoch "
                f"{float(p.epoch or 0):.1f}; its rows arrive about every second.", icon=":material/sync:")
    elif s in (Status.RUNNING, Status.PAUSED):
        frac, text = train_ui.progress_line(p)
        st.progress(frac, text=("⏸ paused · " if s == Status.PAUSED else "") + text)
        st.caption(v.beta_text().capitalize() + ".")
    elif s == Status.FINISHED:
        st.success(f"Finished {v.name or v.run_id}: {p.step:,} steps in {train_ui.fmt_duration(p.elapsed_s)}.")
    elif s == Status.STOPPED and (v.reason or "").startswith("stopped "):
        st.warning(f"Run {v.reason} at step {p.step:,}; it is saved and listed below.")
    elif s in (Status.STOPPED, Status.INTERRUPTED, Status.DIVERGED):
        st.warning(f"Run {s}: {v.reason or ''}")
    elif s == Status.FAILED:
        st.error(f"The run failed: {v.reason}")


def final_numbers(v: RunView) -> None:
    """The run's final validation numbers, labelled for its kind of model."""
    summ = v.summary or {}
    val, tr = summ.get("val") or {}, summ.get("train") or {}
    if not val:
        return
    ae = v.config.model.kind == "ae"
    st.markdown("**Final numbers** (validation, per image, nats)")
    c = st.columns(5)

    def num(key):
        return f"{val[key]:.2f}" if val.get(key) is not None else "–"
    if ae:
        c[0].metric("Reconstruction loss", num("recon"),
                    help="An autoencoder has no ELBO: it minimises the reconstruction term only (eq. 1)")
    else:
        grey = v.config.model.likelihood == "bernoulli" and v.config.data.binarize == "none"
        c[0].metric("ELBO", num("elbo"), help="ELBO = −(reconstruction + KL)" + (
            ": on grey pixels with a Bernoulli likelihood it is not a bound on log p(x)" if grey
            else "; log p(x) ≥ ELBO"))
        c[2].metric("KL", num("kl"))
    c[1].metric("Reconstruction", num("recon"))
    c[3].metric("Active units", f"{val.get('active_units', '–')} / {v.config.model.latent_dim}")
    gap = summ.get("gap_elbo")      # train ELBO − validation ELBO (AE: val − train reconstruction)
    c[4].metric("Validation − training loss" if ae else "Train − validation ELBO",
                f"{gap:.2f}" if gap is not None else "–",
                help="A large positive gap (training much better than validation) means overfitting")
    if tr:
        st.caption(("Training split: " + (f"ELBO {tr['elbo']:.2f}, " if not ae else ""))
                   + f"reconstruction {tr['recon']:.2f}" + ("" if ae else f", KL {tr['kl']:.2f}") + ".")
    notes = number_notes(v)
    if notes:
        st.caption(" ".join(notes))


def number_notes(v: RunView) -> list[str]:
    """What keeps the final numbers honest (``beta_reading.likelihood_notes``): why a
    Gaussian's numbers can be negative, with the per-pixel squared error of the probe's
    reconstructions; that a Bernoulli on grey pixels gives no bound on log p(x)."""
    info, snap = v.info, v.snapshot
    n_pixels = int(np.prod(info.data_shape)) if info is not None else 0
    mse = None
    if info is not None and snap is not None and info.originals is not None and snap.recon is not None:
        o, r = np.asarray(info.originals, np.float64), np.asarray(snap.recon, np.float64)
        if o.shape == r.shape:
            mse = float(((o - r) ** 2).mean())
    return likelihood_notes(v.config, n_pixels, mse=mse)


def _status_view(rid: str, shown: Status | None, polling: bool) -> None:
    v = common.engine().view(rid)
    if v is None:
        st.warning("This run is gone (its queued entry was stopped before it started, or its folder was deleted).")
        return
    if polling and (not v.status.live or v.status != shown):
        st.rerun()                       # started, paused/resumed or ended: redraw the page's controls
    if polling and shown == Status.PAUSED:            # its views are not polled: a move redraws them
        now = (rid, moment(v))
        if st.session_state.setdefault(SEEN, now) != now:
            del st.session_state[SEEN]                # the rerun's status line keeps the new one
            st.rerun()
    show_status(v)
    snap = v.snapshot                    # the alarm here, not with the KL bars: it clears with the line
    if snap is not None and v.status.active:
        alarm = train_ui.collapse_alarm(v.config.model.kind, float(np.sum(snap.kl_per_dim)), snap.active_units,
                                        v.config.model.latent_dim, snap.epoch)
        if alarm:
            st.warning(alarm, icon=":material/warning:")


def _curve_views(v: RunView) -> None:
    if v.rows:
        curves = training_figures.curve_frame(v.rows, v.val_rows, v.events, train=v.config.train)
        schedule = v.config.train.beta_schedule
        c1, c2, c3 = st.columns([1, 1, 1.15])
        for col, terms in ((c1, ("recon", "beta_kl")), (c2, ("kl", "total"))):
            with col:
                for t in terms:
                    panel = training_figures.panel_frame(curves, t)
                    spec = training_figures.live_spec("loss", term=t, legend=(t == "recon"), schedule=schedule)
                    st.vega_lite_chart(panel, chart_text.vega_spec(spec, f"Loss curves: {describe.TERM_NAMES[t]}, "
                                                                         "training and validation"),
                                       key=f"curve_{t}", width="stretch")
                    chart_text.under_chart(describe.loss_panel_summary(panel, describe.TERM_NAMES[t]),
                                           describe.loss_panel_table(panel), training_figures.term_title(t, schedule))
        with c3:
            if v.config.model.kind == "vae":
                beta = v.beta_now                                # the β the loss uses now
                rd = training_figures.rd_frame(v.rows, beta)
                st.vega_lite_chart(rd, chart_text.vega_spec(training_figures.live_spec("rd"), "The rate–distortion plane"),
                                   key="rd", width="stretch")
                st.caption("The run's (KL, reconstruction), smoothed, with its recent trail. Grey: "
                           "equal ELBO. Purple: recon + β·KL = const through the current point; "
                           "training slides the point along it, so a β change turns the line and "
                           "the point follows.")
                chart_text.under_chart(describe.rd_summary(rd, beta), describe.rd_table(rd),
                                       "the rate–distortion plane")
            else:
                st.info("An autoencoder has no KL term: its rate–distortion point would sit at KL = 0.")
        st.caption("Solid: training (averaged over recent batches); dashed: validation at each "
                   "epoch end. Vertical lines: β changes (purple, solid) and learning-rate changes (orange, dashed).")
    elif v.status in (Status.RUNNING, Status.PAUSED):
        st.caption("Waiting for the first steps…")
    if v.status.ended:
        final_numbers(v)


def _latent_views(v: RunView) -> None:
    if v.status in (Status.QUEUED, Status.STARTING):
        return
    snap, info = v.snapshot, v.info
    if snap is None or info is None:
        if v.from_disk:
            disk_views(v)
        return
    labels, names = info.probe_labels, info.class_names
    cfg = v.config
    st.subheader("Inside the model")
    a, b = st.columns([1.3, 1])
    domain = training_figures.label_domain(labels, names)
    with a:
        d = snap.mu.shape[1]
        dims = training_figures.pick_dims(snap.mu_var) if d > 2 else (0, min(1, d - 1))
        frame = replay_scrubber(v.history)
        latent = training_figures.latent_frame(frame["mu"], labels, names, dims)
        st.vega_lite_chart(latent, chart_text.vega_spec(training_figures.live_spec("latent", domain=domain, dims=dims),
                                                        "The probe set in latent space"), key="latent",
                           width="content")      # square, so the prior's circles stay round
        items = "images" if info.is_image else "points"
        st.caption(f"Posterior means of {len(frame['mu']):,} validation {items} at epoch "
                   f"{frame['epoch']:.1f} (step {frame['step']:,}); dotted: the prior's 1, 2, 3σ circles."
                   + (f" Showing z{dims[0] + 1} and z{dims[1] + 1}, the two most active of {d} "
                      f"dimensions." if d > 2 else ""))
        chart_text.under_chart(describe.latent_summary(latent, dims), describe.latent_table(latent, dims),
                               "class centres in latent space")
    with b:
        if info.is_image and snap.recon is not None:
            st.markdown("**Reconstructions**: validation images, each row followed by the decoder "
                        "mean at z = μ(x)")
            # inline, not a media file: each poll's new picture would stay in memory until the
            # session's next full run (a fragment rerun frees none)
            st.image(png_data_uri(training_figures.recon_pairs(info.originals, snap.recon)), width="stretch",
                     alt=recon_alt(info.originals, snap.recon, v.name or v.run_id, snap.step))
        elif snap.recon is not None and info.probe_x is not None:
            toy = training_figures.toy_frame(info.probe_x, snap.recon, labels, names)
            st.vega_lite_chart(toy, chart_text.vega_spec(training_figures.live_spec("toy", domain=domain),
                                                         "Data and reconstructions"), key="toy_recon", width="stretch")
            chart_text.under_chart(describe.toy_summary(toy), describe.toy_table(toy), "reconstructions by class")
        kl_panel(cfg.model.kind, snap.kl_per_dim, snap.mu_var, snap.active_units, cfg.model.latent_dim,
                 snap.epoch, key="klbars", alarm=not v.status.active)     # a live run's: in the status line
    with common.friendly_errors("Could not decode in the browser"):
        latent_plane.live_decoder(v)     # decode under the pointer with the latest checkpoint


def recon_alt(originals, recon, model: str, step: int | None) -> str:
    """The reconstructions image's text alternative: what it shows, and how close they are."""
    o, r = np.asarray(originals, np.float64), np.asarray(recon, np.float64)
    when = f" at step {step:,}" if step is not None else ""
    return (f"{len(o)} validation images, in rows, each row followed by its reconstruction by {model}{when} "
            f"(the decoder's mean at z = μ(x)); mean squared error per pixel {((o - r) ** 2).mean():.4f}.")


def kl_panel(kind: str, kl_per_dim, mu_var, active: int, latent_dim: int, epoch: float, key: str,
             alarm: bool = True) -> None:
    """KL per dimension, the active units and (``alarm``) the collapse alarm."""
    if kind != "vae":
        st.caption(f"Active units: {active} of {latent_dim}.")
        return
    kl_df = training_figures.kl_frame(kl_per_dim, mu_var)
    st.vega_lite_chart(kl_df, chart_text.vega_spec(training_figures.live_spec("kl"), "KL per latent dimension"), key=key,
                       width="stretch")
    chart_text.under_chart(describe.kl_summary(kl_df), describe.kl_table(kl_df), "KL per latent dimension")
    kl = float(np.sum(kl_per_dim))
    st.caption(f"Active units: **{active} of {latent_dim}** (variance of the posterior mean > 0.01) · "
               f"KL of the probe set {kl:.2f} nats.")
    said = train_ui.collapse_alarm("vae", kl, active, latent_dim, epoch) if alarm else None
    if said:
        st.warning(said, icon=":material/warning:")


def replay_scrubber(history: list[dict]) -> dict:
    """A slider over the kept latent snapshots (epochs); it follows the newest one until moved.
    Its place is taken (an empty slot) before it has two snapshots to scrub between: the chart
    drawn after it then keeps its place when the slider appears, and updates in place instead
    of being replaced (a blank frame; the Train test's frame watch saw it)."""
    session = st.session_state
    slot = st.empty()
    last = history[-1]
    top = float(last["epoch"])
    if len(history) < 2 or top <= 0:
        return last
    key = "replay_epoch"
    prev_top = session.get("replay_top")
    if key not in session or prev_top is None or session[key] >= prev_top - 1e-9 or session[key] > top:
        session[key] = top                                   # following the run
    session["replay_top"] = top
    at = slot.slider("Replay: scrub back through training (epoch)", 0.0, top, key=key,
                     step=max(top / 200, 0.001), format="%.2f",
                     help="Latent snapshots are kept (thinned evenly) so you can watch the clusters "
                          "form, merge or collapse. At the right end it follows the run.")
    return min(history, key=lambda h: (abs(h["epoch"] - at), -h["step"]))


@st.cache_data(show_spinner=False, max_entries=8)
def _disk_snapshot(run_dir: str, mtime: float, config_json: str):
    return snapshot_from_disk(Path(run_dir), RunConfig.from_json(config_json), common.load_model(run_dir))


def disk_views(v: RunView) -> None:
    """A run read back from disk has no live snapshots: show its final latent space instead."""
    weights = model_file(Path(v.run_dir))           # a tracked run's model: its ONNX graphs
    if not weights.is_file():
        return
    with common.friendly_errors("Could not read this run's final state"):
        got = _disk_snapshot(str(v.run_dir), weights.stat().st_mtime, v.config.to_json())
        if got is None:
            st.info("The live snapshots of this run were kept in memory only; open it in Explore.")
            return
        snap, labels, names, originals = got
        st.subheader("Final state (from the saved weights)")
        a, b = st.columns([1.3, 1])
        d = snap.mu.shape[1]
        dims = training_figures.pick_dims(snap.mu_var) if d > 2 else (0, min(1, d - 1))
        latent = training_figures.latent_frame(snap.mu, labels, names, dims)
        with a:
            chart = training_figures.latent_scatter_chart(latent, training_figures.label_domain(labels, names), dims)
            st.altair_chart(chart_text.altair(chart, "The probe set in latent space"), key="latent_disk",
                            width="content")
            chart_text.under_chart(describe.latent_summary(latent, dims), describe.latent_table(latent, dims),
                                   "class centres in latent space")
        with b:
            if originals is not None and snap.recon is not None:
                st.image(training_figures.recon_pairs(originals, snap.recon), width="stretch", clamp=True,
                         alt=recon_alt(originals, snap.recon, v.name or v.run_id, None))
            kl_panel(v.config.model.kind, snap.kl_per_dim, snap.mu_var, snap.active_units,
                     v.config.model.latent_dim, float(v.progress.epoch), key="klbars_disk")


# ===================================================================== β lab

def poll_sweep(draw, key: str, polling: bool, is_live) -> None:
    """Redraw a sweep every 2 s until none of its runs is live (``is_live()``), then once more."""
    @st.fragment(run_every=motion.every(2.0) if polling else None)
    def results(key: str, polling: bool) -> None:
        draw(key)
        if polling and not is_live(key):
            st.rerun()           # every run ended: one full rerun stops the polling
    results(key, polling)


# ===================================================================== Explore

def explore_link(run_id: str) -> None:
    """A link that opens ``run_id`` in Explore (``Explore?run=<id>``)."""
    st.page_link(paths.app_script("pages/2_Explore.py"), label="Explore this run's latent space",
                 icon=":material/explore:", query_params={"run": run_id})


def wait_for_checkpoint(weights: Path) -> None:
    """A run that has not finished its first epoch: show it as soon as its weights exist."""
    @st.fragment(run_every=motion.every(3))
    def wait() -> None:
        if store.model_saved(weights.parent):      # weights with their config: readable
            st.rerun(scope="app")
        st.info("This run has no checkpoint yet: its first one is written at the end of the first "
                "epoch, and this page shows it then.")
    wait()


def follow_reload(status: Status | None, newest: float, shown_mtime: float, follow: bool) -> bool:
    """Whether Explore, following a training run, reloads the whole page now: a newer
    checkpoint while following, or the run's end (its picker and caption then say so; the
    last checkpoint lands just before the run is marked ended, so that reload alone left the
    picker saying "(running)")."""
    return (status is not None and not status.active) or (follow and newest > shown_mtime)


def follow_run(run_id: str, weights: Path, shown_mtime: float) -> None:
    """A run still training: say which checkpoint is shown; reload when a newer one lands."""
    @st.fragment(run_every=motion.every(5))
    def watch() -> None:
        v = common.engine().entry(run_id)
        try:
            newest = weights.stat().st_mtime
        except OSError:
            return
        if follow_reload(v.status if v else None, newest, shown_mtime, st.session_state.get("ex_follow", True)):
            st.rerun(scope="app")
        ep = v.progress.epoch if v is not None else None
        st.caption(f"Run status: **{v.status if v else 'unknown'}**" + (f", epoch {ep:.1f}" if ep else "")
                   + f"; showing the checkpoint of {time.strftime('%H:%M:%S', time.localtime(shown_mtime))}.")
        if newest > shown_mtime:                   # not following: offered, not forced
            if st.button("Load the newest checkpoint"):
                st.rerun(scope="app")
        st.session_state.setdefault("ex_follow", True)
        st.toggle("Follow the run (reload each new checkpoint)", key="ex_follow")
    watch()
