"""β lab (issue 27): the sample-quality judge's null checks and calibration, and the bias of
measuring on "the first n" validation images instead of a seeded random subset.

    python benchmarks/beta_judge.py [--sweep digits mnist] [--mnist /work/shared/data/mnist.npz]
                                    [--bias-run sweep-mnist-b0.25]

For each shipped β sweep, the judge is built exactly as the β lab and ``sweep-report``
build it (:func:`explorer.analysis.beta.report.make_probe` on the sweep's data, the judge
trained on the data's whole training split), and printed are: its expected calibration
error and accuracy on the probe's validation images; the sample quality of uniform noise,
of the mean training image, of blurred validation images and of real training images (the
"null" object of ``sweep-report --json``); and what it makes of uniform noise itself: its
mean confidence in the most likely digit class (the old classifier's 85% / 94%) and its mean
probability of "none of these". The issue's target: uniform-noise quality ≤ 0.1 on both.

``--bias-run``: a shipped MNIST run's validation IWAE-100 on the first 1,000 images of the
validation split (the official test file, in its order) against the seeded random 1,000
that the β lab measures on, each with its standard error over the images. The last line is
``key=value`` figures.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer import data, store  # noqa: E402
from explorer.analysis.beta import measures as beta_measures  # noqa: E402
from explorer.analysis.beta import report as beta_report  # noqa: E402
from explorer.analysis.beta.judge import one_thread  # noqa: E402
from explorer.config import RunConfig  # noqa: E402


def sweep_data(name: str, mnist: str | None):
    """The data config the shipped sweep ``name`` was trained and measured on."""
    got = beta_report.load(beta_report.shipped_folder(name))
    cfg = RunConfig.from_dict(got.about["config"]).data
    if name == "mnist" and mnist:
        cfg.path = mnist
    return cfg


def judge_figures(name: str, mnist: str | None) -> dict:
    cfg = sweep_data(name, mnist)
    ds, pool = data.load(cfg), data.load(beta_report.pool_config(cfg))
    t0 = time.perf_counter()
    probe = beta_report.make_probe(ds.x_train, ds.y_train, ds.x_val, ds.y_val,
                                   pool=(pool.x_train, pool.y_train))
    built = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(beta_report.NULL_SEED)
    noise = torch.rand((len(probe.x_val),) + tuple(probe.x_val.shape[1:]), generator=gen)
    with one_thread():
        probs, _ = probe.judge.read(noise)
    null = probe.null
    return {"ece": null["classifier_ece"], "accuracy": null["classifier_accuracy"],
            "noise_q": null["uniform_noise_quality"], "mean_q": null["mean_image_quality"],
            "blur_q": null["blurred_quality"], "real_q": null["real_images_quality"],
            "noise_class_conf": float(probs[:, :probe.judge.none].max(1).mean()),
            "noise_none": float(probs[:, probe.judge.none].mean()), "built_s": built}


def probe_bias(run_id: str, mnist: str | None, n: int = beta_report.N_MEASURE) -> dict:
    folder = store.SHIPPED_ROOT / run_id
    cfg = store.read_config(folder)
    if mnist and cfg.data.name == "mnist":
        cfg.data.path = mnist
    ds = data.load(cfg.data)
    model = store.load_model(folder, device="cpu")
    out = {}
    for key, idx in (("first", np.arange(n)), ("random", beta_report.probe_indices(len(ds.x_val), n, "val"))):
        with one_thread():
            v = beta_measures.iwae_per_image(model, ds.x_val[torch.as_tensor(idx)], beta_report.IWAE_K, seed=1)
        out[key], out[f"{key}_se"] = float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sweep", nargs="*", default=["digits", "mnist"])
    p.add_argument("--mnist", default=None, help="MNIST's .npz (default: the sweep's own path)")
    p.add_argument("--bias-run", default="sweep-mnist-b0.25", help="a shipped MNIST run; '' to skip")
    ns = p.parse_args()
    torch.set_num_threads(1)
    figures = {}
    for name in ns.sweep:
        f = judge_figures(name, ns.mnist)
        print(f"{name}: judge ECE {f['ece']:.3f}, accuracy {f['accuracy']:.3f}; quality of uniform noise "
              f"{f['noise_q']:.3f}, mean image {f['mean_q']:.3f}, blurred {f['blur_q']:.3f}, real images "
              f"{f['real_q']:.3f}; on uniform noise: top digit class {f['noise_class_conf']:.3f}, 'none of "
              f"these' {f['noise_none']:.3f} (judge built in {f['built_s']:.0f} s)", flush=True)
        figures.update({f"{name}_{k}": v for k, v in f.items() if k != "built_s"})
    if ns.bias_run:
        b = probe_bias(ns.bias_run, ns.mnist)
        print(f"{ns.bias_run}: validation IWAE-{beta_report.IWAE_K} on the first {beta_report.N_MEASURE} "
              f"images {b['first']:.1f} ± {b['first_se']:.1f}, on the seeded random {beta_report.N_MEASURE} "
              f"{b['random']:.1f} ± {b['random_se']:.1f} nats", flush=True)
        figures.update({f"bias_{k}": v for k, v in b.items()})
    print(" ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
