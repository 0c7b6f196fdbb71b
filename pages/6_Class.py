"""Class: classroom mode. A teacher creates a class and runs a lesson from its dashboard;
students join with the class's code and follow the teacher.

The screen depends on who is on it:

* nobody's class yet: join a class (code from the link ``?class=ABCD``, a display name), or
  create one (the teacher key is shown once and kept in this browser);
* the class's teacher (holds its key, or is the logged-in user who created it): the
  dashboard (every student's newest run on one rate–distortion plane, small multiples of
  latent scatters and curves, the class queue; refreshed every 2 s), "follow me" pushes
  (a configuration, a view), the students (open a run read-only or take control, remove),
  the class's settings, and presentation mode for a projector (``?present=1``);
* a student of the class: their runs, their classmates' (when the teacher allows), leave.

Everything a teacher does is re-checked against the key before it is written
(``explorer.ui.classroom_views``); the data and the rules are in ``explorer.classroom``.
"""
from __future__ import annotations

import streamlit as st

from explorer.classroom import classes
from explorer.ui import classroom as classroom_ui
from explorer.ui import classroom_lesson as lesson
from explorer.ui import classroom_views as views
from explorer.ui import common, identity, motion

eng, me = common.engine(), identity.actor()
session = st.session_state
present = classroom_ui.presenting()
if present:
    classroom_ui.presentation_css()

if identity.login_configured():
    who = identity.user_claims()
    if who is None:
        if st.button("Log in with your school account", key="login_top"):
            st.login()
    elif st.button(f"Log out ({identity.display_name()})", key="logout"):
        st.logout()

code_in_link = classes.normalise_code(common.query_get("class"))
taught = {k.code: k for k in classroom_ui.teaching(me)}
mine = classroom_ui.membership(me)

# ------------------------------------------------------------ the teacher
if code_in_link in taught or (taught and not code_in_link and mine is None):
    if code_in_link not in taught:
        code_in_link = next(iter(taught))
        st.query_params["class"] = code_in_link
    if len(taught) > 1 and not present:
        pick = st.selectbox("Your classes", list(taught), index=list(taught).index(code_in_link),
                            format_func=lambda c: f"{taught[c].name} ({c})", key="teach_pick")
        if pick != code_in_link:
            st.query_params["class"] = pick
            st.rerun()
    k = taught[code_in_link]
    views.teacher_header(k, present)
    st.toggle("Presentation mode (large type, no sidebar, high contrast)", key=classroom_ui.PRESENT)
    if present:
        motion.pause_control("le_pause_present", st.container())      # the sidebar is hidden
        st.fragment(run_every=motion.every(views.DASHBOARD_S), key="class_board")(views.dashboard)(k, eng, True)
        st.stop()
    board, follow, students, setup = st.tabs(["Dashboard", "Follow me", "Students", "Settings"])
    with board:
        st.fragment(run_every=motion.every(views.DASHBOARD_S), key="class_board")(views.dashboard)(k, eng, False)
    with follow:
        lesson.question_panel(k, me)
        lesson.push_config_form(k, me, eng)
        views.push_view_form(k, me, eng)
        st.caption("What to notice: a push reaches every student who follows you within about two "
                   "seconds; a student can turn follow mode off on their own page.")
    with students:
        views.students_panel(k, me, eng)
    with setup:
        views.settings_form(k, me)
    st.stop()

# ------------------------------------------------------------ a student
if mine is not None:
    klass, member = mine
    if code_in_link and code_in_link != klass.code:
        st.info(f"You are in the class “{klass.name}” ({klass.code}). Joining {code_in_link} "
                f"below leaves it.")
        views.join_form(me, code_in_link)
    views.student_view(klass, member, me, eng)
    st.stop()

# ------------------------------------------------------------ nobody's class yet
st.title("Class")
st.markdown("A teacher creates a class and shares its code; students join it with that code and "
            "a name. The teacher then sees every student's model learning on one dashboard and can "
            "push a configuration or a view to the whole class.")
if code_in_link:
    try:                # a link's code is looked up as a typed one is: wrong ones slow the next
        classroom_ui.room().find(code_in_link, identity.client_address())
    except classes.ClassroomError as e:
        st.warning(f"{str(e)[:1].upper()}{str(e)[1:]}.")
left, right = st.columns(2)
with left:
    views.join_form(me, code_in_link)
with right:
    if identity.may_teach():
        views.create_form(me)
    else:
        st.subheader("Create a class (teachers)")
        if identity.login_configured() and identity.user_claims() is None:
            st.caption("Teachers log in first (the button above): their school account says "
                       "they teach.")
        else:
            st.caption("Your account has no teacher role on this server (the server settings "
                       "LATENT_EXPLORER_TEACHERS / LATENT_EXPLORER_TEACHER_CLAIM name teachers).")
