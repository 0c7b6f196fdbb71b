"""The judge of a sweep's samples: a calibrated classifier that can say "none of these".

The β lab's sample quality (:mod:`explorer.analysis.beta.report`) needs a reader of
images that a blur or noise image cannot fool. An ordinary classifier trained on the
data's classes must put every image in one of them, and is sure of itself on pure noise
(the previous one was 85–94% confident on uniform noise). This one:

* **has an extra class, "none of these"**, trained on images that are not data: uniform
  noise, random binary speckle, real images under a strong Gaussian blur (σ from
  :data:`BLUR_NONE` px), two real images mixed half and half, and the mean of a few dozen
  images. Its real images are shown both sharp and slightly softened (σ up to
  :data:`SOFTEN` px), since a decoder's Bernoulli means are soft and are not, for that,
  a blur. The probability of "none" is the judge's doubt that a sample is an image of
  the data at all;
* **is calibrated by temperature scaling** (Guo et al. 2017): one temperature T divides
  the logits, chosen to minimise the negative log-likelihood on held-out images (a fifth
  of its pool, with their own generated "none" images) that it was not trained on; its
  *expected calibration error* (:func:`expected_calibration_error`, 15 equal-width bins
  of confidence) is reported on the validation images of the probe, which it never saw;
* is an MLP (pixels and two image-wide cues of blur: :func:`cues` → 256 → 64 → classes
  + 1) whose 64 penultimate activations are the feature space in which samples and real
  images are compared (precision and recall).

It is trained from a fixed seed on at most :data:`POOL` images of the data's training
split (all of it, not only a sweep's small training subset: a judge is better for more
data, and it is the same for every run of a sweep), so the app and the CLI build the
same judge. Weights are never pickled (:func:`state` / :func:`from_state`: tensors for
safetensors).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from ...training import make_adam
from .. import stats

HIDDEN = (256, 64)
POOL = 10_000            # at most this many training images (a seeded subset) teach the judge
CALIBRATION_SHARE = 0.2  # held out of the pool to choose the temperature
EPOCHS = 40              # at least; a small pool gets more, up to MIN_STEPS gradient steps
MIN_STEPS = 1000
LR = 2e-3
BATCH = 128
NONE_SHARE = 1 / 3       # generated "none" images per real image in each epoch
BLUR_NONE = (0.6, 2.5)   # px: a blur this strong makes an image "none of these"
SOFTEN = 0.45            # px: real images are also shown softened up to this (a decoder's means)
BLUR_NULL = 1.0          # px: the blur of the "blurred samples" check
ECE_BINS = 15
POOL_STREAM, CALIBRATION_STREAM = 5, 6


@contextlib.contextmanager
def one_thread():
    """Run the enclosed torch work on one thread: float sums then add up in one order, so the
    judge (40 epochs of training) and the measures come out the same in every process (the
    app's server runs one thread; a CLI may run several)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ================================================================ images that are not data

def gaussian_blur(x: torch.Tensor, sigma) -> torch.Tensor:
    """Each image of ``x`` (N×C×H×W) under a Gaussian blur of standard deviation ``sigma``
    pixels (one number, or one per image; 0 leaves an image as it is), edges extended."""
    x = torch.as_tensor(x, dtype=torch.float32)
    n, c, h, w = x.shape
    s = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(n).clamp_min(0)
    radius = max(1, int(math.ceil(3 * float(s.max())))) if len(s) else 1
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None, :] / s.clamp_min(1e-6)[:, None]) ** 2)
    k = torch.where(s[:, None] > 1e-6, k, (t[None, :] == 0).float())
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)          # [n·c, L]
    y = x.reshape(1, n * c, h, w)
    y = nn.functional.pad(y, (radius, radius, 0, 0), mode="replicate")
    y = nn.functional.conv2d(y, k[:, None, None, :], groups=n * c)
    y = nn.functional.pad(y, (0, 0, radius, radius), mode="replicate")
    y = nn.functional.conv2d(y, k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def none_images(x: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` images that are not images of the data, made from real images ``x``: uniform
    noise, binary speckle, strong blurs, half-and-half mixtures of two images and means of
    a few dozen images, in equal shares."""
    x = torch.as_tensor(x, dtype=torch.float32)
    shape = x.shape[1:]
    kind = torch.randint(0, 5, (n,), generator=gen)
    out = torch.empty((n,) + shape)

    def pick(m):
        return x[torch.randint(0, len(x), (m,), generator=gen)]

    for k in range(5):
        idx = torch.nonzero(kind == k).flatten()
        m = len(idx)
        if m == 0:
            continue
        if k == 0:
            out[idx] = torch.rand((m,) + shape, generator=gen)
        elif k == 1:
            density = 0.05 + 0.55 * torch.rand((m,) + (1,) * len(shape), generator=gen)
            out[idx] = (torch.rand((m,) + shape, generator=gen) < density).float()
        elif k == 2:
            lo, hi = BLUR_NONE
            out[idx] = gaussian_blur(pick(m), lo + (hi - lo) * torch.rand(m, generator=gen))
        elif k == 3:
            t = (0.35 + 0.3 * torch.rand(m, generator=gen)).reshape((m,) + (1,) * len(shape))
            out[idx] = t * pick(m) + (1 - t) * pick(m)
        else:
            many = torch.randint(4, 64, (m,), generator=gen)
            out[idx] = torch.stack([pick(int(c)).mean(0) for c in many])
    return out


def soften(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Half of the images of ``x`` under a light blur (σ up to :data:`SOFTEN` px)."""
    s = SOFTEN * torch.rand(len(x), generator=gen) * (torch.rand(len(x), generator=gen) < 0.5)
    return gaussian_blur(x, s)


# ================================================================ the judge

CUES = 2          # image-wide cues the judge reads beside the pixels (:func:`cues`)
CUE_COPIES = 8   # each cue enters the first layer this many times (else 784 pixels drown 2 numbers)


def cues(x: torch.Tensor) -> torch.Tensor:
    """``[N, 2]`` image-wide cues that tell an image from a blur of it, whatever its layout
    and contrast: the share of spectral energy at fine detail (as
    :func:`explorer.analysis.beta.measures.sharpness`: periods under 5 pixels, the mean
    removed) and the mean edge (neighbour difference) over the mean deviation from the
    image's mean, a quarter of it. (Not the share of grey pixels: a decoder's Bernoulli
    means are grey where it is unsure, without being a blur.) A pixel MLP trained on a thousand images learns blur
    badly on its own: with these it learns it from a few hundred."""
    xc = x - x.mean((-2, -1), keepdim=True)
    power = torch.fft.fft2(xc).abs() ** 2
    h, w = x.shape[-2:]
    radius = (torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2).sqrt()
    fine = (power * (radius > 0.2)).sum((1, 2, 3)) / power.sum((1, 2, 3)).clamp_min(1e-8)
    edges = ((x[..., :, 1:] - x[..., :, :-1]).abs().mean((1, 2, 3))
             + (x[..., 1:, :] - x[..., :-1, :]).abs().mean((1, 2, 3)))
    edge = edges / xc.abs().mean((1, 2, 3)).clamp_min(1e-4) / 4
    return torch.stack([fine, edge], 1)


class Judge(nn.Module):
    """Pixels and :func:`cues` → 256 → 64 → (classes + "none"), read with a temperature."""

    def __init__(self, n_in: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in + CUES * CUE_COPIES, HIDDEN[0]), nn.ReLU(),
                                  nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
        self.head = nn.Linear(HIDDEN[1], n_classes + 1)
        self.n_in, self.n_classes = n_in, n_classes
        self.register_buffer("temperature", torch.ones(()))

    @property
    def none(self) -> int:
        """The index of the "none of these" class."""
        return self.n_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 64 penultimate activations of images ``x`` (N×C×H×W)."""
        return self.body(torch.cat([x.flatten(1), cues(x).repeat(1, CUE_COPIES)], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def read(self, x, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """``(calibrated probabilities [N, classes + 1], features [N, 64])`` of images ``x``;
        the last column is "none of these"."""
        self.eval()
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        probs, feats = [], []
        for i in range(0, len(x), batch):
            f = self.features(x[i:i + batch])
            probs.append(torch.softmax(self.head(f) / self.temperature, 1))
            feats.append(f)
        return torch.cat(probs).double().numpy(), torch.cat(feats).double().numpy()


def expected_calibration_error(probs, labels, bins: int = ECE_BINS) -> float:
    """ECE: the mean, over equal-width bins of confidence (the largest probability), of
    |accuracy − mean confidence| weighted by the bin's share of the images."""
    p, y = np.asarray(probs, np.float64), np.asarray(labels)
    conf, right = p.max(1), (p.argmax(1) == y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * abs(right[sel].mean() - conf[sel].mean())
    return float(err)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 that minimises the negative log-likelihood of ``softmax(logits / T)``
    (a grid over log T, then a finer one around its best point)."""
    def nll(t):
        return float(nn.functional.cross_entropy(logits / t, labels))
    grid = np.exp(np.linspace(math.log(0.05), math.log(20.0), 121))
    best = min(grid, key=nll)
    fine = best * np.exp(np.linspace(-0.06, 0.06, 61))
    return float(min(fine, key=nll))


def train_judge(x, y, *, seed: int = 0, epochs: int = EPOCHS, pool: int = POOL,
                n_classes: int | None = None, min_steps: int = MIN_STEPS) -> tuple[Judge, dict]:
    """Train and calibrate a :class:`Judge` on labelled real images ``x`` (N×C×H×W in
    [0, 1]) with labels ``y``. Returns the judge and what it was made from
    (``{"pool", "fit", "calibration", "calibration_ece"}``: image counts, and the expected
    calibration error on the held-out calibration images with their "none" images)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if x.ndim == 3:
        x = x[:, None]
    if len(x) != len(y) or len(x) < 10 or x.ndim != 4:
        raise ValueError("the judge needs at least ten labelled images (N×C×H×W)")
    k = int(n_classes or int(y.max()) + 1)
    keep = torch.as_tensor(stats.seeded_subset(len(x), pool, seed, POOL_STREAM))
    x, y = x[keep], y[keep]
    n_cal = max(2, int(round(CALIBRATION_SHARE * len(x))))
    x_cal, y_cal, x_fit, y_fit = x[:n_cal], y[:n_cal], x[n_cal:], y[n_cal:]
    torch.manual_seed(seed)
    judge = Judge(math.prod(x.shape[1:]), k)
    opt = make_adam(judge.parameters(), LR)
    gen = torch.Generator().manual_seed(seed)
    n_none = max(1, int(len(x_fit) * NONE_SHARE))
    epochs = max(epochs, math.ceil(min_steps / math.ceil((len(x_fit) + n_none) / BATCH)))
    for _ in range(epochs):
        xs = torch.cat([soften(x_fit, gen), none_images(x_fit, n_none, gen)])
        ys = torch.cat([y_fit, torch.full((n_none,), k)])
        perm = torch.randperm(len(xs), generator=gen)
        judge.train()
        for i in range(0, len(xs), BATCH):
            idx = perm[i:i + BATCH]
            loss = nn.functional.cross_entropy(judge(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    judge.eval()
    cal_gen = torch.Generator().manual_seed(seed + CALIBRATION_STREAM)
    n_cal_none = max(1, int(len(x_cal) * NONE_SHARE))
    xc = torch.cat([x_cal, none_images(x_cal, n_cal_none, cal_gen)])
    yc = torch.cat([y_cal, torch.full((n_cal_none,), k)])
    with torch.no_grad():
        logits = judge(xc)
    judge.temperature.fill_(fit_temperature(logits, yc))
    p, _ = judge.read(xc)
    info = {"pool": len(x), "fit": len(x_fit), "calibration": len(x_cal),
            "calibration_ece": expected_calibration_error(p, yc)}
    return judge, info


def state(judge: Judge) -> dict[str, torch.Tensor]:
    """The weights to save (safetensors), with the sizes needed to rebuild the judge."""
    out = {k: v.detach().contiguous() for k, v in judge.state_dict().items()}
    out["_shape"] = torch.tensor([judge.n_in, judge.n_classes])
    return out


def from_state(tensors: dict[str, torch.Tensor]) -> Judge:
    n_in, k = (int(v) for v in tensors["_shape"])
    judge = Judge(n_in, k)
    judge.load_state_dict({k_: v for k_, v in tensors.items() if k_ != "_shape"})
    return judge.eval()
