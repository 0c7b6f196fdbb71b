"""The memory estimate (explorer/memory.py): a pure function of a run's settings and its
data's footprint, checked against the model it describes and the issue's case."""
from __future__ import annotations

import numpy as np
import pytest

from explorer import memory
from explorer.config import RunConfig
from explorer.models import build_model

MB = 2**20
MNIST = {"name": "mnist", "binarize": "dynamic"}


def _est(**sections):
    cfg = RunConfig().replace(**sections)
    return memory.estimate(cfg, memory.footprint(cfg.data))


def test_the_issue_case_is_refused_naming_the_settings_to_change():
    """Batch 20,000 × 1,000 samples of z on MNIST: inside every setting's range, ~60 GB."""
    est = _est(data=MNIST, train={"batch_size": 20_000, "mc_samples": 1000, "epochs": 1})
    assert est.total > 60 * 2**30
    why = memory.refusal(est, 8 * 2**30)
    assert "more than the 8.0 GB a run may use here (setting LATENT_EXPLORER_RUN_MEMORY_MB)" in why
    assert "Batch size (20,000)" in why and "L samples of z per image (1,000)" in why
    with pytest.raises(memory.BudgetExceeded, match="LATENT_EXPLORER_RUN_MEMORY_MB"):
        memory.check(RunConfig().replace(data=MNIST, train={"batch_size": 20_000, "mc_samples": 1000}),
                     8 * 2**30)
    assert memory.refusal(_est(data=MNIST), 8 * 2**30) is None          # the usual run fits


def test_the_estimate_grows_with_what_a_step_holds():
    base = _est(data=MNIST, train={"batch_size": 1000})
    assert _est(data=MNIST, train={"batch_size": 2000}).total > base.total
    assert _est(data=MNIST, train={"batch_size": 1000, "mc_samples": 4}).total > base.total
    assert _est(data=MNIST, model={"hidden": [1024, 512]}, train={"batch_size": 1000}).total > base.total
    # an autoencoder takes one z per image whatever L says
    assert _est(data=MNIST, model={"kind": "ae"}, train={"mc_samples": 50}).total == \
        _est(data=MNIST, model={"kind": "ae"}, train={"mc_samples": 1}).total
    # MNIST's data: 70,000 raw images and the float32 splits (60,000 + 10,000 + the grey 10,000)
    assert base.parts["data"] == 70_000 * 784 * 2 + 80_000 * 784 * 4


@pytest.mark.parametrize("model", [{}, {"body": "conv", "hidden": [64]}, {"kind": "ae", "hidden": [32, 16, 8]}])
def test_the_parameter_count_is_the_models(model):
    cfg = RunConfig().replace(model=model)
    real = build_model(cfg.model, (1, 8, 8), "cpu")
    assert memory.parameters(cfg, (1, 8, 8)) == sum(p.numel() for p in real.parameters())


def test_a_files_footprint_comes_from_its_headers(tmp_path):
    path = tmp_path / "big.npz"
    np.savez_compressed(path, x_train=np.zeros((5000, 32, 32, 3), np.uint8), y_train=np.zeros(5000, np.int64),
                        x_test=np.zeros((1000, 32, 32, 3), np.uint8), y_test=np.zeros(1000, np.int64))
    cfg = RunConfig().replace(data={"name": "file", "path": str(path)})
    fp = memory.footprint(cfg.data)
    assert (fp.n, fp.item_shape, fp.itemsize, fp.is_image) == (6000, (3, 32, 32), 1, True)
    assert memory.check(cfg.replace(data={"path": str(tmp_path / "gone.npz")}), MB) is None  # the run says why


def test_the_default_budget_leaves_the_server_its_room(monkeypatch):
    total, available = memory.machine_memory()
    assert 0 < available <= total
    assert memory.server_budget(300, 2) == 300 * MB
    assert memory.server_budget(None, 2) == max(512 * MB, int((0.75 * total - memory.SERVER_RESERVE) / 2))
    assert memory.server_budget(None, 2) * 2 + memory.SERVER_RESERVE < total
    assert memory.cli_budget(None) <= available


def test_the_cli_refuses_a_run_over_its_budget_before_it_starts(tmp_path, capsys, monkeypatch):
    import resource

    from explorer.cli import main
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "moons", "--toy-points", "1000000", "--batch-size", "65536",
               "--mc-samples", "1000", "--epochs", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "this run would need about" in err and "LATENT_EXPLORER_RUN_MEMORY_MB" in err
    assert "Batch size (65,536)" in err and "L samples of z per image (1,000)" in err
    assert not out.exists()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024   # KiB: nothing was built
    monkeypatch.setenv("LATENT_EXPLORER_RUN_MEMORY_MB", "100")      # the same setting as the server's
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", str(out)]) == 2
    assert "more than the 100 MB a run may use here" in capsys.readouterr().err and not out.exists()


def test_a_process_held_to_its_budget_gets_an_error_not_the_killer(tmp_path):
    """RLIMIT_DATA, as the worker and the CLI set it: an allocation past the budget fails in
    that process (torch raises), which goes on and can allocate again once released."""
    import subprocess
    import sys
    code = """
import torch, sys
from explorer import memory
keep = []
with memory.held_to(int(sys.argv[1]) * 2**20):
    try:
        while True:
            keep.append(torch.ones(16 * 2**20))          # 64 MB at a time
    except (RuntimeError, MemoryError) as e:
        print("stopped", memory.over_budget(e), len(keep))
keep.clear()
big = torch.ones(256 * 2**20)                           # 1 GB: fine once released
print("after", float(big[-1]))
"""
    out = subprocess.run([sys.executable, "-c", code, "900"], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert out.returncode == 0, out.stderr
    stopped, flag, n = out.stdout.split()[:3]
    assert stopped == "stopped" and flag == "True" and 3 <= int(n) <= 14      # ~900 MB less torch's own
    assert "after 1.0" in out.stdout
