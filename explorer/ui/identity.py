"""Who is using the page: an owner that survives a reload and a new tab of the same browser.

Without a login, a browser is an owner. On its first visit the page makes a random
token (``secrets.token_urlsafe``) and stores it in a cookie (``le_owner``: path ``/``,
``SameSite=Strict``, one year), written by a line of JavaScript; every later script
run, in any tab of that browser, reads it back through ``st.context.cookies``. The
token never appears in a URL. The owner *id* stored with runs and compared by the
rules is ``b-`` plus a hash of the token, so nothing stored reveals the token.

With a login (``st.login``; the classroom setup), the owner is the account, whatever the
browser: ``u-`` plus a hash of the ID token's issuer and subject (``iss``, ``sub``), the one
pair OpenID Connect promises to be unique and stable (:func:`person_of`). An e-mail address
is never an identity: two accounts can claim the same one, and a ``sub`` is never read as an
e-mail. Login is on when ``.streamlit/secrets.toml`` (or a file named by Streamlit's
``secrets.files`` option) has an ``[auth]`` section (``redirect_uri``, ``cookie_secret``,
``client_id``, ``client_secret``, ``server_metadata_url``); :func:`may_teach` says whether a
logged-in user has a teacher role (settings ``LATENT_EXPLORER_TEACHERS``, which counts an
e-mail only when the token says ``email_verified``, or ``LATENT_EXPLORER_TEACHER_CLAIM``).

Runs belong to their owner, not to a browser session: when the last session of an owner
ends, their queued runs (a sweep's, a teacher's push) stay queued and start in turn (the
per-owner caps bound how many one owner may queue); :func:`sessions_of` counts the sessions.

New anonymous owners are rate-limited per client address (a token bucket: the setting
``LATENT_EXPLORER_NEW_OWNERS_PER_MINUTE``, a burst of twice that): fresh cookies or private
windows would otherwise be free extra people. A class of 60 behind one school router joins
at once with the default (30 a minute); the 61st browser waits two seconds. A browser over
the rate is told how long to wait, and its page goes on by itself then.
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time

import streamlit as st

from .. import settings
from ..runs import Actor

COOKIE = "le_owner"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_SESSIONS: dict[str, int] = {}          # owner id -> open browser sessions
_SESSIONS_LOCK = threading.Lock()


def owner_id_of_token(token: str) -> str:
    return "b-" + hashlib.sha256(token.encode()).hexdigest()[:20]


def owner_id_of_user(issuer: str, sub: str) -> str:
    """A logged-in person's owner id: their account at their provider, (issuer, sub)."""
    return "u-" + hashlib.sha256(f"{issuer}\n{sub}".encode()).hexdigest()[:20]


def verified_email(claims: dict) -> str | None:
    """The account's e-mail address when the provider vouches for it (``email_verified``
    true), lower-cased; otherwise None. Never the ``sub``."""
    email, verified = claims.get("email"), claims.get("email_verified")
    if not isinstance(email, str) or "@" not in email:
        return None
    if verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"):
        return email.strip().lower()
    return None


def person_of(claims: dict) -> tuple[str, str] | None:
    """(owner id, name to show) of a logged-in person's ID-token claims, or None when the
    token lacks an issuer or a subject. The name: the ``name`` claim, else the verified
    e-mail, else "account" and the start of the subject."""
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or not iss or not isinstance(sub, str) or not sub:
        return None
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        name = verified_email(claims) or f"account {sub[:12]}"
    return owner_id_of_user(iss, sub), name.strip()


def teaches(claims: dict | None, teachers: tuple[str, ...], teacher_claim: tuple[str, str] | None) -> bool:
    """Whether a logged-in person with these claims has a teacher role: their verified
    e-mail is listed, or their token has the teacher claim."""
    if claims is None:
        return False
    email = verified_email(claims)
    if email and email in teachers:
        return True
    if teacher_claim is not None:
        name, value = teacher_claim
        got = claims.get(name)
        return value in got if isinstance(got, (list, tuple)) else str(got) == value
    return False


def user_claims() -> dict | None:
    """The logged-in user's ID-token claims, or None (no login configured, or not logged in)."""
    try:
        user = st.user
        if user.get("is_logged_in") is not True:
            return None
        return {k: v for k, v in user.to_dict().items() if k != "tokens"}
    except Exception:  # noqa: BLE001 - no auth configured: st.user may raise
        return None


def login_configured() -> bool:
    """Whether this server has a login ([auth] in its secrets)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def display_name() -> str:
    """The logged-in person's name as the page shows it ("" when nobody is logged in)."""
    claims = user_claims()
    person = person_of(claims) if claims is not None else None
    return person[1] if person is not None else ""


def may_teach() -> bool:
    """Whether the person on the page may create a class. With no teacher setting anyone
    may; with ``LATENT_EXPLORER_TEACHERS`` or ``..._TEACHER_CLAIM``, only a logged-in user
    whose verified e-mail is listed or whose ID token has the claim."""
    s = settings.get()
    if not s.teachers and s.teacher_claim is None:
        return True
    return teaches(user_claims(), s.teachers, s.teacher_claim)


class Waiting(Exception):
    """Too many new owners from this client address just now: wait ``seconds``."""

    def __init__(self, seconds: float):
        super().__init__(f"wait {seconds:.0f} s")
        self.seconds = seconds


_BUCKETS: dict[str, tuple[float, float]] = {}   # client address -> (tokens, when counted)
_BUCKETS_LOCK = threading.Lock()


def take_new_owner(address: str, per_minute: int, now: float | None = None) -> float:
    """Take one new owner from ``address``'s bucket (``2 × per_minute`` at most, refilled at
    ``per_minute`` a minute); returns 0, or the seconds until one is free (nothing taken)."""
    now = time.monotonic() if now is None else now
    cap, rate = 2.0 * per_minute, per_minute / 60.0
    with _BUCKETS_LOCK:
        tokens, then = _BUCKETS.get(address, (cap, now))
        tokens = min(cap, tokens + (now - then) * rate)
        if tokens < 1.0:
            _BUCKETS[address] = (tokens, now)
            return (1.0 - tokens) / rate
        _BUCKETS[address] = (tokens - 1.0, now)
        if len(_BUCKETS) > 10_000:           # forget full buckets (their addresses are idle)
            for a in [a for a, (t, w) in _BUCKETS.items() if t + (now - w) * rate >= cap]:
                del _BUCKETS[a]
    return 0.0


def _in_a_browser() -> bool:
    """Whether this session came over a websocket (a browser, or a protocol client), not an
    in-process AppTest."""
    try:
        return bool(st.context.headers)
    except Exception:  # noqa: BLE001 - outside a browser session
        return False


def _browser_token() -> str:
    """This browser's token: from its cookie, or new (and then written to the cookie).
    A new one is rate-limited per client address: :class:`Waiting` when over the rate."""
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
        if _in_a_browser():
            wait = take_new_owner(client_address(), settings.get().new_owners_per_minute)
            if wait > 0:
                raise Waiting(wait)
        token = secrets.token_urlsafe(24)
        state["_le_write_cookie"] = True
    state["_le_token"] = token
    return token


def waiting_screen(w: Waiting) -> None:
    """What a browser over the new-owner rate sees: how long, and its page goes on by itself."""
    st.info(f"Many new visitors from your network arrived in the last minute. This page gives you "
            f"your own place on the server in about {math.ceil(w.seconds)} s and goes on by itself "
            f"(the server setting LATENT_EXPLORER_NEW_OWNERS_PER_MINUTE sets the pace).",
            icon=":material/hourglass_top:")

    def retry() -> None:
        try:
            _browser_token()
        except Waiting:
            return
        st.rerun()
    st.fragment(run_every=max(1.0, min(w.seconds, 5.0)))(retry)()
    st.stop()


def write_cookie() -> None:
    """Write a new token into the browser's cookie (once per session, invisible)."""
    if st.session_state.pop("_le_write_cookie", False):
        token = st.session_state["_le_token"]
        st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age=31536000; "
                f"SameSite=Strict';</script>", unsafe_allow_javascript=True, width="content")


def _release(owner: str) -> None:
    """A browser session of ``owner`` ended: one fewer (their runs, queued ones too, go on)."""
    with _SESSIONS_LOCK:
        _SESSIONS[owner] = _SESSIONS.get(owner, 1) - 1
        if _SESSIONS[owner] <= 0:
            _SESSIONS.pop(owner, None)


def sessions_of(owner: str) -> int:
    """How many browser sessions ``owner`` has open in this process."""
    with _SESSIONS_LOCK:
        return _SESSIONS.get(owner, 0)


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def _session_owner(owner: str) -> str:
    with _SESSIONS_LOCK:
        _SESSIONS[owner] = _SESSIONS.get(owner, 0) + 1
    return owner


def actor() -> Actor:
    """The person using this page (registers the session for the owner once)."""
    claims = user_claims()
    person = person_of(claims) if claims is not None else None
    if person is not None:
        a = Actor(id=person[0], name=person[1])
    else:
        a = Actor(id=owner_id_of_token(_browser_token()))
    _session_owner(a.id)
    return a


def client_address() -> str:
    """The address this session connects from (Streamlit's ``st.context.ip_address``;
    "local" for a loopback connection or outside a browser session). Behind a reverse proxy
    every visitor has the proxy's address: limits per address then hold for all together."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest)
        ip = None
    return ip if isinstance(ip, str) and ip else "local"


def owner() -> str:
    """The owner id of the person using this page."""
    return actor().id
