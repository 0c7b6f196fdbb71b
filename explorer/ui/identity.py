"""Who is using the page: an owner that survives a reload and a new tab of the same browser.

Without a login, a browser is an owner. On its first visit the page makes a random
token (``secrets.token_urlsafe``) and stores it in a cookie (``le_owner``: path ``/``,
``SameSite=Strict``, one year), written by a line of JavaScript; every later script
run, in any tab of that browser, reads it back through ``st.context.cookies``. The
token never appears in a URL. The owner *id* stored with runs and compared by the
rules is ``b-`` plus a hash of the token, so nothing stored reveals the token.

With a login (``st.login``; the classroom setup), the owner is the user: ``u-`` plus
a hash of the e-mail address, shown by name. Login is on when ``.streamlit/secrets.toml``
(or a file named by Streamlit's ``secrets.files`` option) has an ``[auth]`` section
(``redirect_uri``, ``cookie_secret``, ``client_id``, ``client_secret``,
``server_metadata_url``); :func:`may_teach` says whether a logged-in user has a teacher
role (settings ``LATENT_EXPLORER_TEACHERS`` / ``LATENT_EXPLORER_TEACHER_CLAIM``).

When the last browser session of an owner ends, the owner's queued runs are dropped
(:meth:`explorer.engine.Engine.drop_owner`); running ones go on to their end.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import threading

import streamlit as st

from .. import settings
from ..engine import get_engine
from ..runs import Actor

COOKIE = "le_owner"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_SESSIONS: dict[str, int] = {}          # owner id -> open browser sessions
_SESSIONS_LOCK = threading.Lock()


def owner_id_of_token(token: str) -> str:
    return "b-" + hashlib.sha256(token.encode()).hexdigest()[:20]


def owner_id_of_user(email: str) -> str:
    return "u-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20]


def _logged_in_user() -> tuple[str, str] | None:
    """(e-mail, name) of a logged-in user, or None (no login configured, or not logged in)."""
    try:
        user = st.user
        if user.get("is_logged_in") is not True:
            return None
        email, name = user.get("email") or user.get("sub"), user.get("name")
        if not isinstance(email, str) or not email:
            return None
        return email, name if isinstance(name, str) and name else email
    except Exception:  # noqa: BLE001 - no auth configured: st.user may raise
        return None


def login_configured() -> bool:
    """Whether this server has a login ([auth] in its secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def user_claims() -> dict | None:
    """The logged-in user's ID-token claims, or None."""
    if _logged_in_user() is None:
        return None
    try:
        return {k: v for k, v in st.user.to_dict().items() if k != "tokens"}
    except Exception:  # noqa: BLE001
        return None


def may_teach() -> bool:
    """Whether the person on the page may create a class. With no teacher setting anyone
    may; with ``LATENT_EXPLORER_TEACHERS`` or ``..._TEACHER_CLAIM``, only a logged-in user
    whose e-mail is listed or whose ID token has the claim."""
    s = settings.get()
    if not s.teachers and s.teacher_claim is None:
        return True
    claims = user_claims()
    if claims is None:
        return False
    email = str(claims.get("email") or "").strip().lower()
    if email and email in s.teachers:
        return True
    if s.teacher_claim is not None:
        name, value = s.teacher_claim
        got = claims.get(name)
        return value in got if isinstance(got, (list, tuple)) else str(got) == value
    return False


def _browser_token() -> str:
    """This browser's token: from its cookie, or new (and then written to the cookie)."""
    state = st.session_state
    token = state.get("_le_token")
    if token:
        return token
    try:
        cookie = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        cookie = None
    if isinstance(cookie, str) and _TOKEN.match(cookie):
        token = cookie
    else:
        token = secrets.token_urlsafe(24)
        state["_le_write_cookie"] = True
    state["_le_token"] = token
    return token


def write_cookie() -> None:
    """Write a new token into the browser's cookie (once per session, invisible)."""
    if st.session_state.pop("_le_write_cookie", False):
        token = st.session_state["_le_token"]
        st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age=31536000; "
                f"SameSite=Strict';</script>", unsafe_allow_javascript=True, width="content")


def _release(owner: str) -> None:
    with _SESSIONS_LOCK:
        _SESSIONS[owner] = _SESSIONS.get(owner, 1) - 1
        last = _SESSIONS[owner] <= 0
        if last:
            _SESSIONS.pop(owner, None)
    if last:
        try:
            get_engine().drop_owner(owner)
        except Exception:  # noqa: BLE001 - never fail a disconnect
            pass


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def _session_owner(owner: str) -> str:
    with _SESSIONS_LOCK:
        _SESSIONS[owner] = _SESSIONS.get(owner, 0) + 1
    return owner


def actor() -> Actor:
    """The person using this page (registers the session for the owner once)."""
    user = _logged_in_user()
    if user is not None:
        email, name = user
        a = Actor(id=owner_id_of_user(email), name=name)
    else:
        a = Actor(id=owner_id_of_token(_browser_token()))
    _session_owner(a.id)
    return a


def owner() -> str:
    """The owner id of the person using this page."""
    return actor().id
