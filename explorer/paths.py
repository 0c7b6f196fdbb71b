"""Where the app's own files are: the project (or the installed package's copy of it) and
the shipped runs. A leaf: imports nothing of ``explorer``.

An installed package (``pip install .``) carries ``app.py``, ``home.py``, ``pages/`` and
``trained/`` in ``explorer/_app`` (setup.py copies them there); a checkout has them at its root.
Where users' runs and downloaded data go is a setting (:mod:`explorer.settings`).
"""
from __future__ import annotations

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
INSTALLED = not (_CHECKOUT / "trained").is_dir() and (_CHECKOUT / "explorer" / "_app").is_dir()
PROJECT_ROOT = _CHECKOUT / "explorer" / "_app" if INSTALLED else _CHECKOUT
SHIPPED_ROOT = PROJECT_ROOT / "trained"


def app_script(name: str) -> str:
    """The absolute path of one of the app's scripts (``"home.py"``, ``"pages/1_Train.py"``):
    what ``st.Page``, ``st.switch_page`` and ``st.page_link`` are given. Absolute, because
    Streamlit reads a relative one from its main script's folder, which is the project's on a
    server (``app.py``) but ``tests/`` under AppTest (``tests/app_entry.py``)."""
    return str(PROJECT_ROOT / name)
