"""A small classifier of images (Explore's reading of the latent plane,
:mod:`explorer.analysis.plane_reading`).

An MLP (pixels → 128 → 64 → classes, ReLU), trained on labelled images with Adam for a
fixed number of epochs from a fixed seed, so it can be rebuilt. It gives class
probabilities and its 64 penultimate activations. (The β lab's sample quality uses a
judge that can also answer "none of these" and is calibrated:
:mod:`explorer.analysis.beta.judge`.)

Weights are saved as safetensors (never pickled).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ...training import make_adam

HIDDEN = (128, 64)


class Classifier(nn.Module):
    def __init__(self, n_in: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(n_in, HIDDEN[0]), nn.ReLU(),
                                  nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
        self.head = nn.Linear(HIDDEN[1], n_classes)
        self.n_in, self.n_classes = n_in, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def read(self, x, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities [N, classes], features [N, 64])`` of images ``x``."""
        self.eval()
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        probs, feats = [], []
        for i in range(0, len(x), batch):
            f = self.body(x[i:i + batch])
            probs.append(torch.softmax(self.head(f), 1))
            feats.append(f)
        return torch.cat(probs).double().numpy(), torch.cat(feats).double().numpy()

    def accuracy(self, x, y) -> float:
        p, _ = self.read(x)
        return float(np.mean(p.argmax(1) == np.asarray(y)))


def train_classifier(x, y, *, epochs: int = 40, seed: int = 0, lr: float = 3e-3,
                     batch: int = 128, n_classes: int | None = None) -> Classifier:
    """Train :class:`Classifier` on images ``x`` (N×…, in [0, 1]) with labels ``y``."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("the classifier needs at least two labelled images")
    k = int(n_classes or int(y.max()) + 1)
    torch.manual_seed(seed)
    model = Classifier(math.prod(x.shape[1:]), k)
    opt = make_adam(model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    return model


def state(model: Classifier) -> dict[str, torch.Tensor]:
    """The weights to save (safetensors), with the sizes needed to rebuild the model."""
    out = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out["_shape"] = torch.tensor([model.n_in, model.n_classes])
    return out


def from_state(tensors: dict[str, torch.Tensor]) -> Classifier:
    n_in, k = (int(v) for v in tensors["_shape"])
    model = Classifier(n_in, k)
    model.load_state_dict({k_: v for k_, v in tensors.items() if k_ != "_shape"})
    return model.eval()
