"""Crash safety: SIGKILL the process that hosts the engine (as the server would be) in the
middle of a run. Every finished run reloads intact, the interrupted run keeps at least its last epoch
checkpoint (its orphaned worker saves it on its own) and is listed as interrupted, and no
half-written file is ever read as a run."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from explorer import store
from explorer.engine import Engine

ROOT = Path(__file__).resolve().parent.parent

SERVER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from explorer.config import RunConfig
    from explorer.engine import Engine
    if __name__ == "__main__":
        eng = Engine({runs!r}, max_jobs=1, load_existing=False)
        short = RunConfig.from_dict({{"name": "short", "model": {{"hidden": [32]}}, "train": {{"epochs": 2}}}})
        long = RunConfig.from_dict({{"name": "long", "model": {{"hidden": [32]}}, "train": {{"epochs": 500}}}})
        a = eng.submit(short, "s1")
        eng.wait(a, 120)
        b = eng.submit(long, "s1")
        print(a, b, flush=True)
        while True:
            time.sleep(1)
""")


def _epochs_saved(run_dir: Path) -> float:
    s = store.read_summary(run_dir)
    return float(s.get("epochs") or 0)


@pytest.mark.slow
def test_sigkill_mid_training_keeps_finished_runs_and_last_epoch(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    script = tmp_path / "server.py"
    script.write_text(SERVER.format(root=str(ROOT), runs=str(runs)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        finished_id, long_id = proc.stdout.readline().split()
        long_dir = runs / long_id
        t_end = time.time() + 120
        while time.time() < t_end and _epochs_saved(long_dir) < 3:
            time.sleep(0.2)
        assert _epochs_saved(long_dir) >= 3, "the long run never checkpointed"
        finished_before = (runs / finished_id / store.WEIGHTS).read_bytes()
        os.kill(proc.pid, signal.SIGKILL)                 # the "server" dies at once
        proc.wait(10)
        saved_epochs = _epochs_saved(long_dir)
        t_end = time.time() + 60                          # the orphaned worker saves and ends
        while time.time() < t_end and store.read_summary(long_dir).get("status") == "running":
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    # the finished run is intact, byte for byte, and loads
    assert (runs / finished_id / store.WEIGHTS).read_bytes() == finished_before
    fin = store.open_run(runs / finished_id)
    assert fin.summary["status"] == "finished"
    fin.load_model("cpu")

    # the interrupted run has a complete checkpoint of its last finished epoch
    run = store.open_run(long_dir)
    model = run.load_model("cpu")
    assert model.latent_dim == 2
    rows = run.metrics()
    assert rows and max(r["epoch"] for r in rows) >= saved_epochs - 1
    assert not [p for p in long_dir.iterdir() if p.name.startswith(".tmp-")
                and p.name in (store.CONFIG, store.WEIGHTS)]

    # a restarted engine lists both, the interrupted one as such
    eng = Engine(runs, max_jobs=1)
    try:
        views = {v.run_id: v for v in eng.list()}
        assert views[finished_id].status == "finished"
        # the orphaned worker noticed the closed pipe and saved the run as interrupted
        assert views[long_id].status == "interrupted"
        assert "server stopped" in views[long_id].reason
    finally:
        eng.shutdown()


def test_half_written_files_are_not_runs(tmp_path):
    """A folder holding only temporary files, or a config without weights, is never a run."""
    from explorer.config import RunConfig
    from explorer.models import build_model
    cfg = RunConfig.from_dict({"model": {"hidden": [8]}})
    good = tmp_path / "good"
    store.save_run(good, cfg, build_model(cfg.model, (1, 8, 8), "cpu"), [], {"data_shape": [1, 8, 8]})
    half = tmp_path / "half"
    half.mkdir()
    (half / ".tmp-abc").write_bytes(b"partial weights")
    (half / store.CONFIG).write_text(cfg.to_json())
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    (trunc / store.CONFIG).write_text(cfg.to_json())
    (trunc / store.WEIGHTS).write_bytes((good / store.WEIGHTS).read_bytes()[:100])  # truncated
    listed = [r.run_id for r in store.list_runs(tmp_path)]
    assert "half" not in listed and "good" in listed
    with pytest.raises(store.StoreError):
        store.load_model(trunc)


def test_weights_without_their_config_are_a_first_save_in_progress_not_a_model(tmp_path):
    """``save_run`` writes the weights first and the config last: a live page that finds the
    weights of a run's first checkpoint before its config (the Train page's drawing pad, its
    decoder, Explore's wait for a checkpoint) waits for the next poll instead of failing with
    "no config.json; this folder is not a run"."""
    from explorer.config import RunConfig
    from explorer.models import build_model
    from explorer.ui import draw_pad
    cfg = RunConfig.from_dict({"model": {"hidden": [8]}})
    run = tmp_path / "run"
    store.save_run(run, cfg, build_model(cfg.model, (1, 8, 8), "cpu"), [], {"data_shape": [1, 8, 8]})
    (run / store.CONFIG).unlink()                      # the moment before the config is written
    assert store.has_model(run) and not store.model_saved(run)
    assert "no saved weights yet" in draw_pad.spec(run, cfg, (1, 8, 8))
    store.save_config(run, cfg)                        # the save completes
    assert store.model_saved(run)
    pad = draw_pad.spec(run, cfg, (1, 8, 8))
    assert isinstance(pad, draw_pad.DrawSpec) and pad.encoder.key.startswith("enc-")
