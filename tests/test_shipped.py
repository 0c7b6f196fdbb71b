"""Every shipped run loads and reproduces, on its stored check batch, the numbers its
manifest recorded (no dataset needed: the batch comes from the run's probe file)."""
import json
import math

import pytest

from explorer import store
from explorer.config import RunConfig
from explorer.pretrain import CHECK_BATCH, MANIFEST, check_batch_metrics

ENTRIES = [e for e in json.loads(MANIFEST.read_text())["runs"] if "check_batch" in e]


def test_manifest_lists_the_required_models():
    ids = {e["id"] for e in json.loads(MANIFEST.read_text())["runs"]}
    assert {"digits-vae-z2-b1", "digits-ae-z2", "digits-vae-z2-b4", "mnist-vae-z2",
            "mnist-vae-z20"} <= ids


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_shipped_run_reproduces_its_manifest(entry):
    run_dir = store.SHIPPED_ROOT / entry["id"]
    run = store.open_run(run_dir)
    want = RunConfig.from_dict(entry["config"]).to_dict()          # the manifest, with today's defaults
    want["data"]["path"] = run.config.data.path
    assert run.config.to_dict() == want
    model = run.load_model("cpu")
    x, y, names = store.load_probe(run_dir)
    assert len(x) >= CHECK_BATCH and x.min() >= 0 and x.max() <= 1
    assert y is None or len(y) == len(x)
    got = check_batch_metrics(model, x[:CHECK_BATCH])
    want = entry["check_batch"]
    for k in ("recon", "kl", "elbo", "iwae"):
        if k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-4, abs=1e-3), k
    assert math.isfinite(got["elbo"])
    if run.config.model.kind == "vae":
        # the bound is (statistically) tighter, up to float32's resolution: a β = 0 run's
        # terms are thousands of nats (its q(z|x) is a point far out in the prior's tails)
        assert got["iwae"] >= got["elbo"] - max(0.5, 1e-3 * abs(got["elbo"]))
    v = entry["final"]["val"]
    assert v["elbo"] == pytest.approx(run.summary["val"]["elbo"])


def test_shipped_runs_are_complete_and_listed():
    listed = {r.run_id for r in store.list_runs(store.SHIPPED_ROOT)}
    assert {e["id"] for e in ENTRIES} <= listed
    for e in ENTRIES:
        for f in (store.CONFIG, store.WEIGHTS, store.METRICS, store.SUMMARY, store.PROBE):
            assert (store.SHIPPED_ROOT / e["id"] / f).is_file(), (e["id"], f)
