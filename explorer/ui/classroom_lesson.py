"""The lesson on the Class page: predict-then-see questions and pushes that build a picture.

* The teacher's "Follow me" tab: ask a question (a ready one for the preset or the ladder, or
  their own), watch the answers come in (on the teacher's screen only, until revealed), lock,
  reveal, note the outcome, ask a second vote, download the lesson's record (CSV); then push
  a configuration to everyone or a group, with a ladder spreading β or the latent size over
  the students and an own seed each (:mod:`explorer.classroom.pushes`).
* The dashboard and the projector show a revealed question's distribution.
* A student answers on their Class page.

The data and rules are in :mod:`explorer.classroom.votes` and :mod:`explorer.classroom.pushes`.
"""
from __future__ import annotations

import streamlit as st

from ..classroom import classes, pushes, votes
from ..config import BETA, DATASETS_IMAGE, DATASETS_TOY, LIMITS, RunConfig
from ..figures import votes as vote_figures
from ..runs import Actor
from . import classroom as classroom_ui

OWN = "(write my own)"


def _teacher(code: str, me: Actor) -> bool:
    if classroom_ui.is_teacher(code, me):
        return True
    st.error("Only this class's teacher may do that (the teacher key is not held by this browser).")
    return False


def tallies(q: votes.Question) -> dict:
    room = classroom_ui.room()
    return {r: votes.tally(room, q, r) for r in range(1, q.round + 1)}


def show_tally(q: votes.Question, present: bool, key: str) -> None:
    """The distribution of the answers (both votes after a revote), with its words."""
    t = tallies(q)
    frame = vote_figures.vote_frame(q, t)
    st.markdown(f"**{q.text}**")
    if q.kind == "choice":                   # one bar per option and vote: plain progress bars
        most = max([1] + [int(n) for n in frame["count"]])
        for _, row in frame.iterrows():
            st.progress(int(row["count"]) / most, text=f"{row['bar']}: {int(row['count'])}"
                        + (f" ({row['round']})" if q.round == 1 else ""))
    elif len(frame):                         # a number: how many students gave each value, per vote
        counts = frame.groupby(["round", "value"], sort=True).size().reset_index(name="students")
        st.dataframe(counts.rename(columns={"round": "vote", "value": "answer"}), hide_index=True, key=key)
    said = vote_figures.vote_summary(q, t)
    if q.round == 2:
        c = votes.changes(classroom_ui.room(), q)
        said += f" {c['changed']} of the {c['both']} students who voted twice changed their answer."
    if q.outcome:
        said += f" What the run showed: {q.outcome}"
    st.caption(f"In words: {said}")


def revealed_panel(k: classes.Klass, present: bool) -> None:
    """On the dashboard (and the projector): the current question, its answers once revealed."""
    q = votes.current(classroom_ui.room(), k.code)
    if q is None:
        return
    if q.revealed:
        show_tally(q, present, key="class_vote_revealed")
    else:
        n = votes.tally(classroom_ui.room(), q)["n"]
        st.markdown(f"**Question:** {q.text}  \n{n} answer{'s' if n != 1 else ''} so far"
                    f"{' (vote ' + str(q.round) + ')' if q.round > 1 else ''}; the distribution "
                    f"stays hidden until the teacher reveals it.")


# ------------------------------------------------------------------ the teacher

def question_panel(k: classes.Klass, me: Actor) -> None:
    """Ask, watch, lock, reveal, note the outcome, revote, export."""
    room = classroom_ui.room()
    st.markdown("**Predict, then see** — ask before you push; the answers lock when the push starts")
    ready = {f"{group}: {q['text']}": q for group, qs in votes.READY.items() for q in qs}
    with st.form("ask"):
        pick = st.selectbox("Question", [OWN] + list(ready), key="ask_pick",
                            help="Ready questions for each preset and ladder, or your own below.")
        text = st.text_input("Your own question", key="ask_text", placeholder="e.g. Which β gives the "
                             "sharpest samples?")
        kind = st.radio("Answers", ["choice", "number"], horizontal=True, key="ask_kind",
                        format_func={"choice": "multiple choice", "number": "a number"}.get)
        options = st.text_area("Options (one per line; multiple choice)", key="ask_options", height=100)
        if st.form_submit_button("Ask the class", type="primary") and _teacher(k.code, me):
            q = ready.get(pick) or {"text": text, "kind": kind, "options": options.splitlines()}
            try:
                votes.ask(room, k.code, q["text"], q["kind"], q.get("options", ()))
                st.success("Asked: your following students' pages open the question.")
            except classes.ClassroomError as e:
                st.error(f"Not asked: {e}.")
    q = votes.current(room, k.code)
    if q is None:
        return
    state = "open for answers" if q.is_open else "answers locked"
    st.markdown(f"**Now:** {q.text} · vote {q.round} · {state} · "
                f"{'shown on the dashboard' if q.revealed else 'hidden from the dashboard and projector'}")
    with st.expander("The answers so far (only on your screen until you reveal them)", expanded=True):
        show_tally(q, False, key="class_vote_private")
    c1, c2, c3, c4 = st.columns(4)
    if c1.button("Lock answers" if q.is_open else "Answers locked", key="vote_lock",
                 disabled=not q.is_open) and _teacher(k.code, me):
        votes.lock(room, k.code, q.qid)
        st.rerun()
    if c2.button("Hide" if q.revealed else "Reveal", key="vote_reveal") and _teacher(k.code, me):
        votes.reveal(room, k.code, q.qid, not q.revealed)
        st.rerun()
    if c3.button("Second vote", key="vote_again", disabled=q.round >= 2,
                 help="After discussion: the class answers again; both votes are kept.") and _teacher(k.code, me):
        votes.revote(room, k.code, q.qid)
        room.push(k.code, "question", {"qid": q.qid, "round": 2})
        st.rerun()
    c4.download_button("Lesson record (CSV)", data=lambda: votes.record_csv(room, k), file_name=f"{k.code}-lesson.csv",
                       mime="text/csv", key="vote_csv")
    with st.form("outcome"):
        said = st.text_input("What the run showed (kept beside the answers)", value=q.outcome, key="vote_outcome")
        if st.form_submit_button("Note the outcome") and _teacher(k.code, me):
            votes.note_outcome(room, k.code, q.qid, said)
            st.rerun()


def push_config_form(k: classes.Klass, me: Actor, eng) -> None:
    st.markdown("**Push a configuration** — started on the server for each student in the group, "
                "each with their own seed; their pages follow")
    d = RunConfig()
    room = classroom_ui.room()
    members = {m.owner: m.name for m in room.members(k.code)}
    q = votes.current(room, k.code)
    with st.form("push_config"):
        c1, c2, c3, c4 = st.columns(4)
        names = (k.settings.dataset,) if k.settings.dataset else DATASETS_IMAGE[:1] + DATASETS_TOY
        data = c1.selectbox("Dataset", names, key="push_data")
        zl, el = LIMITS["model.latent_dim"], LIMITS["train.epochs"]
        beta = c2.number_input("β", BETA.lo, BETA.hi, value=float(d.train.beta), key="push_beta")
        z = c3.number_input("Latent dimensions", int(zl.lo), int(zl.hi), value=2, key="push_z")
        epochs = c4.number_input("Epochs", int(el.lo), int(el.hi), value=10, key="push_epochs")
        l1, l2 = st.columns([1, 2])
        spread = l1.selectbox("Ladder: spread over the class", ["none"] + list(pushes.LADDER), key="push_ladder",
                              format_func=lambda s: "no ladder" if s == "none" else pushes.LADDER[s][3])
        rungs = l2.text_input("Ladder values, in turn over the students", value="0, 0.25, 0.5, 1, 2, 4, 8",
                              key="push_rungs", help="β: 0, 0.25, 0.5, 1, 2, 4, 8 draws the class's "
                              "rate–distortion curve; latent dimensions: 2, 8, 16.")
        g1, g2 = st.columns([1, 2])
        group = g1.selectbox("To", list(pushes.GROUPS), format_func=pushes.GROUPS.get, key="push_group")
        chosen = g2.multiselect("Chosen students", list(members), format_func=members.get, key="push_chosen")
        said = None
        if q is not None and q.kind == "choice":
            said = g2.selectbox(f"…who answered “{q.text[:60]}”", q.options, key="push_answered")
        start = st.checkbox("…and start it now (each student's previous pushed run is replaced)", value=True,
                            key="push_start")
        same = st.checkbox("Same seed for everyone (a controlled comparison)", value=False, key="push_same_seed")
        if st.form_submit_button("Push to the class", type="primary") and _teacher(k.code, me):
            try:
                ladder = None if spread == "none" else (spread, pushes.parse_ladder(spread, rungs))
                cfg = d.replace(data={"name": data}, model={"latent_dim": int(z)},
                                train={"beta": float(beta), "epochs": int(epochs)},
                                name=f"{k.code} β={beta:g}" if ladder is None or spread != "beta" else k.code)
                if start and q is not None and q.is_open:
                    votes.lock(room, k.code, q.qid)          # predictions first, then the run
                p = pushes.push_config(eng, room, k, me, cfg, start=bool(start), group=group, chosen=chosen,
                                       answered=(q.qid, said) if q is not None and said else None,
                                       ladder=ladder, own_seeds=not same)
                st.success(pushes.summary(p))
            except classes.ClassroomError as e:
                st.error(f"Not pushed: {e}.")


# ------------------------------------------------------------------ a student

def student_question(k: classes.Klass, me: Actor) -> None:
    """The class's current question on a student's page: answer it (changeable until locked)."""
    room = classroom_ui.room()
    q = votes.current(room, k.code)
    if q is None:
        return
    mine = votes.my_answer(room, k.code, q.qid, me.id, q.round)
    st.markdown(f"**Your teacher asks{' again' if q.round > 1 else ''}:** {q.text}")
    if not q.is_open:
        st.caption(f"Answers are locked: your teacher started the run. Your answer: {mine or '(none)'}.")
    else:
        with st.form(f"answer_{q.qid}_{q.round}"):
            if q.kind == "choice":
                value = st.radio("Your answer", q.options, index=None, key=f"ans_{q.qid}_{q.round}")
            else:
                value = st.number_input("Your answer (a number)", value=None, key=f"ans_{q.qid}_{q.round}")
            if st.form_submit_button("Send my answer", type="primary"):
                if value is None:
                    st.error("Pick an answer first.")
                else:
                    try:
                        mine = votes.answer(room, k, q.qid, me.id, value)
                    except classes.ClassroomError as e:
                        st.error(f"Not sent: {e}.")
        if mine is not None:
            st.caption(f"Your answer: {mine}. You can change it until your teacher starts the run.")
    if q.revealed:
        show_tally(q, False, key="student_vote_revealed")
