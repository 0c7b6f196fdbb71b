"""What the Python API costs: ``explorer.fit`` against the CLI's ``train``, and ``explorer.track``
inside pytorch/examples' VAE loop against the bare loop.

    python benchmarks/api_overhead.py [--mnist PATH] [--subset 5000] [--epochs 3] [--repeats 3]
                                      [--steps 300] [--threads 1]

(a) fit_vs_cli: the same settings trained end to end, each in a fresh process (interpreter
    start, imports, data, training, the run folder): ``python -m explorer train
    --data-path MNIST --subset N --epochs E --quiet`` and ``explorer.fit(MNIST, subset=N,
    epochs=E)``, alternated ``--repeats`` times; the ratio of the medians, CLI time / fit time
    (1.0: as fast; the goal is >= 0.95).
(b) track_overhead: pytorch/examples' ``vae/main.py`` training loop, written out below
    (784-400-20, BCE-sum + KL, Adam 1e-3, batch 128, a DataLoader of PIL images as
    torchvision's MNIST with ToTensor gives them), bare and with ``tracker.log(step,
    recon=..., kl=...)`` at every step; ``--steps`` steps each, alternated ``--repeats``
    times; median tracked / median bare - 1 (the goal is <= 0.02).

Data: real MNIST (``../shared/data/mnist.npz``) when present, else synthetic uint8 images of
the same shape. Last line: ``fit_vs_cli=… track_overhead=…``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import explorer  # noqa: E402
from throughput import RefVAE  # noqa: E402  (benchmarks/ is this script's folder)

BATCH = 128


# ------------------------------------------------------------ (a) fit vs the CLI

def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def fit_vs_cli(mnist: Path, subset: int, epochs: int, repeats: int, threads: int) -> tuple[float, list, list]:
    work = Path(tempfile.mkdtemp(prefix="api-bench-"))
    env = {**os.environ, "LATENT_EXPLORER_RUNS": str(work / "runs"), "PYTHONPATH": str(ROOT)}
    cli, fit = [], []
    for i in range(repeats):
        cli.append(timed([sys.executable, "-m", "explorer", "train", "--data-path", str(mnist), "--subset",
                          str(subset), "--epochs", str(epochs), "--threads", str(threads), "--quiet",
                          "--out", str(work / f"cli-{i}")], env))
        fit.append(timed([sys.executable, "-c",
                          f"import explorer; explorer.fit({str(mnist)!r}, subset={subset}, epochs={epochs}, "
                          f"threads={threads}, out={str(work / f'fit-{i}')!r})"], env))
        print(f"  run {i + 1}: cli {cli[-1]:.2f} s, fit {fit[-1]:.2f} s", flush=True)
    a, b = explorer.open(str(work / "cli-0")), explorer.open(str(work / "fit-0"))
    assert a.config == b.config, "the CLI and fit trained different settings"
    assert list(a.metrics["loss"]) == list(b.metrics["loss"]), "the CLI and fit trained different numbers"
    return statistics.median(cli) / statistics.median(fit), cli, fit


# ------------------------------------------------- (b) pytorch/examples' VAE loop

VAE = RefVAE          # pytorch/examples' VAE, as benchmarks/throughput.py measures it


def loss_function(recon_x, x, mu, logvar):
    """The example's loss, its two terms kept apart (their sum is its ``BCE + KLD``)."""
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE, KLD


class PilMnist(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST(transform=ToTensor()) gives: a PIL image per sample."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i], mode="L")
        pic = torch.from_numpy(np.array(img, np.uint8, copy=True))
        return pic.view(1, 28, 28).float().div(255), 0


def train_loop(images: np.ndarray, steps: int, tracker=None) -> float:
    """pytorch/examples' train() for ``steps`` batches (after 5 warm-up ones); seconds taken."""
    torch.manual_seed(1)
    train_loader = torch.utils.data.DataLoader(PilMnist(images), batch_size=BATCH, shuffle=True)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    train_loss, step, t0 = 0.0, 0, None
    while True:
        for batch_idx, (data, _) in enumerate(train_loader):
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            BCE, KLD = loss_function(recon_batch, data, mu, logvar)
            loss = BCE + KLD
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if tracker is not None:                   # the one line the API adds
                tracker.log(step + 1, recon=BCE.item() / len(data), kl=KLD.item() / len(data))
            step += 1
            if step == 5:
                t0 = time.perf_counter()
            if step == steps + 5:
                return time.perf_counter() - t0


def track_overhead(images: np.ndarray, steps: int, repeats: int) -> tuple[float, list, list]:
    os.environ.setdefault("LATENT_EXPLORER_RUNS", tempfile.mkdtemp(prefix="api-bench-runs-"))
    bare, tracked = [], []
    for i in range(repeats):
        bare.append(train_loop(images, steps))
        with explorer.track(f"bench-track-{os.getpid()}-{i}") as tracker:
            tracked.append(train_loop(images, steps, tracker))
        rows = explorer.open(str(tracker.run_dir)).metrics
        assert len(rows) == steps + 5, "the tracker lost rows"
        print(f"  loop {i + 1}: bare {bare[-1]:.2f} s, tracked {tracked[-1]:.2f} s", flush=True)
    return statistics.median(tracked) / statistics.median(bare) - 1.0, bare, tracked


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    p.add_argument("--subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    mnist = Path(a.mnist)
    if not mnist.is_file():
        mnist = Path(tempfile.mkdtemp()) / "mnist.npz"
        rng = np.random.default_rng(0)
        np.savez(mnist, x_train=rng.integers(0, 256, (60000, 28, 28), np.uint8), y_train=rng.integers(0, 10, 60000),
                 x_test=rng.integers(0, 256, (10000, 28, 28), np.uint8), y_test=rng.integers(0, 10, 10000))
        print(f"no MNIST at {a.mnist}: synthetic images of its shape", flush=True)
    with np.load(mnist) as f:
        images = f["x_train"]
    print(f"(a) explorer.fit vs python -m explorer train: MNIST subset {a.subset}, {a.epochs} epochs, "
          f"{a.threads} thread(s)", flush=True)
    ratio, _, _ = fit_vs_cli(mnist, a.subset, a.epochs, a.repeats, a.threads)
    print(f"(b) pytorch/examples' VAE loop, {a.steps} steps of {BATCH}, bare vs tracked", flush=True)
    overhead, _, _ = track_overhead(images, a.steps, a.repeats)
    print(f"fit_vs_cli={ratio:.3f} track_overhead={overhead:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
