"""Classroom mode on the pages: the teacher's key in the browser, the teacher actor,
starting runs inside a class, follow mode, presentation mode.

* The teacher key (:mod:`explorer.classroom.classes`) is shown once and kept in the teacher's
  browser: this session's state and a cookie ``le_tk_<CODE>`` (path ``/``,
  ``SameSite=Strict``), read back through ``st.context.cookies`` on later visits.
* :func:`page_actor`: the person on the page; a teacher who pressed "Take control" of their
  class controls the runs its students made in the class (``Actor.class_runs``, the one
  ownership rule's override), never their private runs.
  Without it the teacher watches read-only.
* :func:`submit`: the Train page's Start; a student's run goes through the class's caps.
* :func:`follow_bar`: every page of a student in a class polls the class's latest push
  (``run_every`` 1 s, one SQLite read) and takes a new one: a configuration (into the Train
  page's widgets, started when the push says so) or a view (Explore at a run and a z).
* :func:`presentation_css`: ``?present=1`` or the dashboard's toggle: large type, no sidebar.
"""
from __future__ import annotations

import re

import streamlit as st

from .. import catalog, paths
from ..classroom import classes, pushes, rules
from ..config import RunConfig
from ..runs import Actor
from . import common, explore_state, load, motion, train_state

KEYS = "le_class_keys"          # session state: {code: teacher key}
SEEN = "le_seen_push"           # session state: {code: version already taken}
FOLLOW = "le_follow"            # the follow-mode switch (a widget key)
FOLLOW_ON = "le_follow_on"      # session state: follow mode on (default) or off, kept across pages
CONTROL = "le_control"          # the "take control" toggle (the class setting teacher_control keeps it)
PENDING = "le_pending_config"   # session state: a pushed config for the Train page's widgets
ELSEWHERE = "le_push_elsewhere"  # session state: {code: (version, group)} of a push to a group without me
PRESENT = "le_present"
COOKIE_PREFIX = "le_tk_"
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{20,60}$")
FOLLOW_S = 1.0


def room() -> classes.Classroom:
    return classes.classroom()


# ------------------------------------------------------------------ the teacher key

def held_keys() -> dict[str, str]:
    """The teacher keys this browser holds: {class code: key} (session state, then cookies)."""
    keys = dict(st.session_state.get(KEYS) or {})
    try:
        cookies = dict(st.context.cookies)
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        cookies = {}
    for name, value in cookies.items():
        if name.startswith(COOKIE_PREFIX) and isinstance(value, str) and _KEY_RE.match(value):
            keys.setdefault(classes.normalise_code(name[len(COOKIE_PREFIX):]), value)
    return keys


def remember_key(code: str, key: str) -> None:
    """Keep a new class's teacher key in this session and in the browser's cookie."""
    st.session_state.setdefault(KEYS, {})[code] = key
    st.html(f"<script>document.cookie = '{COOKIE_PREFIX}{code}={key}; path=/; max-age=31536000; "
            f"SameSite=Strict';</script>", unsafe_allow_javascript=True, width="content")


def forget_key(code: str) -> None:
    (st.session_state.get(KEYS) or {}).pop(code, None)
    st.html(f"<script>document.cookie = '{COOKIE_PREFIX}{code}=; path=/; max-age=0; SameSite=Strict';"
            f"</script>", unsafe_allow_javascript=True, width="content")


def use_key(code: str, key: str) -> bool:
    """A teacher typed a key (another device): keep it when it is this class's."""
    code = classes.normalise_code(code)
    if room().is_teacher(code, "", key.strip()):
        remember_key(code, key.strip())
        return True
    return False


def teaching(me: Actor) -> list[classes.Klass]:
    """The open classes the person on the page teaches (by key, or as their logged-in creator)."""
    r, out = room(), {}
    for code, key in held_keys().items():
        k = r.get(code)
        if k is not None and not k.closed and r.is_teacher(code, me, key):
            out[code] = k
    for k in r.taught_by(me):
        out.setdefault(k.code, k)
    return sorted(out.values(), key=lambda k: -k.created)


def is_teacher(code: str, me: Actor) -> bool:
    return room().is_teacher(code, me, held_keys().get(classes.normalise_code(code)))


def page_actor(base: Actor) -> Actor:
    """``base``, or its teacher actor when it took control of its class's students (the
    class's "teacher control" setting: every tab of the teacher's browser, any device
    holding the key)."""
    if not classes.exists():
        return base
    for k in teaching(base):
        if k.settings.teacher_control:
            return rules.teacher_actor(room(), k, base)
    return base


# ------------------------------------------------------------------ students' runs

def membership(me: Actor):
    """(class, member) of the student on the page, or None."""
    try:
        return room().membership(me.id) if classes.exists() else None
    except Exception:  # noqa: BLE001 - an unreadable classroom file never breaks a page
        return None


def submit(eng, config: RunConfig, me: Actor, **kw) -> str:
    """Start a run: a student's inside their class (class caps, then the engine's). Raises
    :class:`~explorer.classroom.ClassroomError` or the engine's error, each saying why."""
    mine = membership(me)
    if mine is None:
        return eng.submit(config, me, **kw)       # (a class joined meanwhile: the engine's gate)
    klass, _ = mine       # (runs over a lowered time cap are stopped by the dashboard's refresh)
    locked = locked_config(klass, me.id)
    if locked is not None:                   # the class's configuration, whatever the sidebar says
        config = locked.replace(name=config.name or locked.name)
    return rules.start_run(eng, room(), klass, me, config, **kw)


def class_run_entries(eng, klass: classes.Klass) -> list:
    """The students' newest class runs that can be opened (they have weights)."""
    out = []
    for rid in room().latest_runs(klass.code).values():
        e = eng.entry(rid)
        if e is not None and e.status.value != "queued" and (e.saved or e.status.live):
            out.append(e)
    return out


def shipped_choices() -> dict[str, str]:
    """The shipped 2-D models: picker key -> label."""
    return {e.key: e.label for e in catalog.shipped_runs() if e.config.model.latent_dim == 2
            and not e.run_id.startswith("sweep-")}


def locked_config(klass: classes.Klass, owner: str = "") -> RunConfig | None:
    """The configuration a locked class trains (its latest pushed one: this student's rung
    of a ladder), or None."""
    if not klass.settings.locked:
        return None
    p = room().latest_config_push(klass.code)
    return RunConfig.from_dict(rules.pushed_configs(p, owner)[-1]) if p is not None else None


def train_page_state(apply_config, me: Actor) -> classes.Klass | None:
    """On the Train page, before its widgets: a pushed configuration waiting for them, and a
    locked class's configuration, are shown in the widgets. Returns the student's class."""
    pending = st.session_state.pop(PENDING, None)
    mine = membership(me)
    if mine is not None and (cfg := locked_config(mine[0], me.id)) is not None:
        pending = cfg.to_dict()
    if pending:
        apply_config(RunConfig.from_dict(pending))
    return None if mine is None else mine[0]


# ------------------------------------------------------------------ follow mode

def take_push(push: classes.Push, klass: classes.Klass, me: Actor, eng, page: str) -> None:
    """Apply a new push on this student's page (navigates; never returns normally when it does)."""
    session = st.session_state
    if push.kind == "question":
        _go("pages/6_Class.py", {"class": klass.code})
        return
    assigned = push.payload.get("assigned")
    if push.kind == "config" and assigned is not None:        # the server started the runs
        mine = assigned.get(me.id)
        if mine is None:                                       # a push to a group without me: said, not taken
            session.setdefault(ELSEWHERE, {})[klass.code] = (push.version, push.payload.get("group") or "all")
            return
        session[PENDING] = mine["config"]
        if mine.get("run"):
            train_state.attach(mine["run"])
            _go("pages/1_Train.py", {"run": mine["run"]})
        else:
            if mine.get("error"):
                train_state.flash(f"Your teacher started a run for the class, but yours could not start: "
                                  f"{mine['error']}")
            _go("pages/1_Train.py", {})
        return
    if push.kind == "view":
        key, z = push.payload.get("model", ""), push.payload.get("z", "")
        explore_state.open_model(key)
        _go("pages/2_Explore.py", {"model": key, **({"z": z} if z else {})})
        return
    cfg = RunConfig.from_dict(push.payload["config"])
    if push.payload.get("start"):
        try:
            rid = submit(eng, cfg, me)
        except Exception as e:  # noqa: BLE001 - a cap reached: say which, keep following
            train_state.flash(f"Your teacher started a run for the class, but yours could not start: {e}")
            session[PENDING] = cfg.to_dict()
            _go("pages/1_Train.py", {})
            return
        train_state.attach(rid)
        session[PENDING] = cfg.to_dict()
        _go("pages/1_Train.py", {"run": rid})
    else:
        session[PENDING] = cfg.to_dict()
        _go("pages/1_Train.py", {})


def _go(page: str, query: dict) -> None:
    st.switch_page(paths.app_script(page), query_params=query)


def follow_bar(page: str, me: Actor) -> None:
    """For a student in a class: a line saying so, the follow-mode switch, and the poll."""
    mine = membership(me)
    if mine is None:
        return
    klass, member = mine
    session = st.session_state
    session[FOLLOW] = session.setdefault(FOLLOW_ON, True)       # a widget's state does not outlive its page
    seen = session.setdefault(SEEN, {})
    if klass.code not in seen:           # joining: earlier pushes are history, not orders
        p = room().latest_push(klass.code)
        seen[klass.code] = p.version if p is not None else 0

    def poll() -> None:
        load.note_session()
        p = room().latest_push_shared(klass.code)    # a push still starting its runs is taken when done
        if p is not None and p.version > seen.get(klass.code, 0) and not p.payload.get("starting"):
            seen[klass.code] = p.version
            if session.get(FOLLOW_ON):
                take_push(p, klass, me, common.engine(), page)
        elsewhere = session.get(ELSEWHERE, {}).get(klass.code)
        if elsewhere is not None and p is not None and elsewhere[0] == p.version:   # until the next push
            st.caption(f"Your teacher's push #{elsewhere[0]} went to "
                       f"{pushes.GROUPS.get(elsewhere[1], elsewhere[1])}, not to you: your page stays as it is.")

    c1, c2 = st.columns([4, 1.3], vertical_alignment="center")
    following = "following your teacher: their pushes open here" if session[FOLLOW_ON] else "follow mode off"
    c1.caption(f"🎓 Class “{klass.name}” ({klass.code}) as **{member.name}** · " + following)
    c2.toggle("Follow my teacher", key=FOLLOW,
              on_change=lambda: session.update({FOLLOW_ON: bool(session[FOLLOW])}),
              help="When on, what your teacher pushes (a configuration to train, a view to explore) "
                   "opens on your page within a second or two.")
    if session[FOLLOW_ON]:
        st.fragment(run_every=FOLLOW_S, key="le_follow_poll")(poll)()


# ------------------------------------------------------------------ presentation mode

def presenting() -> bool:
    session = st.session_state
    if PRESENT not in session:
        session[PRESENT] = st.query_params.get("present") == "1"
    return bool(session[PRESENT])


def presentation_css() -> None:
    """Large type and no sidebar, for a projector."""
    st.html("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'] {display: none;}"
            "html, .stMarkdown p, .stCaption, [data-testid='stMetricValue'] {font-size: 1.45rem !important;}"
            "h1 {font-size: 3.2rem !important;} h2, h3 {font-size: 2.2rem !important;}"
            ".stApp {background: #111111; color: #ffffff;}"
            ".stApp p, .stApp span, .stApp label, .stApp h1, .stApp h2, .stApp h3 {color: #ffffff;}"
            # buttons and inputs keep their light theme otherwise: white labels on white
            ".stApp button, .stApp input, .stApp [data-baseweb='select'] > div {background: #222222 "
            "!important; color: #ffffff !important; border-color: #888888 !important;}"
            # alerts keep a light background otherwise: white text on pale blue (axe: 1.09:1)
            ".stApp [data-testid='stAlertContainer'] {background-color: #1b2a3c !important;}"
            ".stApp :focus-visible {outline: 3px solid #ffd43b !important; outline-offset: 2px;}"
            # captions are dimmed by default (a 0.6 alpha): at full strength they are 16:1 on #111111
            ".stApp [data-testid='stCaptionContainer'], .stApp [data-testid='stCaptionContainer'] * "
            "{color: #f2f2f2 !important; opacity: 1 !important;}"
            # a switch's off track: a grey one, 5.8:1 on #111111, with a white knob, 3.2:1 on it
            # (WCAG 1.4.11); on, the primary blue stays (3.3:1 on the page, the knob 5.7:1 on it).
            # tests/test_browser_a11y.py measures them
            + motion.switch_css("#8a8f9c", scope=".stApp") +
            # the charts fill the projector: the page's full width, not the reading column
            "[data-testid='stMainBlockContainer'] {max-width: 100% !important; padding: 1rem 2rem !important;}"
            "</style>")
