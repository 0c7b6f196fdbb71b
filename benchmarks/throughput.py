"""Training throughput: our Trainer against pytorch/examples' vae/main.py, and a matmul roofline.

    python benchmarks/throughput.py [--threads 2] [--seconds 20] [--mnist PATH]

(a) reference: a faithful copy of the training loop of pytorch/examples
    ``vae/main.py`` (784-400-20, BCE-sum + KL, Adam 1e-3, batch 128), fed by a
    DataLoader over a dataset whose ``__getitem__`` does what torchvision's
    ``ToTensor`` does to a PIL image (torchvision is not importable beside
    torch 2.13 here, so the transform is reproduced in a few lines);
(b) ours: :class:`explorer.training.Trainer` with the same architecture
    (one hidden layer of 400, latent 20, Bernoulli likelihood) and batch size;
(c) roofline: the same GEMMs timed alone (forward + backward of the four
    linear layers at batch 128), i.e. the images/s a loop with zero overhead
    would reach on this machine at this moment.

Data: real MNIST if ``../shared/data/mnist.npz`` exists, else synthetic
uint8 images of the same shape. Last line:
``ours_img_s=… reference_img_s=… ratio=… roofline_fraction=…``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from explorer.data import Dataset  # noqa: E402
from explorer.training import Trainer  # noqa: E402

BATCH = 128


# ------------------------------------------------- (a) pytorch/examples vae/main.py

class RefVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def ref_loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


class PilMnist(torch.utils.data.Dataset):
    """Like torchvision.datasets.MNIST with transform=ToTensor(): a PIL image per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i], mode="L")            # as torchvision's MNIST
        pic = torch.from_numpy(np.array(img, np.uint8, copy=True))  # ToTensor
        pic = pic.view(img.size[1], img.size[0], 1).permute(2, 0, 1).contiguous()
        return pic.float().div(255), int(self.labels[i])


def run_reference(images, labels, seconds: float) -> float:
    torch.manual_seed(1)
    loader = torch.utils.data.DataLoader(PilMnist(images, labels), batch_size=BATCH, shuffle=True)
    model = RefVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    n, t0, warm = 0, None, 5
    while True:
        for batch_idx, (data, _) in enumerate(loader):
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = ref_loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            loss.item()
            optimizer.step()
            if warm > 0:
                warm -= 1
                if warm == 0:
                    t0 = time.perf_counter()
                continue
            n += len(data)
            if time.perf_counter() - t0 > seconds:
                return n / (time.perf_counter() - t0)


# ------------------------------------------------------------------ (b) ours

def run_ours(images, labels, seconds: float) -> float:
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    ds = Dataset(name="mnist", x_train=x, y_train=y, x_val=x[:1000], y_val=y[:1000],
                 class_names=[str(i) for i in range(10)], image_shape=(1, 28, 28), checksum="bench")
    cfg = RunConfig(data=DataConfig(name="mnist"),
                    model=ModelConfig(hidden=[400], latent_dim=20, likelihood="bernoulli"),
                    train=TrainConfig(epochs=1000, batch_size=BATCH, lr=1e-3))
    tr = Trainer(cfg, ds, device="cpu")
    for _ in range(5):
        tr.step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        row = tr.step()
        n += BATCH
    assert np.isfinite(row["loss"])
    return n / (time.perf_counter() - t0)


# --------------------------------------------------------------- (c) roofline

def roofline(seconds: float) -> tuple[float, float, float]:
    """GFLOP/s of the model's own GEMMs at batch 128, and the images/s they bound."""
    shapes = [(784, 400), (400, 40), (20, 400), (400, 784)]   # (in, out) of each linear layer
    # forward, grad wrt weight, grad wrt input; the first layer needs no grad wrt its input (x)
    flops_per_image = sum(2 * 3 * i * o for i, o in shapes) - 2 * 784 * 400
    xs = [torch.randn(BATCH, i) for i, _ in shapes]
    ws = [torch.randn(o, i) for i, o in shapes]
    gs = [torch.randn(BATCH, o) for _, o in shapes]

    def once():
        for j, (x, w, g) in enumerate(zip(xs, ws, gs)):
            x @ w.T          # forward
            if j > 0:
                g @ w        # grad wrt input
            g.T @ x          # grad wrt weight

    for _ in range(20):
        once()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        once()
        n += 1
    dt = time.perf_counter() - t0
    gflops = n * BATCH * flops_per_image / dt / 1e9
    return gflops, flops_per_image, gflops * 1e9 / flops_per_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if Path(a.mnist).is_file():
        with np.load(a.mnist, allow_pickle=False) as f:
            images, labels = f["x_train"], f["y_train"]
        source = "MNIST"
    else:
        rng = np.random.default_rng(0)
        images = (rng.random((60000, 28, 28)) * 255).astype(np.uint8)
        labels = rng.integers(0, 10, 60000)
        source = "synthetic"
    print(f"data: {source} {images.shape}, threads: {a.threads}, batch {BATCH}, torch {torch.__version__}")
    gflops, fpi, bound = roofline(a.seconds / 3)
    print(f"roofline: {gflops:.1f} GFLOP/s on the model's GEMMs, {fpi / 1e6:.2f} MFLOP/image "
          f"-> {bound:,.0f} img/s")
    ref = run_reference(images, labels, a.seconds)
    print(f"reference (pytorch/examples vae/main.py loop): {ref:,.0f} img/s")
    ours = run_ours(images, labels, a.seconds)
    print(f"ours (explorer.training.Trainer): {ours:,.0f} img/s")
    print(f"ours_img_s={ours:.0f} reference_img_s={ref:.0f} ratio={ours / ref:.2f} "
          f"roofline_fraction={ours / bound:.2f}")


if __name__ == "__main__":
    main()
