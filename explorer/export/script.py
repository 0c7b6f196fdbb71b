"""A run as one readable, runnable PyTorch file: ``python -m explorer export RUN --script train_vae.py``.

The file is cut from one template, ``train_vae.py.tmpl`` beside this module, keeping only
what the run uses (its dataset's loader, its body, its likelihood, its β schedule), so a
digits VAE reads in about 150 lines, top to bottom, like pytorch/examples' ``vae/main.py``.
It imports torch, numpy and what the dataset needs (scikit-learn for digits and the toy
sets), never ``explorer``; its argparse defaults are the run's settings.

It reproduces the app's numbers, not only its method: the same data split and subset
streams, the same order of creating the layers after ``torch.manual_seed`` (so the same
initial weights), the same generators for noise (seed + 1) and batch order (seed + 2) and
the same evaluation (seed + 12345). Two differences are left on purpose, for readability:
the optimiser is plain ``torch.optim.Adam`` (the app uses its fused kernel: the same
update, rounded differently), and the live β/lr changes made during a run are not
replayed (the script follows the configuration; the file's header lists the changes).

Template syntax: a line ``#[cond`` opens a block kept only when ``cond`` holds (``a|b``:
either; ``!a``: not), a line ``#]`` closes it; ``{{NAME}}`` is replaced by a value.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .. import store
from ..config import DATASETS_TOY, RunConfig
from ..data.mnist import _REMOTES, IDX_FILES

TEMPLATE = Path(__file__).with_name("train_vae.py.tmpl")
_PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")
_TOY_DOCS = {"moons": "scikit-learn's two moons", "circles": "scikit-learn's two circles",
             "swissroll": "scikit-learn's swiss roll (x and z; labels: six segments)",
             "pinwheel": "The 5-arm pinwheel of Johnson et al. (2016)",
             "gaussians": "Eight Gaussians on the unit circle"}


class ScriptError(ValueError):
    """The run cannot be written as a script; the message says why."""


def flags_of(config: RunConfig) -> set[str]:
    """The template's conditions that hold for ``config``."""
    d, m, t = config.data, config.model, config.train
    group = ("digits" if d.name == "digits" else "mnist" if d.name in _REMOTES
             else "toy" if d.name in DATASETS_TOY else "file")
    flags = {group, d.name, m.kind, m.body, m.likelihood, t.beta_schedule}
    flags |= {name for name, on in (("learn_sigma", m.learn_sigma), ("subset", d.subset is not None),
                                    ("clip", t.grad_clip > 0), ("dynamic", d.binarize == "dynamic"),
                                    ("threshold", d.binarize == "threshold")) if on}
    return flags


def _holds(cond: str, flags: set[str]) -> bool:
    return any((c[1:] not in flags) if c.startswith("!") else (c in flags) for c in cond.split("|"))


def cut(template: str, flags: set[str]) -> str:
    """Keep the template's blocks whose condition holds, drop the others and the markers."""
    out, keep = [], [True]
    for line in template.splitlines():
        s = line.strip()
        if s.startswith("#[") and len(s) > 2:
            keep.append(keep[-1] and _holds(s[2:], flags))
        elif s == "#]":
            if len(keep) == 1:
                raise ScriptError("the script template closes a block it never opened")
            keep.pop()
        elif keep[-1]:
            out.append(line)
    if len(keep) != 1:
        raise ScriptError("the script template leaves a block open")
    text = "\n".join(out) + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)          # removed blocks leave no gaps of 3+ lines


_USED = {   # the settings the script reads, by section (the others do not change this run)
    "data": ("name", "path", "split_seed", "val_fraction", "binarize"),
    "model": ("kind", "body", "hidden", "latent_dim", "likelihood", "sigma", "learn_sigma"),
    "train": ("epochs", "batch_size", "lr", "seed", "beta", "beta_schedule", "mc_samples", "grad_clip"),
}
_USED_IF = {("data", "subset"): "subset", ("data", "threshold"): "threshold", ("data", "n_points"): "toy",
            ("data", "noise"): "toy", ("train", "warmup_steps"): "warmup", ("train", "cycle_steps"): "cyclical",
            ("train", "cycle_ratio"): "cyclical", ("train", "capacity_max"): "capacity",
            ("train", "capacity_steps"): "capacity", ("train", "free_bits"): "free_bits"}


def config_literal(config: RunConfig, width: int = 96) -> str:
    """The run's settings that the script uses, as a Python dict literal, one section a
    line (wrapped). The app reads it back as config.json: missing keys take their defaults."""
    flags, d = flags_of(config), config.to_dict()
    lines = ["{  # the run's settings (config.json) that this script uses", f'    "name": {_lit(d["name"])},']
    for section, keys in _USED.items():
        keys = list(keys) + [k for (sec, k), flag in _USED_IF.items() if sec == section and flag in flags]
        items = [f"{_lit(k)}: {_lit(d[section][k])}" for k in keys]
        line = f"    {_lit(section)}: {{"
        for i, item in enumerate(items):
            piece = item + ("}," if i == len(items) - 1 else ", ")
            if len(line) + len(piece.rstrip()) > width:
                lines.append(line.rstrip())
                line = " " * 8
            line += piece
        lines.append(line)
    return "\n".join(lines + ["}"])


def _lit(v) -> str:
    """A Python literal; strings written as JSON writes them (also valid Python)."""
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else repr(v)


def _values(config: RunConfig, shape: tuple[int, ...], run_id: str, file_name: str, events) -> dict[str, str]:
    d, m, t = config.data, config.model, config.train
    vae, image = m.kind == "vae", len(shape) == 3
    what = {"digits": "8x8 digits", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(
        d.name, f"the {d.name} toy set" if d.is_toy else "your own data")
    title = f"{'A VAE' if vae else 'An autoencoder'} on {what}"
    needs = ("torch, numpy and scikit-learn" if d.name in ("digits", "moons", "circles", "swissroll")
             else "torch and numpy")
    changes = "".join(f"\n    step {int(e['step'])}: {e['param']} -> {e['value']:g}" for e in events
                      if e.get("param") in ("beta", "lr"))
    if changes:
        changes = ("\n\nDuring the run β or the learning rate were changed live, as below; this script "
                   "follows\nthe configuration instead:" + changes)
    remote = _REMOTES.get(d.name)
    dynamic = d.binarize == "dynamic"
    gen_doc = ", ".join(w for w, on in (("reparameterisation" + ("" if dynamic else " noise"), vae),
                                        ("binarisation", dynamic)) if on) or "unused"
    return {
        "TITLE": title, "CHANGES": changes, "RUN_ID": run_id, "FILE_NAME": file_name,
        "LOSS_EQ": "eq. 14, recon + β·KL" if vae else "eq. 1",
        "UNITS": "pixels" if image else "coordinates", "NEEDS": needs,
        "CONFIG": config_literal(config), "SHAPE": repr(tuple(int(s) for s in shape)),
        "DATA_NAME": d.name,
        "DATA_DEFAULT": f"~/.cache/latent-explorer/{d.name}" if remote else "data.npz",
        "DATA_HELP": ("the .npz of the splits or a folder of IDX files (downloaded if missing)"
                      if remote else "your .npz or .npy file"),
        "MNIST_URL": remote.base_url if remote else "",
        "MNIST_SHA": ("{\n" + "".join(f'    "{n}.gz": "{remote.sha256[n + ".gz"]}",\n' for n in IDX_FILES) + "}"
                      if remote else "{}"),
        "TOY_DOC": _TOY_DOCS.get(d.name, ""),
        "MODEL_CLASS": "VAE" if vae else "Autoencoder",
        "MODEL_DOC": ("Encoder -> (mu, logvar) of q(z|x) = N(mu, exp(logvar)); decoder -> p(x|z)."
                      if vae else "Encoder -> the code z (a point); decoder -> p(x|z)."),
        "DECODE_DOC": ("logits of the Bernoulli p(x|z)" if m.likelihood == "bernoulli"
                       else "the mean of the Gaussian p(x|z), in [0, 1]"),
        "SAMPLES": str(t.mc_samples), "GEN_DOC": gen_doc,
        "BETA_ARG": "args.beta" if vae else "0.0",
        "BETA_SAVE": ", beta=args.beta" if vae else "",
        "VAL_LINE": ("val ELBO {ev['elbo']:.3f} (recon {ev['recon']:.3f}, KL {ev['kl']:.3f})" if vae
                     else "val recon {ev['recon']:.3f} (an autoencoder has no ELBO)"),
    }


def portable(config: RunConfig, keep_path: bool = False) -> RunConfig:
    """The config with the data path the script reads. ``keep_path`` (an export on the
    person's own machine: the CLI, the API) keeps it, made absolute; otherwise (a download
    from the app's server, whose paths are not the visitor's) MNIST's folder is dropped (the
    script's cache folder is used) and an own data file keeps only its name."""
    path = config.data.path
    if not path:
        return config
    if keep_path:
        return config.replace(data={"path": str(Path(path).expanduser().resolve())})
    return config.replace(data={"path": None if config.data.name in _REMOTES else Path(path).name})


def render(config: RunConfig, data_shape: tuple[int, ...], *, run_id: str = "",
           file_name: str = "train_vae.py", events=(), keep_path: bool = False) -> str:
    """The script for ``config`` (items of ``data_shape``); checked to compile."""
    if config.data.name == "shapes":
        raise ScriptError("a run on the generated shapes data cannot be written as a stand-alone script: "
                          "its images are made by this app (explorer.data.shapes); train it with "
                          "`python -m explorer train --dataset shapes` instead")
    config = portable(RunConfig.from_dict(config.to_dict()), keep_path)
    values = _values(config, tuple(data_shape), run_id or "unnamed", file_name, list(events or []))
    text = cut(TEMPLATE.read_text("utf-8"), flags_of(config))

    def sub(mo):
        if mo.group(1) not in values:
            raise ScriptError(f"the script template names an unknown value {mo.group(1)}")
        return values[mo.group(1)]
    text = _PLACEHOLDER.sub(sub, text)
    compile(text, file_name, "exec")
    return text


def script_for_run(run_dir: Path, file_name: str = "train_vae.py", *, keep_path: bool = False) -> str:
    """The script that reproduces the run in ``run_dir`` (``keep_path``: see :func:`portable`)."""
    if store.onnx_model_only(Path(run_dir)):
        raise ScriptError("this model was trained in your own loop (explorer.track): its code is yours, so "
                          "there is no script to write; its ONNX files (--onnx) run in onnxruntime")
    try:
        run = store.open_run(Path(run_dir))
        shape = store.data_shape_of(run.config, run.summary)
    except store.StoreError as e:
        raise ScriptError(f"cannot export: {e}") from None
    return render(run.config, shape, run_id=run.run_id, file_name=file_name,
                  events=run.summary.get("events") or [], keep_path=keep_path)
