"""The pages' small networks train in a child process (explorer.analysis.offload), not the
server's: the child's network is the one the same call makes in-process on one thread, it
comes back through safetensors and JSON, and a child's failure is one clear line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import data
from explorer.analysis import offload, plane_reading
from explorer.analysis.beta import judge as beta_judge
from explorer.config import DataConfig


@pytest.fixture(scope="module")
def digits():
    return data.load(DataConfig(name="digits"))


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_the_judge_from_the_child_is_the_judge_made_here(digits):
    x, y = digits.x_train.numpy(), digits.y_train.numpy()
    child, info = offload.train_judge(x, y, seed=3, n_classes=10, epochs=2, min_steps=0)
    with beta_judge.one_thread():
        here, info_here = beta_judge.train_judge(x, y, seed=3, n_classes=10, epochs=2, min_steps=0)
    _same(beta_judge.state(child), beta_judge.state(here))
    assert float(child.temperature) == pytest.approx(float(here.temperature))
    assert info == pytest.approx(info_here)
    probs, _ = child.read(digits.x_val[:50])
    assert probs.shape == (50, 11) and np.allclose(probs.sum(1), 1, atol=1e-5)   # ten digits and "none"


def test_the_plane_classifier_from_the_child_reads_as_the_one_made_here(digits):
    x, y = digits.x_train.numpy(), digits.y_train.numpy()
    child = offload.train_plane_classifier(x, y, digits.class_names, seed=1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = plane_reading.classifier_for(x, y, digits.class_names, seed=1)
    finally:
        torch.set_num_threads(before)
    assert child.class_names == here.class_names and child.n_train == here.n_train
    assert child.temperature == pytest.approx(here.temperature)
    assert child.accuracy == pytest.approx(here.accuracy) and child.accuracy > 0.8
    np.testing.assert_allclose(child.read(digits.x_val[:100]), here.read(digits.x_val[:100]), atol=1e-6)


def test_a_child_that_cannot_train_says_why_in_one_line(digits):
    x = digits.x_train.numpy()[:40]
    with pytest.raises(offload.OffloadError, match="at least two labels") as got:
        offload.train_plane_classifier(x, np.zeros(40, dtype=np.int64), None)
    assert "Traceback" not in str(got.value) and "\n" not in str(got.value)
