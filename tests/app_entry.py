"""AppTest's way into the app: runs ``app.py``'s visit part (the menu, the frame, then the
page) as Streamlit runs it for a visitor. Tests open a page through it with
``conftest.app_test(page)``.

It lives here and not beside ``pages/`` because AppTest decides Streamlit's legacy ``pages/``
mode afresh from its main script's folder before every run: beside ``pages/`` it would run
the page alone, without its frame. ``app.py`` names its pages by absolute path, so they are
the same files from here.
"""
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"
exec(compile(APP.read_text("utf-8"), str(APP), "exec"), {"__name__": "__main__", "__file__": str(APP)})  # noqa: S102
