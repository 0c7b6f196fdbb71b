"""The one build step pyproject.toml cannot say: the wheel carries the app's files.

``streamlit run app.py`` serves ``app.py``, ``home.py`` and ``pages/`` from the repository's
root, with ``.streamlit/config.toml`` beside them and the shipped runs in ``trained/``. They
stay there (the README's two commands use them as they are); a build copies them into the
package as ``explorer/_app/``, where the installed ``latent-explorer app`` runs them and
``explorer.paths`` finds ``trained/`` (``paths.INSTALLED``). Metadata: pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
APP_FILES = ("app.py", "home.py", "pages", ".streamlit/config.toml", "trained")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".tmp-*", "manifest.lock")


class BuildWithApp(build_py):
    """build_py, then the app's files into ``<build>/explorer/_app``."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "explorer" / "_app"
        for name in APP_FILES:
            src, dst = ROOT / name, target / name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True, ignore=SKIP)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildWithApp})
