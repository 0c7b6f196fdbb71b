"""Train: set up a run, start it, and watch the model learn, live.

The screen, top to bottom: the settings of the next run (sidebar); the controls (Start,
Pause/Resume, Step, Stop, Reset, and the live β and learning rate); the run's live views
(``explorer.ui.live``: progress, curves, the rate–distortion plane, the latent scatter,
reconstructions, KL per dimension); the runs on this server, a page at a time.

Training runs in the engine's worker processes; this page sends controls and reads what the
engine publishes. The page's run is ``train_state.run_id()`` (:mod:`explorer.ui.train_state`),
mirrored in the URL (``?run=<id>``), so a reload or a shared link reattaches the page to the run. Only the run's
owner controls it; anyone else sees it read-only.
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from explorer.classroom.classes import ClassroomError
from explorer.engine import EngineError, Status
from explorer.runs import Action
from explorer.ui import classroom as classroom_ui
from explorer.ui import common, frame, live, load, motion, runlist
from explorer.ui import train as train_ui
from explorer.ui import train_form, train_state

RUNS_PER_PAGE = 20

eng, me = common.engine(), frame.actor()
session = st.session_state
train_form.init_state()
klass = classroom_ui.train_page_state(train_form.apply_config, me)     # a push, a locked class's settings
locked = (f"Your teacher locked the hyperparameters of the class “{klass.name}”"
          if klass is not None and klass.settings.locked else None)


# ------------------------------------------------------------ the page's run

def attach(run_id: str | None) -> None:
    """Make ``run_id`` the page's run (None: no run) and mirror it in the URL; the β and lr
    controls show the run's values from the next script run on."""
    train_state.attach(run_id)
    common.query_set(run=run_id)


def sync_controls(v) -> None:
    """Show the attached run's current β and learning rate in the live controls."""
    if v.beta is not None:
        session["beta"] = float(v.beta)
    if v.lr in train_ui.LR_CHOICES:
        session["lr"] = v.lr


if train_state.run_id() is None and (wanted := common.query_get("run")):
    if eng.entry(wanted) is None:
        st.warning(f"Run {wanted!r} is not known here: it may have been queued in a browser "
                   f"session that ended (queued runs are then dropped), or deleted.")
        common.query_set(run=None)
    else:
        attach(wanted)
view = eng.view(train_state.run_id()) if train_state.run_id() else None
if train_state.run_id() and view is None:          # e.g. a queued run dropped, or deleted elsewhere
    attach(None)
live_now = view is not None and view.status.live
read_only = view is not None and view.refusal(Action.CONTROL, me) is not None and live_now
if train_state.take_sync() and view is not None:
    sync_controls(view)

settings_form = train_form.sidebar(eng, me.id)


# ---------------------------------------------------------------- controls

def send_live(setter: str, key: str) -> None:
    """Send a live control (``set_beta`` or ``set_lr``) to the page's run, if it is live."""
    rid = train_state.run_id()
    v = eng.entry(rid) if rid else None
    if locked:                               # a locked class: no live β or lr either
        train_state.flash(f"{locked}: β and the learning rate stay as the class's configuration sets them.")
    elif v is not None and v.status.live and v.refusal(Action.CONTROL, me) is None:
        try:
            getattr(eng, setter)(rid, me, float(session[key]))
        except EngineError as e:
            train_state.flash(str(e))


def start(paused: bool = False) -> str | None:
    """Submit the sidebar's settings; returns the run id, or None after saying why not."""
    why = settings_form.error or settings_form.data_problem
    if why:
        train_state.flash(f"Cannot start: {why}")
        return None
    try:
        rid = classroom_ui.submit(eng, settings_form.config, me, start_paused=paused)
        if settings_form.twin is not None:                       # "AE vs VAE": both runs
            twin_config = settings_form.twin.replace(train={"beta": float(session["beta"]),
                                                            "lr": float(session["lr"])})
            twin = classroom_ui.submit(eng, twin_config, me)
            train_state.note(f"Started its twin too, “{settings_form.twin.name}”: compare both "
                             f"on the Runs page — [open the comparison](/Runs?runs={rid},{twin}).")
    except (EngineError, ClassroomError) as e:
        train_state.flash(f"Cannot start: {e}")
        return None
    attach(rid)
    return rid


def copy_settings(cfg) -> None:
    """"Start a run with these settings": put another run's settings into the sidebar."""
    train_form.apply_config(cfg)
    attach(None)


st.title("Train")
st.caption("Train a small VAE (or autoencoder) and watch it learn. Numbers are per image, in nats: "
           "reconstruction = −log p(x|z) summed over pixels, KL summed over latent dimensions, both "
           "averaged over the batch.")

# the five buttons share a row of their own, β and the learning rate the row under it: in one
# row of seven, a 1000-px window left each button ~60 px and cut its label to one letter
cols = st.columns(5)
live_cols = st.columns([1, 1.3, 1.2])
not_yours = (f"Read-only: {view.refusal(Action.CONTROL, me)}. β and the learning rate of this run are "
             f"its owner's to change" if read_only else None)
train_form.live_controls(lambda: send_live("set_beta", "beta"), lambda: send_live("set_lr", "lr"),
                         live_cols[0], live_cols[1], locked or not_yours)
paused_now = view is not None and view.status == Status.PAUSED
clicked = {
    "start": cols[0].button("Start", icon=":material/play_arrow:", type="primary", key="start",
                            disabled=live_now and not read_only, width="stretch",
                            help="This run is live: stop or reset it first" if live_now and not read_only
                            else "Start a new run with these settings"),
    "pause": cols[1].button("Resume" if paused_now else "Pause", key="pause", width="stretch",
                            icon=":material/play_arrow:" if paused_now else ":material/pause:",
                            disabled=not live_now or read_only),
    "step": cols[2].button("Step", icon=":material/skip_next:", key="step", width="stretch",
                           disabled=view is not None and (not live_now or read_only),
                           help="One batch, then paused (starts a paused run if there is none)"),
    "stop": cols[3].button("Stop", icon=":material/stop:", key="stop", width="stretch",
                           disabled=not live_now or read_only,
                           help="Stop and save the run (a queued run is dropped)"),
    "reset": cols[4].button("Reset", icon=":material/restart_alt:", key="reset", width="stretch",
                            disabled=view is None,
                            help="Clear the page for a fresh start (your live run is stopped and "
                                 "kept in the run list)"),
}
run_id = view.run_id if view is not None else None
try:
    if clicked["start"]:
        if start() is not None:
            st.rerun()
    elif clicked["pause"]:
        (eng.resume if paused_now else eng.pause)(run_id, me)
        st.rerun()
    elif clicked["step"]:
        rid = run_id if live_now else start(paused=True)
        if rid is not None:
            eng.step(rid, me, 1)
            st.rerun()
    elif clicked["stop"]:
        eng.stop(run_id, me)
        st.rerun()
    elif clicked["reset"]:
        if live_now and not read_only:
            eng.stop(run_id, me)
        attach(None)
        st.rerun()
except EngineError as e:
    train_state.flash(str(e))

if locked:
    st.info(f"{locked}: Start trains the class's configuration, shown in the sidebar; β and the "
            f"learning rate cannot change during the run either.", icon=":material/lock:")
if msg := train_state.take_flash():
    st.error(msg)
if note := train_state.current_note(live_now):
    st.info(note)
if read_only:
    c1, c2 = st.columns([3, 1.3], vertical_alignment="center")
    c1.info(f"Read-only: {view.refusal(Action.CONTROL, me)}.", icon=":material/visibility:")
    c2.button("Start a run with these settings", key="copy_settings", on_click=copy_settings,
              args=(view.config,), width="stretch")

if view is not None:
    if view.status != Status.QUEUED:          # in the sidebar: the live views keep their places
        with st.sidebar:
            live.explore_link(view.run_id)
    live.train_views(view.run_id, live_now, view.status)
else:
    st.info("Choose settings in the sidebar (or a preset for a lesson) and press **Start**. The "
            "defaults were chosen by measurement (`benchmarks/defaults_search.py`): on the digits, a "
            "Bernoulli decoder, β warmed up from 0 to 1 over the first 500 steps, 60 epochs — the ten "
            "classes separate clearly in the 2-D latent (5-NN accuracy ≈ 0.88) within seconds.")


# ----------------------------------------------------------------- run list

def listed(offset: int) -> list:
    """One page of the runs on this server (others' queued runs left out), newest first."""
    return [r for r in eng.list(limit=RUNS_PER_PAGE, offset=offset) if r.status != Status.QUEUED or r.owner == me.id]


def run_list(polling: bool) -> None:
    """The runs on this server (live, finished, saved), newest first, a page at a time.
    Polled while the page's run or a run it lists is live; when none is any more, the page
    reruns once, so that no status it shows stays behind ("running" after the end)."""
    st.subheader("Runs on this server")
    total = eng.count()
    if not total:
        st.caption("No runs yet. Finished runs appear here and on the other pages.")
        return
    offset = runlist.page_picker("train_runs_page", total, RUNS_PER_PAGE)
    runs = listed(offset)
    if polling and not live_now and not any(r.status.live for r in runs):
        st.rerun()                                   # the last live run here ended: stop polling
    table = pd.DataFrame([{
        "run": r.shown_name, "status": r.status_text, "data": r.config.data.name,
        "model": r.config.model.kind, "z": r.config.model.latent_dim,
        "base β": r.base_beta if r.beta_known else None, "epochs": r.epochs,
        "val loss" if r.config.model.kind == "ae" else "val ELBO":
            r.val.get("recon") if r.config.model.kind == "ae" else r.val.get("elbo"),
        "yours": "✓" if r.owner == me.id else "",
    } for r in runs])
    st.dataframe(table, hide_index=True, width="stretch", height=min(36 * (len(table) + 1) + 2, 260),
                 column_config={"epochs": st.column_config.NumberColumn(format="%.1f"),
                                "val ELBO": st.column_config.NumberColumn(format="%.2f"),
                                "val loss": st.column_config.NumberColumn(format="%.2f")})
    if any(r.status.live for r in runs):
        st.caption(f"Live runs' status and epochs as of {time.strftime('%H:%M:%S')}, refreshed every few "
                   "seconds; the progress bar above is live.")
    labels = {r.run_id: r.label for r in runs}
    common.fresh_label("open_pick", labels)              # a status moved: the browser shows it
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Open a run on this page", list(labels), key="open_pick", format_func=labels.get)
    if c2.button("Open", key="open_run", width="stretch"):
        attach(pick)
        st.rerun()


st.divider()
page_offset = (int(session.get("train_runs_page") or 1) - 1) * RUNS_PER_PAGE
poll_list = live_now or any(r.status.live for r in listed(page_offset))
st.fragment(run_every=motion.every(load.every(5.0)) if poll_list else None, key="train_runs")(run_list)(poll_list)
