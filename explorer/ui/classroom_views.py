"""The Class page's screens: join or create, the teacher's dashboard and controls, a
student's view. Plain data comes from :mod:`explorer.classroom.classes` and
:mod:`explorer.classroom.board`; figures from :mod:`explorer.figures.classroom`.

Every teacher action re-checks the key (:func:`explorer.ui.classroom.is_teacher`) before it
writes, so a student's session can never change a class's settings, push, or remove anyone,
whatever it sends.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace

import pandas as pd
import streamlit as st

from ..classroom import board
from ..classroom import classes, rules
from .. import data, paths, store
from ..config import DATASETS_IMAGE, DATASETS_TOY, DataConfig
from .. import settings as settings_mod
from ..engine import EngineError
from ..engine import calibration
from ..figures import classroom as classroom_figures
from ..figures import describe
from ..runs import Actor
from ..text import count
from . import classroom as classroom_ui
from . import chart_text, classroom_lesson, common, identity, motion

DASHBOARD_S = 2.0
NEW_KEY = "le_new_key"          # session state: {code: key}, shown once right after creating


def _refuse_unless_teacher(code: str, me: Actor) -> bool:
    if classroom_ui.is_teacher(code, me):
        return False
    st.error("Only this class's teacher may do that (the teacher key is not held by this browser).")
    return True


# ------------------------------------------------------------------ no class yet

def join_form(me: Actor, code_in_link: str) -> None:
    st.subheader("Join a class")
    with st.form("join"):
        code = st.text_input("Class code", value=classes.format_code(code_in_link), max_chars=12, key="join_code",
                             help="Eight letters or digits (ABCD-EFGH), from your teacher or the link "
                                  "they shared.")
        name = st.text_input("Your name, as your teacher will see it", max_chars=40, key="join_name")
        if st.form_submit_button("Join", type="primary"):
            try:
                k = classroom_ui.room().find(code, identity.client_address())
                classroom_ui.room().join(k.code, me, name)
            except classes.ClassroomError as e:
                st.error(f"Could not join: {e}.")
                return
            st.query_params["class"] = k.code
            st.rerun()


def create_form(me: Actor) -> None:
    st.subheader("Create a class (teachers)")
    with st.form("create"):
        name = st.text_input("Class name", max_chars=80, key="create_name", placeholder="e.g. Year 12, Tuesday")
        if st.form_submit_button("Create the class"):
            try:
                k, key = classroom_ui.room().create(name, me)
            except classes.ClassroomError as e:
                st.error(f"Could not create the class: {e}.")
                return
            st.session_state.setdefault(NEW_KEY, {})[k.code] = key
            st.session_state.setdefault(classroom_ui.KEYS, {})[k.code] = key
            st.query_params["class"] = k.code
            st.rerun()
    refused = False
    with st.expander("I am this class's teacher on another device"):
        with st.form("teacher_key"):
            code = st.text_input("Code of the class you teach", max_chars=8, key="tk_code")
            key = st.text_input("Teacher key", type="password", key="tk_key")
            if st.form_submit_button("Use this key"):
                if classroom_ui.use_key(code, key):
                    st.query_params["class"] = classes.normalise_code(code)
                    st.rerun()
                refused = True
    if refused:              # outside the expander: the rerun may have folded it
        st.error("That key is not this class's teacher key (it was shown once to whoever created "
                 "the class).")


# ------------------------------------------------------------------ the teacher

def teacher_header(k: classes.Klass, present: bool) -> None:
    st.title(k.name)
    link = f"{common.share_url('Class').split('?')[0]}?class={k.code}"
    n = len(classroom_ui.room().members(k.code))
    st.markdown(f"Join code **`{k.shown_code}`** · link: `{link}` · {count(n, 'student')}")
    new = st.session_state.get(NEW_KEY, {}).get(k.code)
    if new:
        classroom_ui.remember_key(k.code, new)         # this browser's cookie (an invisible script)
        if not present:                      # never on the projector: it waits until presentation ends
            _key_dialog(k.code, new)


@st.dialog("Your teacher key", dismissible=False, icon=":material/key:")
def _key_dialog(code: str, key: str) -> None:
    """The new class's teacher key, shown once, apart from the join code, until the teacher
    says they have it (this browser keeps it in a cookie either way)."""
    st.markdown("This key makes whoever holds it this class's teacher. This browser keeps it; "
                "write it down to teach from another device, and **never show it to the class**.")
    st.code(key, language=None)
    if st.button("I have noted it: close", key="key_noted", type="primary"):
        st.session_state.get(NEW_KEY, {}).pop(code, None)
        st.rerun()


def dashboard(k: classes.Klass, eng, present: bool) -> None:
    """Every student's newest run, live: the R–D plane, small multiples, the queue."""
    rules.overdue_runs(eng, classroom_ui.room(), k)
    classroom_lesson.revealed_panel(k, present)
    students = board.board(eng, classroom_ui.room(), k)
    cols = 3 if present else 6
    pushed = classroom_ui.room().latest_config_push(k.code)
    ladder = ((pushed.payload.get("ladder") or {}).get("setting") if pushed is not None else None)
    rd = classroom_figures.rd_frame(students, ladder)
    if len(rd):
        st.vega_lite_chart(rd, chart_text.vega_spec(classroom_figures.class_spec("rd", present),
                                                    "The class's rate–distortion plane"),
                           key="class_rd", width="stretch")
        chart_text.under_chart(describe.class_rd_summary(rd), describe.class_rd_table(rd),
                               "each student's point now")
    else:
        st.info("No student's run has reported yet: each one appears here as a point on the class's "
                "rate–distortion plane once it has trained a few steps.")
    st.caption(board.notice_rd(students, ladder))
    if any(s.mu is not None for s in students):
        latent = classroom_figures.latent_frame(students)
        st.vega_lite_chart(latent, chart_text.vega_spec(classroom_figures.class_spec("latent", present)
                                                        | {"columns": cols}, "Each student's latent space"),
                           key="class_latent")
        chart_text.under_chart(describe.class_latent_summary(latent), describe.class_latent_table(latent),
                               "class centres per student")
        st.caption("What to notice: a model with a small β spreads its codes and separates the classes; "
                   "a collapsed one (large β) piles every code on the prior's centre.")
    if any(s.curve for s in students):
        curves = classroom_figures.curves_frame(students)
        st.vega_lite_chart(curves, chart_text.vega_spec(classroom_figures.class_spec("curves", present)
                                                        | {"columns": cols}, "Each student's loss curves"),
                           key="class_curves")
        chart_text.under_chart(describe.class_curves_summary(curves), describe.class_curves_table(curves),
                               "each student's latest losses")
        st.caption("What to notice: reconstruction falls as each model learns; where KL heads for 0, "
                   "that student's latent code carries no information (posterior collapse).")
    q = board.queue(eng, classroom_ui.room(), k)
    st.markdown("**The class queue**")
    if q:
        st.dataframe(pd.DataFrame(q), hide_index=True, width="stretch", key="class_queue")
    st.caption(f"What to notice: {len(q)} class runs are live; the server trains "
               f"{eng.max_jobs} at a time and the rest wait in order." if q else
               "What to notice: no class run is waiting or training now.")


def push_view_form(k: classes.Klass, me: Actor, eng) -> None:
    st.markdown("**Push a view** — Explore opens at this run and this z on every following student's page")
    runs = {e.key: e.label for e in classroom_ui.class_run_entries(eng, k)} | classroom_ui.shipped_choices()
    with st.form("push_view"):
        c1, c2 = st.columns([3, 1])
        model = c1.selectbox("Run", list(runs), format_func=runs.get, key="push_model")
        z = c2.text_input("z (comma-separated)", value="0,0", key="push_z_text")
        if st.form_submit_button("Push this view") and not _refuse_unless_teacher(k.code, me):
            p = classroom_ui.room().push(k.code, "view", {"model": model, "z": z.replace(" ", "")})
            st.success(f"Pushed (#{p.version}): Explore at {runs.get(model)}, z = ({z}).")


def students_panel(k: classes.Klass, me: Actor, eng) -> None:
    members = classroom_ui.room().members(k.code)
    if not members:
        st.info(f"No students yet: they open the Class page and type the code {k.shown_code}.")
        removed_panel(k, me)
        return
    st.fragment(run_every=motion.every(DASHBOARD_S), key="class_presence")(presence)(k)
    latest = classroom_ui.room().latest_runs(k.code)
    entries = {o: eng.entry(r) for o, r in latest.items()}
    st.dataframe(pd.DataFrame([{
        "student": m.name, "run": (entries.get(m.owner).name or latest[m.owner]) if entries.get(m.owner) else "",
        "status": entries[m.owner].status.value if entries.get(m.owner) else "no run yet",
        "base β": entries[m.owner].base_beta if entries.get(m.owner) else None,
        "runs in class": len(classroom_ui.room().runs_of(k.code, m.owner))} for m in members]),
        hide_index=True, width="stretch", key="class_students")
    names = {m.owner: m.name for m in members}
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    who = c1.selectbox("Student", list(names), format_func=names.get, key="class_pick")
    if who in latest:
        c2.page_link(paths.app_script("pages/1_Train.py"), label="Open their run", icon=":material/visibility:",
                     query_params={"run": latest[who]})
    if c3.button("Remove from class", key="class_remove") and not _refuse_unless_teacher(k.code, me):
        classroom_ui.room().remove(k.code, who)
        st.rerun()
    removed_panel(k, me)
    on = st.toggle("Take control of my students' runs", value=k.settings.teacher_control, key=classroom_ui.CONTROL,
                   help="Off: you watch their runs read-only. On: pause, stop and change β on their runs "
                        "from the Train page, in any of your tabs (the class keeps the switch).")
    if on != k.settings.teacher_control and not _refuse_unless_teacher(k.code, me):
        classroom_ui.room().update_settings(k.code, replace(k.settings, teacher_control=bool(on)))
        st.rerun()
    if k.settings.teacher_control and who in latest:
        if st.button("Stop their run", key="class_stop_run") and not _refuse_unless_teacher(k.code, me):
            try:
                eng.stop(latest[who], rules.teacher_actor(classroom_ui.room(), k, me))
                st.success("Stopped: the student reads “stopped by your teacher”.")
            except EngineError as e:
                st.error(str(e))


def presence(k: classes.Klass) -> None:
    """Which students have a tab of this server open now (their runs go on either way)."""
    members = classroom_ui.room().members(k.code)
    here = [m.name for m in members if identity.sessions_of(m.owner) > 0]
    away = [m.name for m in members if identity.sessions_of(m.owner) == 0]
    st.caption(f"With a tab open on this server now: {', '.join(here) or 'nobody'} · no tab open: "
               f"{', '.join(away) or 'nobody'} (their runs, queued ones too, go on either way).")


def removed_panel(k: classes.Klass, me: Actor) -> None:
    """Students the teacher removed: they cannot join again until let back in."""
    gone = classroom_ui.room().removed(k.code)
    if not gone:
        return
    names = {m.owner: m.name for m in gone}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    back = c1.selectbox("Removed students (they cannot join again until you let them back in)",
                        list(names), format_func=names.get, key="class_removed_pick")
    if c2.button("Let back in", key="class_readmit") and not _refuse_unless_teacher(k.code, me):
        classroom_ui.room().readmit(k.code, back)
        st.rerun()


def data_check(k: classes.Klass, me: Actor) -> None:
    """Before the lesson: which large datasets this server holds; the teacher uploads a
    missing one's standard .npz once (stored in the data folder, no restart)."""
    folder = data.default_cache_dir()
    for name, title in (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")):
        if data.available_offline(DataConfig(name=name)):
            st.markdown(f":material/check_circle: {title} is on this server.")
            continue
        st.markdown(f":material/error: {title} is not on this server: put `{name}.npz` into `{folder}` "
                    f"(the server setting LATENT_EXPLORER_DATA names that folder; no restart needed), "
                    f"or upload it here once, or train on the digits, which are always here.")
        up = st.file_uploader(f"{title}: the standard {name}.npz (x_train, y_train, x_test, y_test)",
                              type=["npz"], key=f"class_data_{name}")
        if up is not None and st.button(f"Store {title} on this server", key=f"class_data_store_{name}") \
                and not _refuse_unless_teacher(k.code, me):
            try:
                store.save_dataset(folder, name, up.getvalue(), check=lambda p, n=name: data.load(
                    DataConfig(name=n, path=str(p)), max_bytes=store.DATASET_MAX_BYTES))
                st.success(f"{title} is stored: every run on this server can use it now.")
            except (store.StoreError, data.DataError) as e:
                st.error(f"Not stored: {e}")


@st.cache_resource(show_spinner=False)
def _calibrations() -> dict:
    """This server's latest calibration, for every teacher on it: {"latest": (Calibration,
    runs that were training meanwhile)}."""
    return {}


def time_check(k: classes.Klass, me: Actor) -> None:
    """Before the lesson: how long each preset takes for N students on this server, from a
    short measured calibration (in a worker process, :mod:`explorer.engine.calibration`)."""
    eng = common.engine()
    st.markdown("**How long will each preset take here?**")
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    n = int(c1.number_input("Students", 1, 500, value=max(1, len(classroom_ui.room().members(k.code))),
                            key="cal_students", help="How many students will press Start (the class's size)."))
    if c2.button("Measure this server (a few seconds)", key="cal_run") and not _refuse_unless_teacher(k.code, me):
        busy = eng.busy_workers()
        with st.spinner("Timing a few training steps of each preset in a worker process…"):
            try:
                _calibrations()["latest"] = (calibration.calibrate(threads=eng.torch_threads), busy)
            except calibration.CalibrationError as e:
                st.error(f"Not measured: {e}.")
    latest = _calibrations().get("latest")
    if latest is None:
        st.caption("The button times a few training steps of each preset on this server (in a worker "
                   "process, as a run trains) and estimates how long the class's runs take.")
        return
    cal, busy = latest
    workers = eng.max_jobs
    timings = {t.preset: t for t in cal.timings}
    rows = []
    for r in calibration.estimate(cal.timings, n, workers):
        t = timings[r.preset]
        ends = (f"its {t.budget_s:g} s time budget (at most ≈{r.epochs:.0f} of {t.epochs} epochs fit)" if r.by_budget
                else f"its {t.epochs} epochs")
        rows.append({"preset": r.preset, "measured per step": f"{t.s_per_step * 1000:.1f} ms",
                     "one run": calibration.duration(r.run_s), "what ends a run": ends,
                     "runs": r.runs, f"rounds of {workers}": r.rounds,
                     f"{n} students": calibration.duration(r.total_s)})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="cal_table")
    s = settings_mod.get()
    source = ("the Ray cluster's slots" if s.engine == "ray" else "the setting LATENT_EXPLORER_MAX_JOBS"
              if s.max_jobs_set else "this server's cores; the setting LATENT_EXPLORER_MAX_JOBS changes it")
    note = ""
    if s.engine == "ray":
        note = " The cluster's nodes may be faster or slower than this server."
    elif workers > (os.cpu_count() or 1):
        note = f" More workers than this server's {os.cpu_count()} cores share them: each run takes longer."
    st.caption(f"An estimate from a measurement: s/step measured on this server at "
               f"{time.strftime('%H:%M', time.gmtime(cal.measured_at))} UTC ({cal.steps} steps of each preset "
               f"in a worker process, {count(cal.threads, 'torch thread')}, while {count(busy, 'run')} trained). "
               f"{workers} run{'s train' if workers != 1 else ' trains'} at once here ({source}): {n} students' "
               f"runs take ⌈runs / {workers}⌉ rounds of one run. Not counted: each run's start, its saves and "
               f"live snapshots, and its final evaluation, so a run without a time budget takes somewhat "
               f"longer.{note}")


def settings_form(k: classes.Klass, me: Actor) -> None:
    s = k.settings
    st.markdown("**Before the lesson**")
    data_check(k, me)
    time_check(k, me)
    with st.form("class_settings"):
        locked = st.checkbox(classes.SETTING_LABELS["locked"].capitalize() + " (students train the configuration "
                             "you push)", value=s.locked, key="set_locked")
        opts = ("",) + DATASETS_IMAGE + DATASETS_TOY
        dataset = st.selectbox("Dataset", opts, index=opts.index(s.dataset), key="set_dataset",
                               format_func=lambda d: d or "any")
        lo, hi = classes.SETTING_LIMITS["max_runs"]
        runs = st.number_input(classes.SETTING_LABELS["max_runs"].capitalize(), lo, hi, value=s.max_runs,
                               key="set_runs")
        lo, hi = classes.SETTING_LIMITS["max_run_seconds"]
        secs = st.number_input(classes.SETTING_LABELS["max_run_seconds"].capitalize(), lo, hi,
                               value=float(s.max_run_seconds), step=10.0, key="set_secs")
        others = st.checkbox(classes.SETTING_LABELS["see_others"].capitalize(), value=s.see_others,
                             key="set_others")
        if st.form_submit_button("Save the settings") and not _refuse_unless_teacher(k.code, me):
            try:
                classroom_ui.room().update_settings(k.code, replace(s, locked=locked, dataset=dataset,
                                                                    max_runs=int(runs), max_run_seconds=float(secs),
                                                                    see_others=others))
                st.success("Saved.")
            except classes.ClassroomError as e:
                st.error(f"Not saved: {e}.")
    with st.popover("Close the class"):
        st.caption("No one can join a closed class; students keep their runs.")
        if st.button("Close it now", key="class_close", type="primary") and not _refuse_unless_teacher(k.code, me):
            classroom_ui.room().close_class(k.code)
            classroom_ui.forget_key(k.code)
            st.query_params.pop("class", None)
            st.rerun()


# ------------------------------------------------------------------ a student

def student_view(k: classes.Klass, member: classes.Member, me: Actor, eng) -> None:
    st.title(k.name)
    classroom_lesson.student_question(k, me)
    st.markdown(f"You are in this class as **{member.name}**. Your teacher sees your runs on the class "
                f"dashboard. Limits: {count(k.settings.max_runs, 'run')}, {k.settings.max_run_seconds:g} s per run"
                + (f", dataset {k.settings.dataset}" if k.settings.dataset else "")
                + (", hyperparameters locked by your teacher" if k.settings.locked else "") + ".")
    mine = [eng.entry(r) for _, r in classroom_ui.room().runs_of(k.code, me.id)]
    rows = [{"run": e.name or e.run_id, "status": e.status.value, "base β": e.base_beta,
             "why it ended": e.reason or ""} for e in mine if e is not None]
    st.markdown("**Your runs in this class**")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="my_class_runs")
    else:
        st.caption("None yet: open **Train** and press Start, or wait for your teacher's push.")
    if k.settings.see_others:
        others = [s for s in board.board(eng, classroom_ui.room(), k) if s.owner != me.id]
        st.markdown("**Your classmates' latest runs**")
        st.dataframe(pd.DataFrame([{"student": s.name, "status": s.status, "base β": s.beta, "KL": s.kl,
                                    "reconstruction": s.recon} for s in others]),
                     hide_index=True, width="stretch", key="class_others")
    if st.button("Leave the class", key="class_leave"):
        classroom_ui.room().leave(k.code, me.id)
        st.query_params.pop("class", None)
        st.rerun()
