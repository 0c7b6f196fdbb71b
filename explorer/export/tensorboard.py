"""A run as TensorBoard event files: ``python -m explorer export RUN --tensorboard DIR``
and the Runs page's button.

What is written, for ``tensorboard --logdir DIR`` (several runs exported into one DIR
compare side by side)::

    DIR/<run id>/training/     per logged step: recon, kl, beta_kl, total (the app's four loss
                               terms, per batch), elbo, grad_norm, beta, lr, epoch, images_seen;
                               the β and lr changes (changes/beta, changes/lr, and as text);
                               config.json as text
    DIR/<run id>/validation/   at each epoch end: recon, kl, beta_kl, total, elbo, active_units;
                               images: reconstructions (originals above), prior_samples
                               (decoded z ~ N(0, I)); the embedding projector: the probe set's latent means
                               with their labels and an image sprite
    DIR/<run id>/hparams/      the HParams dashboard: the run's settings (dataset, model, β, lr...)
                               and its final validation numbers, to compare exported runs

The scalar tags are the app's term names (``recon``, ``kl``, ``beta_kl``, ``total``) and
the same in both runs, so TensorBoard draws training and validation in one chart per term,
as the Train page's panels do. Values are per image, in nats, exactly the numbers of
``metrics.csv``; the validation penalty and total are derived as the Train page derives them
(:func:`explorer.figures.training.val_penalty`): β·KL, or for a capacity schedule
β·|KL − C| with C at that step; for free bits β·Σ_d max(KL_d, λ) needs the per-dimension
validation KL, which metrics.csv does not keep, so those two are not written.

Images per epoch: a run folder keeps only its final weights. ``replay=True`` (the CLI's
default when the run's data are on this machine) re-trains the run from its seed, applying
its recorded β/lr changes at their steps, and draws the images at every epoch end; the
replayed validation ELBO is compared with the recorded one and the difference written
beside the images. Without a replay (the Runs page: pages never train) the images are
the final model's, at the run's last step, drawn from the run's stored probe images or, when
it has none, from its data when they are on this machine.

The writer is tensorboardX (it needs only numpy and protobuf, which Streamlit already
brings); it is imported when an export starts.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import data as data_mod
from .. import store
from ..figures.common import image_grid, upscale
from ..figures.latent import image_pairs
from ..figures.training import val_penalty
from ..training import LoopHooks, Trainer, run_loop
from .downloads import zip_bytes
from .onnx_model import load_any_model

TRAINING, VALIDATION, HPARAMS = "training", "validation", "hparams"
#: the settings the HParams dashboard compares runs by (section.field)
HPARAM_KEYS = ("data.name", "data.binarize", "data.subset", "model.kind", "model.body", "model.hidden",
               "model.latent_dim", "model.likelihood", "train.beta", "train.beta_schedule", "train.lr",
               "train.batch_size", "train.epochs", "train.seed")
#: metrics.csv column -> (TensorBoard run, tag). Validation β·KL and total are derived.
TAGS = {
    "recon": (TRAINING, "recon"), "kl": (TRAINING, "kl"), "beta_kl": (TRAINING, "beta_kl"),
    "loss": (TRAINING, "total"), "grad_norm": (TRAINING, "grad_norm"), "beta": (TRAINING, "beta"),
    "lr": (TRAINING, "lr"), "epoch": (TRAINING, "epoch"), "samples": (TRAINING, "images_seen"),
    "val_recon": (VALIDATION, "recon"), "val_kl": (VALIDATION, "kl"), "val_elbo": (VALIDATION, "elbo"),
    "val_active_units": (VALIDATION, "active_units"),
}
NOT_AE = {"kl", "beta_kl", "elbo", "beta", "changes/beta"}   # an autoencoder has no KL term, no β, no ELBO
DESCRIPTIONS = {
    "recon": "-log p(x|z) per image, nats, summed over pixels. A Gaussian likelihood is a density: "
             "its -log can be negative.",
    "kl": "KL(q(z|x) || p(z)) per image, nats, summed over latent dimensions (eq. 14 on the app's Theory page).",
    "beta_kl": "The KL penalty the loss adds: β·KL; capacity schedule: β·|KL − C|; free bits: "
               "β·Σ_d max(KL_d, λ) (validation: with β and C of that step; not written for free "
               "bits, whose per-dimension validation KL is not recorded).",
    "total": "recon + the penalty, what training minimises (validation: β and C of that step).",
    "elbo": "-(recon + KL) per image, nats: the evidence lower bound (higher is better).",
    "active_units": "Latent dimensions whose mean code varies over the validation set by > 0.01.",
}
N_IMAGES = 16            # reconstructions and prior samples per image
EMBED_N = 2000           # points of the embedding projector
SPRITE_MAX = 8192        # TensorBoard's largest sprite side, in pixels
MISSING = ("TensorBoard export needs tensorboardX, a pinned runtime dependency: "
           "pip install -r requirements.txt (or pip install tensorboardX==2.6.5)")


class TensorBoardError(ValueError):
    """The export cannot be written; the message says why."""


@dataclass
class Report:
    """What an export wrote: its folder, how many scalars, images and points, and where the
    images came from (a replay and how closely it matched the record, or the final model)."""
    folder: Path
    scalars: int = 0
    images: int = 0
    embedded: int = 0
    image_steps: list = field(default_factory=list)
    images_from: str = "final"         # "final" or "replay"
    replay_gap: float | None = None    # largest |replayed - recorded| validation ELBO, nats
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------ scalars

def scalar_series(rows: list[dict], events: list[dict] = (), kind: str = "vae",
                  train=None) -> dict[tuple[str, str], list]:
    """Every scalar of a run as ``{(run, tag): [(step, value), ...]}``, from its metrics rows
    and its β/lr change events (``changes/beta``, ``changes/lr`` at the step they apply from).
    For an autoencoder (``kind="ae"``) the KL, β·KL, β and ELBO tags are left out. ``train``
    (the run's TrainConfig) names the penalty of the validation rows (None: β·KL)."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}

    def add(key, step, value):
        if kind == "ae" and key[1] in NOT_AE:
            return
        if value is not None and not isinstance(value, str) and math.isfinite(float(value)):
            out.setdefault(key, []).append((int(step), float(value)))

    for r in rows:
        step = r.get("step")
        if step is None:
            continue
        for col, key in TAGS.items():
            add(key, step, r.get(col))
        if "recon" in r and "kl" in r:
            add((TRAINING, "elbo"), step, -(float(r["recon"]) + float(r["kl"])))
    val_rows = [r for r in rows if r.get("step") is not None and "val_recon" in r and "val_kl" in r]
    if val_rows:
        beta = np.array([float(r.get("beta", 1.0)) for r in val_rows])
        pen = val_penalty(val_rows, beta, np.array([float(r["val_kl"]) for r in val_rows]), train)
        for r, p in zip(val_rows, pen):
            add((VALIDATION, "beta_kl"), r["step"], p)
            add((VALIDATION, "total"), r["step"], float(r["val_recon"]) + p)
    for e in events or []:
        if e.get("param") in ("beta", "lr"):
            add((TRAINING, f"changes/{e['param']}"), e.get("step", 0), e.get("value"))
    return out


def _events_text(events: list[dict]) -> str:
    lines = [f"- step {int(e['step'])}: {'β' if e['param'] == 'beta' else 'learning rate'} → {e['value']:g}"
             for e in events or [] if e.get("param") in ("beta", "lr")]
    return "\n".join(lines) or "No live changes: β and the learning rate followed the configuration."


# ------------------------------------------------------------------ images

def _chw(img: np.ndarray, scale: int) -> np.ndarray:
    """An H×W or H×W×3 tile in [0, 1], enlarged, as C×H×W for ``add_image``."""
    a = upscale(np.asarray(img, np.float32), scale)
    return a[None] if a.ndim == 2 else np.transpose(a, (2, 0, 1))


@torch.no_grad()
def epoch_images(model, originals: torch.Tensor, z: torch.Tensor) -> dict[str, np.ndarray]:
    """The two images of one snapshot, C×H×W in [0, 1]: ``reconstructions`` (rows of
    ``originals`` above their decoder means at z = μ) and ``prior_samples`` (decoder means at
    the fixed draws ``z`` from the prior)."""
    was = model.training
    model.eval()
    recon = model.reconstruct(originals).cpu().numpy()
    samples = model.decode_mean(z).cpu().numpy()
    model.train(was)
    scale = max(1, 96 // max(recon.shape[-1], 1))
    return {"reconstructions": _chw(image_pairs(originals.numpy(), recon, ncol=8), scale),
            "prior_samples": _chw(image_grid(samples, ncol=8), scale)}


# ------------------------------------------------------------------ replay

class _Replay(LoopHooks):
    """run_loop's hooks for a replay: the recorded β/lr changes at their steps, the recorded
    number of steps, and the images at every epoch end."""

    def __init__(self, events, steps: int, draw, recorded: dict[int, float]):
        self.events = sorted((e for e in events or [] if e.get("param") in ("beta", "lr")),
                             key=lambda e: e["step"])
        self.steps, self.draw, self.recorded = steps, draw, recorded
        self.gap = 0.0

    def before_step(self, trainer):
        while self.events and self.events[0]["step"] <= trainer.step_count:
            e = self.events.pop(0)
            (trainer.set_beta if e["param"] == "beta" else trainer.set_lr)(float(e["value"]))

    def end_reason(self, trainer):
        return ("finished", None) if trainer.done or trainer.step_count >= self.steps else None

    def on_row(self, trainer, row):
        if "val_elbo" in row:
            if row["step"] in self.recorded:
                self.gap = max(self.gap, abs(row["val_elbo"] - self.recorded[row["step"]]))
            self.draw(trainer.model, row["step"])


# ------------------------------------------------------------------ writing

def _writer(logdir: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise TensorBoardError(MISSING) from None
    return SummaryWriter(logdir=str(logdir), flush_secs=3600, max_queue=10_000)


def _probe(run: store.Run, ds) -> tuple[torch.Tensor, torch.Tensor | None, list[str]] | None:
    """The images to embed and reconstruct: the run's stored probe, else the validation split."""
    probe = store.load_probe(run.path)
    if probe is None and ds is not None:
        probe = (ds.x_val[:EMBED_N], None if ds.y_val is None else ds.y_val[:EMBED_N], ds.class_names or [])
    return probe


def write_tensorboard(run_dir: Path, out_dir: Path, *, replay: bool = False, data_path: str | None = None,
                      on_progress=None) -> Report:
    """Write ``run_dir``'s event files under ``out_dir/<run id>/`` (see the module's text).

    ``replay`` re-trains the run on this machine's copy of its data to draw images at every
    epoch end (refused, with a message, when the data are not here). ``on_progress(text)``
    hears what is being done."""
    try:
        run = store.open_run(Path(run_dir))
    except store.StoreError as e:
        raise TensorBoardError(f"cannot export: {e}") from None
    cfg, summary = run.config, run.summary
    if data_path:
        cfg.data.path = data_path
    rows = run.metrics()
    events = list(summary.get("events") or [])
    folder = Path(out_dir) / run.run_id
    if folder.exists():                  # an earlier export of this run is replaced, nothing else
        if not {p.name for p in folder.iterdir()} <= {TRAINING, VALIDATION, HPARAMS}:
            raise TensorBoardError(f"{folder} exists and is not an earlier TensorBoard export of "
                                   "this run; choose another folder")
        shutil.rmtree(folder)
    report = Report(folder)
    say = on_progress or (lambda text: None)

    tracked = store.onnx_model_only(run.path)          # a tracked loop's model: no replay of it here
    if replay and tracked:
        raise TensorBoardError("this model was trained in your own loop (explorer.track): it cannot be "
                               "replayed here; --no-replay gives its curves and its final images")
    ds = None
    if replay and not data_mod.available_offline(cfg.data):
        raise TensorBoardError(f"the replay needs the run's {cfg.data.name} data on this machine "
                               "(give --data-path, or --no-replay for the final images only)")
    if replay or (store.load_probe(run.path) is None and data_mod.available_offline(cfg.data)):
        ds = data_mod.load(cfg.data)          # the replay's data; else the final model's images' originals
    model = load_any_model(run.path, device="cpu")
    probe = _probe(run, ds)
    tw, vw = _writer(folder / TRAINING), _writer(folder / VALIDATION)
    try:
        report.scalars = _write_scalars(folder, scalar_series(rows, events, model.kind, cfg.train))
        tw.add_text("config", "```json\n" + cfg.to_json() + "\n```", 0)
        tw.add_text("changes", _events_text(events), 0)
        _write_hparams(folder / HPARAMS, cfg, summary)
        if model.kind == "ae":
            report.notes.append("An autoencoder (eq. 1 on the app's Theory page) has no KL term, no β and no ELBO: its "
                                "scalars are the reconstruction and the training signals only.")
            tw.add_text("about", report.notes[-1], 0)

        images = len(model.data_shape) == 3 and probe is not None
        if images:
            originals = probe[0][:N_IMAGES]
            z = torch.randn(N_IMAGES, model.latent_dim, generator=torch.Generator().manual_seed(0))

            def draw(m, step):
                for tag, img in epoch_images(m, originals, z).items():
                    vw.add_image(tag, img, step)
                    report.images += 1
                report.image_steps.append(int(step))

            last = int(summary.get("steps") or (rows[-1]["step"] if rows else 0))
            if replay:
                say(f"replaying {last} steps from the run's seed to draw the images at every epoch end")
                recorded = {int(r["step"]): r["val_elbo"] for r in rows if "val_elbo" in r}
                trainer = Trainer(cfg, ds, device="cpu")
                hooks = _Replay(events, last, draw, recorded)
                run_loop(trainer, hooks)
                if not report.image_steps or report.image_steps[-1] != trainer.step_count:
                    draw(trainer.model, trainer.step_count)
                report.images_from, report.replay_gap = "replay", hooks.gap
                note = (f"Images re-drawn by replaying the run from its seed on this machine; the "
                        f"replayed validation ELBO differs from the recorded one by at most "
                        f"{hooks.gap:.3g} nats per image.")
            else:
                draw(model, last)
                note = (f"The final model's images, at step {last}: a run folder keeps only its final "
                        "weights. `python -m explorer export RUN --tensorboard DIR --replay` re-trains "
                        "the run from its seed to draw every epoch.")
            vw.add_text("images", note, 0)
            report.notes.append(note)
        elif len(model.data_shape) != 3:
            report.notes.append("The data are points, not images: no image summaries.")
        else:
            report.notes.append("No probe images are stored with this run and its data are not "
                                "loaded: no image summaries and no embedding.")

        if probe is not None:
            report.embedded = _embed(vw, model, probe, int(summary.get("steps") or 0), report.notes)
    finally:
        tw.close()
        vw.close()
    return report


def hparams_of(cfg, summary: dict) -> tuple[dict, dict]:
    """``(hparams, metrics)`` for TensorBoard's HParams dashboard: the run's settings that
    tell runs apart (:data:`HPARAM_KEYS`, β as the run ended) and its final validation numbers."""
    d = cfg.to_dict()
    hp = {}
    for key in HPARAM_KEYS:
        section, name = key.split(".")
        v = d[section][name]
        hp[key] = ",".join(map(str, v)) if isinstance(v, list) else "all" if v is None else v
    if summary.get("beta") is not None:
        hp["train.beta"] = float(summary["beta"])
    val = summary.get("val") or {}
    metrics = {f"hparams/val_{k}": float(val[k]) for k in ("elbo", "recon", "kl", "active_units")
               if isinstance(val.get(k), (int, float))}
    return hp, metrics


def _write_hparams(logdir: Path, cfg, summary: dict) -> None:
    """The run as one HParams session (``DIR/<run id>/hparams``): its settings and final numbers."""
    from tensorboardX.summary import hparams
    hp, metrics = hparams_of(cfg, summary)
    w = _writer(logdir)
    try:
        for s in hparams(hp, metrics):
            w.file_writer.add_summary(s)
        for k, v in metrics.items():
            w.add_scalar(k, v, int(summary.get("steps") or 0))
    finally:
        w.close()


def _write_scalars(folder: Path, series: dict) -> int:
    """The scalars, one event per step holding every tag of that step, written straight to an
    event file of each run (``*.scalars``): a long run has 10^6 values, which tensorboardX's
    queued ``add_scalar`` takes minutes to write."""
    from tensorboardX.event_file_writer import EventsWriter
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    by_run: dict[str, dict[int, list]] = {TRAINING: {}, VALIDATION: {}}
    for (which, tag), points in series.items():
        meta = SummaryMetadata(summary_description=DESCRIPTIONS.get(tag, ""),
                               plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
        for i, (step, value) in enumerate(points):
            value = Summary.Value(tag=tag, simple_value=value, metadata=meta if i == 0 else None)
            by_run[which].setdefault(step, []).append(value)
    now = time.time()
    for which, steps in by_run.items():
        writer = EventsWriter(str(folder / which / "events"), ".scalars")
        for step in sorted(steps):
            writer.write_event(Event(wall_time=now, step=step, summary=Summary(value=steps[step])))
        writer.close()
    return sum(len(points) for points in series.values())


@torch.no_grad()
def _embed(writer, model, probe, step: int, notes: list) -> int:
    """The probe set's latent means (an AE: its codes) as an embedding projector set."""
    x, y, names = probe
    x = x[:EMBED_N]
    mu, _ = model.encode_mean(x)
    meta = None
    if y is not None:
        y = y[:EMBED_N].tolist()
        meta = [names[i] if names and 0 <= i < len(names) else str(i) for i in y]
    sprite = None
    if x.ndim == 4 and x.shape[2] == x.shape[3]:
        per_row = math.ceil(math.sqrt(len(x)))
        if per_row * x.shape[3] <= SPRITE_MAX:
            sprite = x.float().clamp(0, 1)
    if x.ndim == 4 and sprite is None:
        notes.append("The embedding has no image sprite: TensorBoard's sprites need square images "
                     "of at most 8192 pixels per side in all.")
    writer.add_embedding(mu.cpu().numpy(), metadata=meta, label_img=sprite, global_step=step,
                         tag="latent_means")
    return len(x)


def tensorboard_zip(run_dir: Path) -> bytes:
    """The event files of :func:`write_tensorboard` (no replay) as a zip, for a download."""
    with tempfile.TemporaryDirectory(prefix="tb-export-") as tmp:
        report = write_tensorboard(Path(run_dir), Path(tmp))
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(report.folder.rglob("*"))
                 if p.is_file()}
        files[f"{report.folder.name}/README.txt"] = _readme(report).encode()
        return zip_bytes(files)


def _readme(report: Report) -> str:
    return ("TensorBoard event files of run " + report.folder.name + ".\n\n"
            "Unzip, then: tensorboard --logdir .\n\n" + "\n".join(report.notes) + "\n")


def report_json(report: Report) -> str:
    """The report as one line of JSON (the CLI's --json)."""
    return json.dumps({"folder": str(report.folder), "scalars": report.scalars, "images": report.images,
                       "embedded": report.embedded, "image_steps": report.image_steps,
                       "images_from": report.images_from, "replay_gap": report.replay_gap})
