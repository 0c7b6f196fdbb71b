"""The ``latent-explorer`` command that ``pip install .`` installs (see pyproject.toml).

    latent-explorer app [STREAMLIT OPTIONS]     # the web app: streamlit run on the installed app.py
    latent-explorer train|eval|pretrain|export|sweep ...   # as python -m explorer ...

``app`` runs Streamlit on the app files the package carries (``explorer/_app``, copied
there by setup.py; from a source checkout, the checkout's own ``app.py``), whose
``.streamlit/config.toml`` Streamlit reads beside the script. Everything else is
:func:`explorer.cli.main`. A subcommand this version lacks gets a message, not a traceback.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from . import cli, paths

PROG = "latent-explorer"
PLANNED = {"sweep": "run a β sweep on the β lab page"}   # subcommands some versions lack


def _parser() -> argparse.ArgumentParser:
    """python -m explorer's parser, renamed, with ``app`` and any planned subcommand added."""
    p = cli.build_parser()
    p.prog, p.description = PROG, "Latent Explorer: train small VAEs and watch them learn."
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    for sp in sub.choices.values():
        sp.prog = sp.prog.replace("python -m explorer", PROG)
    a = sub.add_parser("app", help="start the web app (streamlit run on the installed app.py)",
                       add_help=False)
    a.set_defaults(fn=None)
    for name, why in PLANNED.items():
        if name not in sub.choices:
            sub.add_parser(name, help="(not in this version)", add_help=False).set_defaults(fn=None)
    return p


def app_script():
    return paths.PROJECT_ROOT / "app.py"


def run_app(args: list[str]) -> int:
    """``streamlit run <the app's app.py> ARGS``, in this folder (runs go to ./runs, unless
    LATENT_EXPLORER_RUNS says otherwise)."""
    script = app_script()
    if not script.is_file():
        print(f"error: {script} is missing: reinstall the package (pip install .)", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "streamlit", "run", str(script), *args]
    if os.name == "posix":                # become Streamlit: signals reach the server itself
        os.execv(sys.executable, command)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


APP_HELP = f"""usage: {PROG} app [STREAMLIT OPTIONS]

Start Latent Explorer's web app on this machine (streamlit run on the app the package carries),
at http://localhost:8501 unless the options say otherwise. Users' runs go to ./runs
(LATENT_EXPLORER_RUNS moves them); the shipped models open at once.

options:
  -h, --help               show this help message and exit
  any other option         handed to `streamlit run`, e.g.
                             --server.port 8502        another port
                             --server.address 0.0.0.0  serve other machines (a classroom)
                             --server.headless true    do not open a browser
                           (`streamlit run --help` lists them all)

settings (environment variables; the README's "Settings" table lists them all):
  LATENT_EXPLORER_RUNS       folder of users' runs (default ./runs)
  LATENT_EXPLORER_MAX_JOBS   training jobs at once (default: the number of cores)
  LATENT_EXPLORER_DEVICE     auto, cpu, cuda or cuda:N (default auto)
  LATENT_EXPLORER_DATA       MNIST / Fashion-MNIST cache (default ~/.cache/latent-explorer)
  LATENT_EXPLORER_ENGINE     local or ray (a Ray cluster: RAY_ADDRESS)

The same runs from Python: import explorer; explorer.open(RUN).explore()  (docs/API.md)
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["app"]:
        if any(a in ("-h", "--help") for a in argv[1:]):
            print(APP_HELP, end="")
            return 0
        return run_app(argv[1:])
    parser = _parser()
    ns, _ = parser.parse_known_args(argv)     # --help and usage errors, under this command's name
    if ns.cmd in PLANNED and ns.fn is None:
        print(f"{PROG} {ns.cmd}: not in this version; {PLANNED[ns.cmd]}", file=sys.stderr)
        return 2
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
