"""The installable package: a wheel built from a copy of the sources (as git lists them),
installed into a fresh venv, gives a `latent-explorer` command that lists the subcommands,
finds the shipped runs it carries, exports, and starts the web app.

The venv sees this machine's site-packages (``--system-site-packages``) so that installing
needs no download (``pip install --no-index``: the wheel's pinned dependencies must already
be satisfied, as after ``pip install -r requirements.txt``); its own site-packages holds the
package alone, and the commands run outside the checkout, so nothing comes from the sources."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, free_port
from explorer import cli

pytestmark = pytest.mark.slow
pytest.importorskip("build")


def _run(args, cwd, env=None, timeout=300):
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{args}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("package")
    src = tmp / "src"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"), str(src)],
         cwd=tmp)
    (wheel,) = (tmp / "dist").glob("latent_explorer-*.whl")
    # no pip of its own in the venv: the machine's pip installs into it (a venv's bundled
    # setuptools would otherwise shadow the newer one torch needs)
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(tmp / "venv")], cwd=tmp)
    py = tmp / "venv" / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "--no-index", "--no-cache-dir", "--quiet", str(wheel)], cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LATENT_EXPLORER_RUNS")}
    return {"py": py, "bin": tmp / "venv" / "bin" / "latent-explorer", "work": work, "env": env}


def test_help_lists_the_subcommands(venv):
    out = _run([str(venv["bin"]), "--help"], venv["work"], venv["env"]).stdout
    here = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert {"train", "eval", "pretrain", "export"} <= here
    for name in here | {"app", "sweep"}:
        assert name in out, name
    assert out.startswith("usage: latent-explorer")
    if "sweep" not in here:                         # another version's subcommand: a message
        res = subprocess.run([str(venv["bin"]), "sweep"], cwd=venv["work"], env=venv["env"],
                             capture_output=True, text=True)
        assert res.returncode == 2 and "not in this version" in res.stderr and "Traceback" not in res.stderr


def test_installed_package_carries_the_app_and_exports(venv):
    probe = ("import json, explorer, explorer.paths as p, explorer.store as s; print(json.dumps({"
             "'file': explorer.__file__, 'installed': p.INSTALLED, 'shipped': str(p.SHIPPED_ROOT), "
             "'runs': str(s.runs_root())}))")
    info = json.loads(_run([str(venv["py"]), "-c", probe], venv["work"], venv["env"]).stdout)
    site = Path(venv["py"]).parent.parent
    assert Path(info["file"]).is_relative_to(site) and info["installed"]
    shipped = Path(info["shipped"])
    assert (shipped / "manifest.json").is_file()
    assert (shipped / "digits-vae-z2-b1" / "weights.safetensors").is_file()
    app = shipped.parent
    for name in ("app.py", "home.py", "pages/5_Runs.py", ".streamlit/config.toml"):
        assert (app / name).is_file(), name
    assert Path(info["runs"]) == venv["work"] / "runs"      # users' runs: in the current folder
    _run([str(venv["bin"]), "export", "digits-vae-z2-b1", "--script", "train_vae.py"], venv["work"], venv["env"])
    help_text = _run([str(venv["py"]), "train_vae.py", "--help"], venv["work"], venv["env"]).stdout
    assert "--epochs" in help_text and "--seed" in help_text


def test_latent_explorer_app_serves_the_installed_app(venv, tmp_path):
    port = free_port()
    env = {**venv["env"], "LATENT_EXPLORER_RUNS": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "app.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([str(venv["bin"]), "app", "--server.port", str(port), "--server.address",
                                 "127.0.0.1"], cwd=venv["work"], env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        t_end, healthy = time.time() + 90, False
        while time.time() < t_end and not healthy and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    healthy = r.status == 200
            except OSError:
                time.sleep(0.3)
        assert healthy, log.read_text()[-3000:]
        while time.time() < t_end and "warmed up" not in log.read_text():   # app.py's lifespan ran
            time.sleep(0.3)
        text = log.read_text()
        assert "Latent Explorer warmed up" in text and "Traceback" not in text, text[-3000:]
    finally:
        proc.terminate()                     # `app` became Streamlit itself (exec): it stops
        proc.wait(20)
