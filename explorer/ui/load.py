"""How busy this server is, and how often live views poll because of it.

A Streamlit server runs every session's script and fragment reruns in one process (one
GIL). One learner watching a live run costs about three fragment reruns a second (the
progress line, the curves, the latent views, the run list); thirty students of a class
watching theirs cost ~90 a second, more than a 2-core server runs, and every click and
every "follow me" push waits behind them (``benchmarks/load_test.py --classroom 30``).
So the Train page's live views poll at their usual pace while a few sessions are active
and proportionally slower with many (at most :data:`MAX_SLOWDOWN` times): 30 sessions
see their progress line every 3 s instead of 0.75 s. The follow-me poll and the teacher's
dashboard keep their own pace (their 2 s promises).
"""
from __future__ import annotations

import threading
import time

from streamlit.runtime.scriptrunner import get_script_run_ctx

WINDOW_S = 30.0        # a session counts as active this long after its last script or fragment run
FULL_SPEED = 6         # this many active sessions poll at the usual pace
MAX_SLOWDOWN = 4.0

_seen: dict[str, float] = {}
_lock = threading.Lock()


def note_session() -> None:
    """Count the session running this script (every page, every polling fragment calls it)."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        with _lock:
            _seen[ctx.session_id] = time.monotonic()


def active_sessions() -> int:
    """The sessions that ran a script or a fragment in the last :data:`WINDOW_S` seconds."""
    now = time.monotonic()
    with _lock:
        for sid in [s for s, t in _seen.items() if now - t > WINDOW_S]:
            del _seen[sid]
        return len(_seen)


def slowdown(sessions: int | None = None) -> float:
    """How much slower live views poll: 1 up to :data:`FULL_SPEED` active sessions, then in
    proportion to them, at most :data:`MAX_SLOWDOWN`."""
    n = active_sessions() if sessions is None else sessions
    return min(MAX_SLOWDOWN, max(1.0, n / FULL_SPEED))


def every(base_s: float) -> float:
    """A live view's polling interval: ``base_s`` on a quiet server, longer on a busy one."""
    return base_s * slowdown()
