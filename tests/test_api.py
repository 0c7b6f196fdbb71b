"""The Python API (issue 26): ``explorer.fit`` on a name, a path, a numpy array, a tensor and a
Dataset; ``explorer.open``; every ``Run`` method; the settings' names and defaults shared with
the CLI; ``explorer.track`` with a hand-written loop that the app's engine lists, shows live
and Explore opens."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import explorer
from conftest import app_factory, assert_page_ok
from explorer import data, store
from explorer.cli import main as cli_main
from explorer.runs import Status
from explorer.ui import explore_state

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"epochs": 2, "hidden": [32], "batch_size": 64}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One small digits run, trained once for the module's tests."""
    torch.set_num_threads(1)
    return explorer.fit("digits", out=tmp_path_factory.mktemp("api") / "digits", **SMALL)


def _images(n=240, side=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), rng.integers(0, 4, n)


# ------------------------------------------------------------ import explorer

def test_import_explorer_is_light():
    code = "import sys, explorer; print(sorted(m for m in ('torch', 'pandas', 'streamlit', 'anywidget') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]", r.stderr
    assert callable(explorer.fit) and callable(explorer.open) and callable(explorer.track)


# ------------------------------------------------------------ fit: every kind of data

def test_fit_on_a_name_writes_a_run_the_app_lists(digits_run, tmp_path):
    run = digits_run
    assert run.summary["status"] == "finished" and run.config.data.name == "digits"
    assert run.config.model.hidden == [32] and run.config.train.epochs == 2
    assert (run.path / "probe.safetensors").is_file() and (run.path / "weights.safetensors").is_file()
    from explorer.engine import Engine
    eng = Engine(run.path.parent, prestart=0, max_jobs=1)
    try:
        assert eng.entry(run.id) is not None and eng.entry(run.id).status == Status.FINISHED
    finally:
        eng.shutdown()


def threads_seen(monkeypatch, module, name: str) -> list[int]:
    """``module.name`` (a training entry point) still runs, and the list returned gets torch's
    thread count as each call begins."""
    seen, real = [], getattr(module, name)

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def test_fit_trains_with_the_runs_torch_threads_and_gives_the_callers_back(tmp_path, monkeypatch):
    """``threads`` (default 1, as the CLI and the app's workers train) holds while the run
    trains; the notebook's own setting is back afterwards. With torch's default (every core)
    the quick-start notebook's tiny model ran several times slower beside another busy process."""
    import explorer.training as training
    seen = threads_seen(monkeypatch, training, "fit")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        explorer.fit("moons", out=tmp_path / "one", epochs=1, hidden="8", toy_points=200)
        explorer.fit("moons", out=tmp_path / "three", epochs=1, hidden="8", toy_points=200, threads=3)
        assert seen == [1, 3]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_fit_uses_the_clis_settings_and_defaults(tmp_path, capsys):
    run = explorer.fit("moons", out=tmp_path / "api", epochs=1, latent_dim=3,
                       hidden="16,8", toy_points=300)
    capsys.readouterr()
    assert cli_main(["train", "--dataset", "moons", "--epochs", "1", "--latent-dim", "3", "--hidden", "16,8",
                     "--toy-points", "300", "--print-config"]) == 0
    cli = explorer.config.RunConfig.from_json(capsys.readouterr().out)
    assert run.config == cli
    for dataset in ("mnist", "fashion-mnist"):                 # the binarisation that used to differ
        assert explorer.options.config_from({"dataset": dataset}).data.binarize == "dynamic"


def test_a_misspelt_setting_is_a_type_error_naming_the_closest(tmp_path):
    with pytest.raises(TypeError, match="unknown setting 'latnet_dim': did you mean 'latent_dim'"):
        explorer.fit("digits", latnet_dim=3, out=tmp_path / "o")
    with pytest.raises(TypeError, match="did you mean 'beta'"):
        explorer.fit("digits", betta=3, out=tmp_path / "o")
    with pytest.raises(ValueError, match="did you mean 'digits'"):
        explorer.fit("digtis", out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_fit_on_a_path(tmp_path):
    x, y = _images()
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    run = explorer.fit(tmp_path / "mine.npz", epochs=1, hidden=[16], out=tmp_path / "run")
    assert run.config.data.name == "file" and run.config.data.path == str(tmp_path / "mine.npz")
    assert run.model.data_shape == (1, 6, 6)


@pytest.mark.parametrize("kind", ["numpy", "tensor", "dataset"])
def test_fit_on_arrays_stores_them_and_their_labels(tmp_path, kind, _isolated_runs):
    x, y = _images()
    if kind == "numpy":
        run = explorer.fit(x, labels=y, epochs=1, hidden=[16], out="from-numpy")
    elif kind == "tensor":                                     # PyTorch's N×C×H×W floats
        run = explorer.fit((torch.from_numpy(x[:, None] / 255.0).float(), torch.from_numpy(y)), epochs=1,
                           hidden=[16], out="from-tensor")
    else:
        np.savez(tmp_path / "f.npz", x=x, y=y)
        ds = data.load(data.DataConfig(name="file", path=str(tmp_path / "f.npz")))
        run = explorer.fit(ds, epochs=1, hidden=[16], out="from-dataset")
    assert run.path.parent == _isolated_runs                   # a plain name: a run id in the runs folder
    stored = Path(run.config.data.path)
    assert stored.is_relative_to(_isolated_runs / "uploads") and stored.suffix == ".npz"
    again = data.load(run.config.data)                          # the run names data that load again
    assert again.x_train.shape[1:] == (1, 6, 6) and again.y_train is not None
    probe = store.load_probe(run.path)
    assert probe is not None and probe[1] is not None
    if kind != "dataset":
        assert torch.equal(again.x_train, data.load(data.DataConfig(name="file", path=str(stored))).x_train)


# ------------------------------------------------------------ Run's methods

def test_open_by_id_and_by_path(digits_run, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(digits_run.path.parent))
    assert explorer.open(digits_run.id).path == digits_run.path
    assert explorer.open(str(digits_run.path)).id == digits_run.id
    shipped = explorer.open("digits-vae-z2-b1")
    assert shipped.config.model.latent_dim == 2 and "Run('digits-vae-z2-b1', finished" in repr(shipped)
    with pytest.raises(ValueError, match="no such run folder"):
        explorer.open("no-such-run")


def test_run_metrics_encode_decode_sample(digits_run):
    run = digits_run
    m = run.metrics
    assert {"step", "recon", "kl", "beta", "loss", "val_recon", "val_kl", "val_elbo"} <= set(m.columns)
    assert len(m) == run.summary["steps"] and m["val_elbo"].notna().sum() == 2
    ds = data.load(run.config.data)
    x = ds.x_val[:7]
    mu, logvar = run.encode(x.numpy())
    assert isinstance(mu, np.ndarray) and mu.shape == logvar.shape == (7, 2)
    want_mu, want_lv = run.model.encode_mean(x)
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=1e-6)
    mu_t, _ = run.encode(x.reshape(7, -1))                      # a flat tensor: a tensor back
    assert isinstance(mu_t, torch.Tensor) and torch.allclose(mu_t, want_mu)
    uint8 = (x.numpy()[:, 0] * 255).round().astype(np.uint8)    # N×H×W, 0..255
    np.testing.assert_allclose(run.encode(uint8).mu, mu, atol=5e-3)    # k/16 pixels, rounded to k/255
    imgs = run.decode(mu)
    assert imgs.shape == (7, 1, 8, 8) and 0 <= imgs.min() and imgs.max() <= 1
    np.testing.assert_allclose(imgs, run.model.decode_mean(torch.from_numpy(mu)).numpy(), atol=1e-6)
    np.testing.assert_allclose(run.reconstruct(x.numpy()), imgs, atol=1e-6)
    s = run.sample(5, seed=3)
    assert s.shape == (5, 1, 8, 8) and np.array_equal(s, run.sample(5, seed=3))
    with pytest.raises(ValueError, match="expected items of shape"):
        run.encode(np.zeros((2, 5)))


def test_run_explore_gives_the_widget_the_apps_component_data(digits_run):
    import onnxruntime as ort
    w = digits_run.explore()
    assert type(w).__name__ == "LatentWidget" and w.z == [0.0, 0.0]
    d = w.data
    assert d["latent_dim"] == 2 and d["out_shape"] == [1, 8, 8] and len(d["sliders"]) == 2
    assert len(d["points"]["xy"]) == 2 * len(d["points"]["labels"]) > 0
    assert [p["name"] for p in d["paths"]] and all(len(p["zs"]) == 25 for p in d["paths"])
    import base64
    sess = ort.InferenceSession(base64.b64decode(w.decoder_b64))
    z = np.array([[0.5, -1.0]], np.float32)
    got = sess.run(None, {"z": z})[0]
    np.testing.assert_allclose(got, digits_run.decode(z), atol=1e-5)
    w.z = [1.0, 2.0]                                             # set from Python: the plane follows
    assert w.data["z"] == [1.0, 2.0]
    from explorer.notebook.widget import ASSETS
    assert w._esm == (ASSETS / "widget.js").read_text() and "as default" in w._esm   # the built adapter


def test_run_export_and_resume(digits_run, tmp_path, monkeypatch):
    out = digits_run.export(tensorboard=tmp_path / "tb", script=tmp_path / "s.py", onnx=tmp_path / "onnx",
                            zip=tmp_path / "r.zip", replay=False)
    assert (tmp_path / "s.py").is_file() and (tmp_path / "onnx" / "decoder.onnx").is_file()
    assert (tmp_path / "r.zip").is_file() and out["tensorboard"]["images"] > 0
    assert (tmp_path / "tb" / digits_run.id / "hparams").is_dir()
    copy = explorer.fit("digits", out=tmp_path / "copy", **SMALL)
    import explorer.resume as resume_mod
    seen = threads_seen(monkeypatch, resume_mod, "resume")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        copy.resume(epochs=3)
        assert seen == [1]                        # the run's threads (its setting, 1), as fit trained it
        assert torch.get_num_threads() == 2       # and the caller's back
    finally:
        torch.set_num_threads(before)
    assert copy.config.train.epochs == 3 and copy.summary["steps"] == 3 * 23
    three = explorer.fit("digits", out=tmp_path / "three", **{**SMALL, "epochs": 3})
    assert list(copy.metrics["loss"]) == list(three.metrics["loss"])


# ------------------------------------------------------------ your own loop

class ExamplesVAE(nn.Module):
    """pytorch/examples' vae/main.py model, smaller (64 pixels: the 8×8 digits)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(64, 48), nn.Linear(48, 2), nn.Linear(48, 2)
        self.fc3, self.fc4 = nn.Linear(2, 48), nn.Linear(48, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def _own_loop(tracker, steps: int = 60):
    torch.manual_seed(0)
    ds = data.load(data.DataConfig(name="digits"))
    model = ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = ds.x_train.view(-1, 64)
    for step in range(1, steps + 1):
        xb = x[(step * 32) % 1400:(step * 32) % 1400 + 32]
        recon_x, mu, logvar = model(xb)
        recon = F.binary_cross_entropy(recon_x, xb, reduction="sum") / len(xb)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(xb)
        opt.zero_grad()
        (recon + kl).backward()
        opt.step()
        tracker.log(step, recon=recon, kl=kl, beta=1.0, epoch=step / 44)
    with torch.no_grad():
        _, mu, logvar = model(ds.x_val.view(-1, 64))
        val_recon = F.binary_cross_entropy(model.decode(mu), ds.x_val.view(-1, 64), reduction="sum") / len(ds.x_val)
    tracker.log(steps, recon=val_recon, kl=0.0, split="val")
    return model, ds


def test_track_a_hand_written_loop_the_app_lists_live_and_explore_opens(page_engine, _isolated_runs):
    tracker = explorer.track("my-loop", config={"dataset": "digits", "latent_dim": 2})
    model, ds = _own_loop(tracker)
    tracker.flush()
    eng = page_engine
    eng.refresh_from_disk()
    e = eng.entry("my-loop")
    assert e is not None and e.status == Status.RUNNING and e.owner == ""       # live, nobody's: read-only
    v = eng.view("my-loop")
    assert [r["step"] for r in v.rows][:3] == [1, 2, 3] and len(v.rows) == 61 and len(v.val_rows) == 1
    assert v.rows[0]["loss"] == pytest.approx(v.rows[0]["recon"] + v.rows[0]["kl"])
    assert e.refusal("control", "someone") is not None
    train = app_factory(str(ROOT / "pages" / "1_Train.py"))(run="my-loop")
    train.run(timeout=120)
    assert_page_ok(train)
    assert any("Training in its own loop" in i.value for i in train.info)              # live, from the loop
    assert any("Read-only" in i.value for i in train.info)                             # anyone's run
    links = [f"{pl.proto.page}?{pl.proto.query_string}" for pl in train.sidebar.get("page_link")
             if "Explore this run" in pl.value]
    assert links and all(t == "Explore?run=my-loop" for t in links)                  # linked to Explore

    tracker.save_model(model.encode, model.decode, ds.x_val[:300].view(-1, 64), labels=ds.y_val[:300],
                       data_shape=(1, 8, 8))
    tracker.close()
    eng.refresh_from_disk()
    assert eng.entry("my-loop").status == Status.FINISHED
    run = explorer.open("my-loop")
    assert run.config.model.kind == "vae" and run.model.data_shape == (1, 8, 8)
    z = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(run.decode(z).reshape(4, -1), model.decode(torch.from_numpy(z)).detach().numpy(),
                               atol=1e-5)
    mu, _ = run.encode(ds.x_val[:5].numpy())
    np.testing.assert_allclose(mu, model.encode(ds.x_val[:5].view(-1, 64))[0].detach().numpy(), atol=1e-5)

    at = app_factory(str(ROOT / "pages" / "2_Explore.py"))(run="my-loop")
    at.run(timeout=120)
    assert_page_ok(at)
    assert at.session_state[explore_state.MODEL_KEY] == "run:my-loop"
    assert any("VAE, 2-D latent" in c.value for c in at.caption)


def test_a_tracked_run_that_stops_writing_is_interrupted(_isolated_runs):
    tracker = explorer.track("stale", config={"dataset": "digits"})
    tracker.log(1, recon=10.0, kl=1.0)
    tracker.flush()
    summary = store.read_summary(tracker.run_dir)
    summary["tracked"]["heartbeat"] = time.time() - 3600
    store.save_summary(tracker.run_dir, summary)
    from explorer.runs import entry_from_folder
    e = entry_from_folder(tracker.run_dir, tracker.config.to_json(), summary, shipped=False, created=0, saved=False)
    assert e.status == Status.INTERRUPTED and "stopped writing" in e.reason


def test_tracker_rows_survive_a_half_written_line(_isolated_runs):
    tracker = explorer.track("rows", config=None)
    for s in range(1, 4):
        tracker.log(s, recon=5.0, kl=0.5, beta=2.0)
    tracker.flush()
    with open(tracker.run_dir / "metrics.csv", "a") as f:
        f.write("4,,,12.")                                       # a row being appended right now
    rows = store.read_metrics(tracker.run_dir)
    assert [r["step"] for r in rows] == [1, 2, 3] and rows[0]["beta_kl"] == 1.0 and rows[0]["loss"] == 6.0
    assert tracker.config.data.name == "file"                    # "your own training loop"
    with pytest.raises(ValueError, match="split"):
        tracker.log(5, recon=1.0, split="test")
    with pytest.raises(FileExistsError):
        explorer.track("rows")


def test_save_model_takes_what_the_browser_runs_and_exports_it(_isolated_runs, tmp_path):
    from explorer.export.onnx_check import OnnxError
    tracker = explorer.track("bad-model")
    tracker.log(1, recon=40.0, kl=2.0)
    enc = nn.Sequential(nn.Linear(64, 4), nn.Tanh())
    dec = nn.Sequential(nn.Linear(4, 64), nn.Sigmoid())
    with pytest.raises(OnnxError, match="Tanh"):
        tracker.save_model(enc, dec, torch.rand(8, 64))
    conv = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(64, 4))
    updec = nn.Sequential(nn.Linear(2, 4 * 4 * 4), nn.Unflatten(1, (4, 4, 4)),
                          nn.ConvTranspose2d(4, 1, 2, stride=2))
    encoder = ChunkEncoder(conv)                                 # takes flat 64-vectors
    tracker.save_model(encoder, updec, torch.rand(8, 64), data_shape=(1, 8, 8))
    run = explorer.open("bad-model")
    assert run.model.kind == "vae" and run.summary["tracked"]["model"]["decoder_gives"] == "logits"
    x = torch.rand(3, 64)
    with torch.no_grad():
        mu, logvar = encoder(x)
        np.testing.assert_allclose(run.encode(x).logvar.numpy(), logvar.numpy(), atol=1e-5)
        np.testing.assert_allclose(run.decode(mu.numpy()), torch.sigmoid(updec(mu)).numpy(), atol=1e-5)
    tracker.close()
    out = run.export(onnx=tmp_path / "onnx", tensorboard=tmp_path / "tb")
    assert (tmp_path / "onnx" / "decoder.onnx").read_bytes() == (run.path / "model.decoder.onnx").read_bytes()
    assert out["tensorboard"]["images"] == 2 and out["tensorboard"]["embedded"] == 8
    with pytest.raises(ValueError, match="your own loop"):
        run.export(script=tmp_path / "s.py")
    with pytest.raises(ValueError, match="export its ONNX files"):
        run.export(zip=tmp_path / "r.zip")


class ChunkEncoder(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        mu, logvar = self.body(x).chunk(2, dim=-1)
        return mu, logvar


def test_live_outside_a_notebook_is_a_progress_bar_and_changes_nothing(tmp_path, capsys):
    a = explorer.fit("digits", out=tmp_path / "a", live=True, **SMALL)
    err = capsys.readouterr().err
    assert "step 46/46" in err and "recon" in err
    b = explorer.fit("digits", out=tmp_path / "b", **SMALL)
    assert list(a.metrics["loss"]) == list(b.metrics["loss"])


def test_live_view_sends_curves_and_the_plane(tmp_path):
    from explorer.notebook.live import LiveView
    from explorer.training import fit
    cfg = explorer.options.config_from(SMALL)
    ds = data.load(cfg.data)
    view = LiveView(cfg, ds, tmp_path / "run")
    view.bar = None                                              # as in a notebook
    _, _, summary = fit(cfg, ds, tmp_path / "run", on_row=view)
    view.close(summary)
    w = view.widget
    assert w.kind == "live" and len(w.rows["step"]) == 46 and len(w.rows["val_step"]) == 2
    assert w.rows["val_recon"][-1] == pytest.approx(store.read_metrics(tmp_path / "run")[-1]["val_recon"])
    assert len(w.data["points"]["xy"]) == 2 * min(1000, len(ds.x_val)) and w.decoder_b64
    assert w.status.startswith("run: finished · validation ELBO")
