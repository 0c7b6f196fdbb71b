"""Rebuild the shipped runs in ``trained/`` from ``trained/manifest.json``.

The manifest lists, for each shipped run, its id, its full config, the
checksum of the dataset it was trained on, and the numbers it reached
(validation ELBO, IWAE-k, and the metrics on a small fixed "check batch"
that the test suite re-evaluates without the dataset). ``pretrain`` retrains
each run from its config and seed, checks the dataset checksum, and writes
the run folder plus ``probe.safetensors`` (up to 2,000 validation images with
labels, so that the app can draw a latent scatter of MNIST models offline).

    python -m explorer pretrain                 # everything (MNIST ones need --mnist or shared/data)
    python -m explorer pretrain --only digits-vae-z2-b1
    python -m explorer pretrain --only sweep-digits-b0 --measure-only   # re-measure that sweep

    # the shipped sweeps' extra training seeds (weights not shipped: only their measures)
    python -m explorer pretrain --sweep-seeds 1 2 3 4 --sweep mnist --seeds-dir ../sweep-seeds --threads 1
    python -m explorer pretrain --sweep-seeds 1 2 3 4 --sweep digits --seeds-dir ../sweep-seeds --threads 1
    python -m explorer pretrain --measure-only --only sweep-mnist-b1 sweep-digits-b1 --seeds-dir ../sweep-seeds

Runs with a ``"sweep"`` key form the shipped β sweeps. Once a sweep's runs are rebuilt,
the sweep is measured (:func:`explorer.analysis.beta.report.measure_folders`: sharpness,
sample quality, the IWAE gap, memorisation, validation curves and the pictures) and the
result is written to ``trained/sweeps/<name>/``, so the β lab draws it without loading a
model; the sweep's report rows are copied into the manifest under ``"sweeps"``. The
shipped measures average several training seeds: a sweep is measured with every finished
extra-seed run in ``--seeds-dir``, and measuring it without them (which would replace the
shipped numbers with seed 0's alone) is refused unless ``--seeds-dir none`` says so.

Factor sweeps (the disentanglement lab: β × seeds on data with known factors) are listed
under ``"factor_sweeps"``: ``python -m explorer pretrain --factor-sweep shapes`` trains
each of their runs into ``trained/sweeps/<name>/runs/`` (not shipped: git ignores it) and
measures them (:mod:`explorer.analysis.disentangle.lab`) into ``trained/sweeps/<name>/``.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import sys
import time
from pathlib import Path

import torch

from . import data, objective, paths, store
from .analysis.beta import report as beta_report
from .analysis.disentangle import lab as factor_lab
from .config import RunConfig
from .training import fit

MANIFEST = store.SHIPPED_ROOT / "manifest.json"
DEFAULT_MNIST = paths.PROJECT_ROOT.parent / "shared" / "data" / "mnist.npz"
CHECK_BATCH = 64          # images in the fixed check batch
CHECK_SEED = 0
PROBE_N = 2000


def read_manifest(path: Path = MANIFEST) -> dict:
    return json.loads(Path(path).read_text("utf-8"))


def check_batch_metrics(model, x: torch.Tensor, *, iwae_k: int = 50) -> dict:
    """Recon, KL, ELBO (and IWAE-k for a VAE) on a fixed batch with a fixed seed: the
    numbers the test suite reproduces from the shipped weights and probe file."""
    gen = torch.Generator(device=model.device).manual_seed(CHECK_SEED)
    x = x.to(model.device)
    t = objective.per_image_terms(model, x, samples=1, generator=gen)
    out = {k: float(t[k].double().mean()) for k in ("recon", "kl", "elbo")}
    if model.kind == "vae":
        out["iwae"] = float(objective.iwae_bound(model, x, iwae_k, generator=gen).double().mean())
        out["iwae_k"] = iwae_k
    return out


def _config(entry: dict, mnist: str | None) -> RunConfig:
    cfg = RunConfig.from_dict(entry["config"])
    if cfg.data.name in ("mnist", "fashion-mnist"):
        cfg.data.path = str(mnist or DEFAULT_MNIST)
    return cfg


def pretrain(only: list[str] | None = None, mnist: str | None = None, threads: int = 2,
             iwae_k: int = 1000, manifest_path: Path = MANIFEST, out_root: Path | None = None,
             measure_only: bool = False, seeds_dir: Path | None = None) -> int:
    torch.set_num_threads(threads)
    manifest = read_manifest(manifest_path)
    out_root = Path(out_root or store.SHIPPED_ROOT)
    sweeps = {e["sweep"] for e in manifest["runs"] if e.get("sweep") and (not only or e["id"] in only)}
    for name in sweeps:
        check_seeds_dir(manifest, name, seeds_dir)      # before any training
    for entry in manifest["runs"] if not measure_only else []:
        run_id = store.check_run_id(entry["id"])
        if only and run_id not in only:
            continue
        cfg = _config(entry, mnist)
        print(f"== {run_id}: loading {cfg.data.name}", flush=True)
        ds = data.load(cfg.data)
        if entry.get("dataset_checksum") and entry["dataset_checksum"] != ds.checksum:
            print(f"error: {run_id}: dataset checksum {ds.checksum[:12]}… differs from the manifest's "
                  f"{entry['dataset_checksum'][:12]}…", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        run_dir = out_root / run_id
        k = entry.get("iwae_k", iwae_k) if cfg.model.kind == "vae" else 0
        _, _, summary = fit(cfg, ds, run_dir, iwae_k=k)
        finish_entry(entry, run_dir, ds, summary, time.perf_counter() - t0)
        v = summary["val"]
        print(f"   val {_bound_name(cfg)} {v['elbo']:.2f} recon {v['recon']:.2f} KL {v['kl']:.2f} "
              f"AU {v['active_units']}" + (f" IWAE-{k} {v['iwae']:.2f}" if "iwae" in v else ""),
              flush=True)
        _update_entry(manifest_path, entry)
    for name in sorted(sweeps):
        measure_sweep(name, mnist=mnist, manifest_path=manifest_path, out_root=out_root,
                      seeds_dir=seeds_dir)
    return 0


SEED_VAL_N = 1000      # validation images an extra seed's run checks at each epoch end


def seed_run_id(run_id: str, seed: int) -> str:
    """The folder name of shipped run ``run_id`` trained again with training seed ``seed``."""
    return store.check_run_id(f"{run_id}-s{int(seed)}")


def seed_config(entry: dict, seed: int, mnist: str | None) -> RunConfig:
    """A shipped sweep run's config with another training seed (model initialisation,
    reparameterisation noise and batch order); the data, split and subset stay the same."""
    cfg = _config(entry, mnist)
    return cfg.replace(train={"seed": int(seed)}, name=f"{cfg.name} · seed {int(seed)}")


def seed_validation(ds, n: int):
    """``ds`` with its validation split cut to a seeded random subset of ``n`` images (the
    first ``n`` of the permutation the sweep's measures draw their probe from). Validating
    on all 10,000 MNIST test images at each epoch end is ~75% of a sweep run's time; the
    training itself does not depend on it (validation has its own generator)."""
    if n >= len(ds.x_val):
        return ds
    keep = torch.as_tensor(beta_report.probe_indices(len(ds.x_val), n, "val"))
    return dataclasses.replace(
        ds, x_val=ds.x_val[keep].contiguous(),
        y_val=None if ds.y_val is None else ds.y_val[keep].contiguous(),
        x_val_grey=None if ds.x_val_grey is None else ds.x_val_grey[keep].contiguous())


def train_sweep_seeds(name: str, seeds: list[int], seeds_dir: Path, *, mnist: str | None = None,
                      val_n: int = SEED_VAL_N, manifest_path: Path = MANIFEST) -> int:
    """Train every run of shipped sweep ``name`` again with each training seed in ``seeds``
    into ``seeds_dir/<run id>-s<seed>/`` (a finished folder is kept, so the command can be
    run again after an interruption). The seed-0 runs in ``trained/`` are not touched."""
    entries = [e for e in read_manifest(manifest_path)["runs"] if e.get("sweep") == name]
    if not entries:
        print(f"error: no shipped sweep named {name!r}", file=sys.stderr)
        return 2
    seeds_dir = Path(seeds_dir)
    ds = None
    for seed in seeds:
        for entry in sorted(entries, key=lambda e: e["config"]["train"]["beta"]):
            if int(seed) == int(entry["config"]["train"]["seed"]):
                continue                                   # that is the shipped run itself
            run_dir = seeds_dir / seed_run_id(entry["id"], seed)
            if (store.read_summary(run_dir) or {}).get("status") == "finished":
                print(f"== {run_dir.name}: already trained", flush=True)
                continue
            cfg = seed_config(entry, seed, mnist)
            if ds is None:
                ds = data.load(cfg.data)
                if entry.get("dataset_checksum") and entry["dataset_checksum"] != ds.checksum:
                    print(f"error: {name}: dataset checksum {ds.checksum[:12]}… differs from the "
                          f"manifest's", file=sys.stderr)
                    return 2
                ds = seed_validation(ds, val_n)
            print(f"== {run_dir.name}: training", flush=True)
            t0 = time.perf_counter()
            _, _, summary = fit(cfg, ds, run_dir)
            print(f"   {summary['status']} in {time.perf_counter() - t0:.0f} s: val "
                  f"{_bound_name(cfg)} {summary['val']['elbo']:.2f}", flush=True)
    return 0


def _bound_name(cfg: RunConfig) -> str:
    """What a run's recon + KL is called: an autoencoder has no ELBO (its KL is 0 and its
    recon term is its loss, not a bound on log p(x))."""
    return "ELBO" if cfg.model.kind == "vae" else "loss"


def finish_entry(entry: dict, run_dir: Path, ds, summary: dict, elapsed_s: float) -> None:
    """After a shipped run is trained into ``run_dir``: store its probe images and record
    in ``entry`` the dataset checksum, the final numbers and the check batch's metrics."""
    n = min(int(entry.get("probe_n", PROBE_N)), len(ds.x_val))   # "probe_n": a smaller probe
    probe_x = ds.x_val[:n]
    probe_y = ds.y_val[:n] if ds.y_val is not None else None
    store.save_probe(run_dir, probe_x, probe_y, ds.class_names, grey=ds.val_display(n))
    model = store.load_model(run_dir, device="cpu")
    entry["dataset_checksum"] = ds.checksum
    entry["final"] = {"val": summary["val"], "train": summary["train"],
                      "gap_elbo": summary["gap_elbo"], "steps": summary["steps"],
                      "elapsed_s": round(elapsed_s, 1)}
    entry["check_batch"] = check_batch_metrics(model, probe_x[:CHECK_BATCH])


def seed_folders(name: str, seeds_dir: Path | None, manifest_path: Path = MANIFEST,
                 out_root: Path | None = None) -> dict[float, dict[int, Path]]:
    """β -> {training seed: run folder} of shipped sweep ``name``: its shipped runs, and the
    finished extra-seed runs in ``seeds_dir`` (:func:`train_sweep_seeds`)."""
    out_root = Path(out_root or store.SHIPPED_ROOT)
    out: dict[float, dict[int, Path]] = {}
    for e in read_manifest(manifest_path)["runs"]:
        if e.get("sweep") != name:
            continue
        beta, seed = float(e["config"]["train"]["beta"]), int(e["config"]["train"]["seed"])
        out.setdefault(beta, {})[seed] = out_root / e["id"]
        for folder in sorted(Path(seeds_dir).glob(f"{e['id']}-s*")) if seeds_dir else []:
            summary = store.read_summary(folder) or {}
            if summary.get("status") == "finished":
                out[beta][int(store.read_config(folder).train.seed)] = folder
    return out


def check_seeds_dir(manifest: dict, name: str, seeds_dir) -> None:
    """Refuse to measure sweep ``name`` without its extra seeds when its shipped measures
    average several (that would replace them with seed 0's alone)."""
    rows = ((manifest.get("sweeps") or {}).get(name) or {})
    rows = rows.get("rows", []) if isinstance(rows, dict) else rows
    shipped = max((int(r.get("seeds", 1)) for r in rows), default=1)
    if seeds_dir is None and shipped > 1:
        raise ValueError(f"sweep {name}: its shipped measures average {shipped} training seeds; give "
                         f"--seeds-dir with their runs (made by --sweep-seeds), or --seeds-dir none to "
                         f"measure seed 0 alone")


def measure_sweep(name: str, *, mnist: str | None = None, manifest_path: Path = MANIFEST,
                  out_root: Path | None = None, seeds_dir: Path | None = None) -> dict:
    """Measure the shipped sweep ``name`` from its run folders (and its extra seeds' in
    ``seeds_dir``) and its dataset; write ``trained/sweeps/<name>/`` and the report rows
    into the manifest. Returns the report."""
    out_root = Path(out_root or store.SHIPPED_ROOT)
    manifest = read_manifest(manifest_path)
    entries = [e for e in manifest["runs"] if e.get("sweep") == name]
    check_seeds_dir(manifest, name, seeds_dir)
    seeds_dir = None if str(seeds_dir).lower() == "none" else seeds_dir
    cfg = _config(entries[0], mnist)
    ds = data.load(cfg.data)
    pool = data.load(beta_report.pool_config(cfg.data))
    runs = seed_folders(name, seeds_dir, manifest_path, out_root)
    seeds = sorted({s for by_seed in runs.values() for s in by_seed})
    print(f"== sweep {name}: measuring {sum(len(v) for v in runs.values())} runs "
          f"(seeds {', '.join(map(str, seeds))})", flush=True)
    t0 = time.perf_counter()
    about = {"measured_on": {"n": min(beta_report.N_MEASURE, len(ds.x_train), len(ds.x_val)),
                             "iwae_k": beta_report.IWAE_K, "n_samples": beta_report.N_SAMPLES,
                             "n_draws": beta_report.N_DRAWS, "probe_seed": beta_report.PROBE_SEED,
                             "dataset_checksum": ds.checksum},
             "seeds": seeds,
             "seeds_command": SEEDS_COMMAND.format(name=name, seeds=" ".join(str(x) for x in seeds if x)),
             "config": {k: v for k, v in entries[0]["config"].items() if k != "name"}}
    measured = beta_report.measure_folders(
        runs, ds, name=name, pool=(pool.x_train, pool.y_train), about=about,
        on_run=lambda b, s, m: print(
            f"   β={b:g} seed {s}: recon sharpness {m['recon_sharpness']:.3f} sample quality "
            f"{m['sample_quality'] if m['sample_quality'] is None else round(m['sample_quality'], 3)} "
            f"IWAE gap {m['gap_iwae']:.2f} ± {m['gap_iwae_se']:.2f}", flush=True))
    measured.about["elapsed_s"] = round(time.perf_counter() - t0, 1)
    beta_report.save(out_root / "sweeps" / store.check_run_id(name), measured)
    rep = beta_report.report(name, measured)
    _update_sweep(manifest_path, rep)
    return rep


SEEDS_COMMAND = ("python -m explorer pretrain --sweep-seeds {seeds} --sweep {name} --seeds-dir DIR "
                 "--threads 1; then python -m explorer pretrain --measure-only "
                 "--only sweep-{name}-b1 --seeds-dir DIR")


def _update_sweep(manifest_path: Path, rep: dict) -> None:
    with open(Path(manifest_path).with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_manifest(manifest_path)
        current.setdefault("sweeps", {})[rep["sweep"]] = {k: rep[k] for k in ("rows", "sweet_spot", "null")}
        store.atomic_write_text(manifest_path, store.dumps(current))


def _update_entry(manifest_path: Path, entry: dict) -> None:
    """Write one run's results into the manifest, re-reading it under a lock so that
    several ``pretrain --only`` processes can run side by side."""
    with open(Path(manifest_path).with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_manifest(manifest_path)
        current["runs"] = [entry if e["id"] == entry["id"] else e for e in current["runs"]]
        store.atomic_write_text(manifest_path, store.dumps(current))


# ================================================================ factor sweeps

def factor_sweep_folder(name: str, out_root: Path | None = None) -> Path:
    return Path(out_root or store.SHIPPED_ROOT) / "sweeps" / store.check_run_id(name)


def pretrain_factor_sweep(name: str, *, threads: int = 1, measure_only: bool = False,
                          manifest_path: Path = MANIFEST, out_root: Path | None = None) -> int:
    """Train (unless ``measure_only``) and measure the factor sweep ``name`` of the manifest;
    write its measures and pictures into ``trained/sweeps/<name>/`` and its report rows into
    the manifest's entry."""
    torch.set_num_threads(threads)
    spec = (read_manifest(manifest_path).get("factor_sweeps") or {}).get(name)
    if spec is None:
        print(f"error: no factor sweep {name!r} in {manifest_path}", file=sys.stderr)
        return 2
    folder = factor_sweep_folder(name, out_root)
    runs = factor_lab.runs_of(name, spec)
    for rid, beta, seed, cfg in runs if not measure_only else []:
        t0 = time.perf_counter()
        print(f"== {rid}: β={beta:g} seed {seed}", flush=True)
        _, _, summary = fit(cfg, data.load(cfg.data), folder / "runs" / rid)
        v = summary["val"]
        print(f"   {time.perf_counter() - t0:.0f} s: val recon {v['recon']:.2f} KL {v['kl']:.2f} "
              f"AU {v['active_units']}", flush=True)
    t0 = time.perf_counter()
    measured = factor_lab.measure_folders({(beta, seed): folder / "runs" / rid for rid, beta, seed, _ in runs},
                                   on_run=lambda key, m: print(
                                       f"   β={key[0]:g} seed {key[1]}: MIG {m['mig']:.3f} "
                                       f"DCI {m['dci']:.3f} AU {m['active_units']}", flush=True))
    rep = factor_lab.save(folder, name, measured, about={"config": spec["config"], "betas": spec["betas"],
                                                  "seeds": spec["seeds"],
                                                  "elapsed_s": round(time.perf_counter() - t0, 1)})
    _update_factor_sweep(manifest_path, name, rep["rows"])
    return 0


def _update_factor_sweep(manifest_path: Path, name: str, rows: list[dict]) -> None:
    import fcntl
    with open(Path(manifest_path).with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_manifest(manifest_path)
        current["factor_sweeps"][name]["rows"] = rows
        store.atomic_write_text(manifest_path, store.dumps(current))

