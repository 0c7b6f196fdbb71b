"""TensorBoard export (explorer.export.tensorboard): the event files are read back with
TensorBoard's own EventAccumulator and every value compared with the run's metrics.csv;
images, text and the embedding projector set against the model that wrote them."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import cli, data, store
from explorer.config import RunConfig
from explorer.export import tensorboard
from explorer.training import fit

ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
BETA_CHANGE_STEP, NEW_BETA = 30, 2.5


def _accumulator(folder):
    acc = ea_mod.EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _train(run_dir, kind="vae", epochs=3):
    """A small digits run whose β is changed live at step 30 (an event in its summary), with
    a stored probe set."""
    torch.manual_seed(0)
    cfg = RunConfig.from_dict({"model": {"kind": kind, "hidden": [32, 16]},
                               "train": {"epochs": epochs, "batch_size": 64, "beta_schedule": "constant"}})
    ds = data.load(cfg.data)

    def on_row(row, trainer):
        if row["step"] == BETA_CHANGE_STEP and kind == "vae":
            trainer.set_beta(NEW_BETA)
    trainer, rows, summary = fit(cfg, ds, run_dir, on_row=on_row)
    store.save_probe(run_dir, ds.x_val[:300], ds.y_val[:300], ds.class_names)
    return trainer, ds


def _csv_rows(run_dir):
    with open(run_dir / store.METRICS) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tb-vae"
    torch.set_num_threads(1)
    trainer, ds = _train(run_dir)
    return run_dir, trainer, ds


def test_every_scalar_matches_metrics_csv(vae_run, tmp_path):
    run_dir, trainer, _ = vae_run
    report = tensorboard.write_tensorboard(run_dir, tmp_path / "tb")
    assert report.folder == tmp_path / "tb" / run_dir.name
    tr, va = _accumulator(report.folder / "training"), _accumulator(report.folder / "validation")
    rows = _csv_rows(run_dir)
    assert len(rows) == trainer.step_count                       # one row per step (log_every = 1)
    checked = 0
    for column, (which, tag) in tensorboard.TAGS.items():
        acc = tr if which == tensorboard.TRAINING else va
        want = [(int(float(r["step"])), float(r[column])) for r in rows if r.get(column, "") != ""]
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in want], column
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6, atol=1e-6,
                                   err_msg=column)
        checked += len(want)
    # the app's derived values: training ELBO, validation β·KL and total (β of that row)
    val = [r for r in rows if r["val_kl"] != ""]
    assert len(val) == 3                                           # one per epoch end
    for tag, f in (("beta_kl", lambda r: float(r["beta"]) * float(r["val_kl"])),
                   ("total", lambda r: float(r["val_recon"]) + float(r["beta"]) * float(r["val_kl"]))):
        np.testing.assert_allclose([e.value for e in va.Scalars(tag)], [f(r) for r in val], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in tr.Scalars("elbo")],
                               [-(float(r["recon"]) + float(r["kl"])) for r in rows], rtol=1e-6, atol=1e-6)
    assert report.scalars == checked + 2 * len(val) + len(rows) + 1    # + the one β change
    # the β change: an event at its step, and the per-step β jumps there
    assert [(e.step, e.value) for e in tr.Scalars("changes/beta")] == [(BETA_CHANGE_STEP, NEW_BETA)]
    betas = {e.step: e.value for e in tr.Scalars("beta")}
    assert betas[BETA_CHANGE_STEP] == 1.0 and betas[BETA_CHANGE_STEP + 1] == NEW_BETA
    # the training and validation runs use the same tags for the four terms (one chart each)
    for term in ("recon", "kl", "beta_kl", "total"):
        assert term in tr.Tags()["scalars"] and term in va.Tags()["scalars"]


def test_text_images_and_projector(vae_run, tmp_path):
    run_dir, trainer, ds = vae_run
    report = tensorboard.write_tensorboard(run_dir, tmp_path / "tb")
    tr, va = _accumulator(report.folder / "training"), _accumulator(report.folder / "validation")
    config_text = tr.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(config_text.strip("`\njson")) == json.loads(store.read_config(run_dir).to_json())
    assert f"step {BETA_CHANGE_STEP}: β → {NEW_BETA:g}" in \
        tr.Tensors("changes/text_summary")[0].tensor_proto.string_val[0].decode()

    # without a replay: the final model's images, at the last step, exactly what it draws
    assert report.images_from == "final" and report.image_steps == [trainer.step_count]
    model = store.load_model(run_dir, device="cpu")
    probe_x = store.load_probe(run_dir)[0]
    z = torch.randn(tensorboard.N_IMAGES, model.latent_dim, generator=torch.Generator().manual_seed(0))
    want = tensorboard.epoch_images(model, probe_x[:tensorboard.N_IMAGES], z)
    for tag in ("reconstructions", "prior_samples"):
        (event,) = va.Images(tag)
        assert event.step == trainer.step_count
        img = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("L"), np.float32) / 255
        expected = want[tag][0]
        assert img.shape == expected.shape and img.std() > 0.05          # not blank
        assert np.abs(img - expected).max() <= 1 / 255 + 1e-6
    # reconstructions: 2 rows (originals above reconstructions) of 8 tiles of 8x8 (+1 px pad), enlarged
    scale = max(1, 96 // 8)
    assert want["reconstructions"].shape[1:] == ((2 * 2 * 9 + 1) * scale, (8 * 9 + 1) * scale)

    # the projector: the probe's latent means, their labels and a sprite of the images
    pbtxt = (report.folder / "validation" / "projector_config.pbtxt").read_text()
    assert "latent_means" in pbtxt and "sprite" in pbtxt
    emb = report.folder / "validation" / f"{trainer.step_count:05d}" / "latent_means"
    mu = np.loadtxt(emb / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(mu, model.encode_mean(probe_x)[0].numpy(), rtol=1e-4, atol=1e-4)
    labels = (emb / "metadata.tsv").read_text().split("\n")[:len(mu)]
    assert labels == [ds.class_names[int(i)] for i in ds.y_val[:300]]
    sprite = Image.open(emb / "sprite.png")
    assert sprite.size == (18 * 8, 18 * 8)                         # ceil(sqrt(300)) = 18 per row
    assert report.embedded == 300


def test_replay_draws_every_epoch_and_matches_the_record(vae_run, tmp_path):
    run_dir, trainer, _ = vae_run
    report = tensorboard.write_tensorboard(run_dir, tmp_path / "tb", replay=True)
    steps = [s for s in range(1, trainer.step_count + 1) if s % trainer.steps_per_epoch == 0]
    assert report.images_from == "replay" and report.image_steps == steps
    # the replay re-applies the β change at its step: on this machine it retraces the run
    assert report.replay_gap is not None and report.replay_gap < 1e-4
    va = _accumulator(report.folder / "validation")
    assert [e.step for e in va.Images("reconstructions")] == steps
    assert [e.step for e in va.Images("prior_samples")] == steps
    first, last = (np.asarray(Image.open(io.BytesIO(e.encoded_image_string)).convert("L"), np.float32)
                   for e in (va.Images("prior_samples")[0], va.Images("prior_samples")[-1]))
    assert np.abs(first - last).mean() > 1.0                       # the samples change as it learns
    note = va.Tensors("images/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "replaying the run" in note


def test_an_autoencoder_has_no_kl_or_elbo_tags(tmp_path):
    run_dir = tmp_path / "runs" / "tb-ae"
    _train(run_dir, kind="ae", epochs=1)
    report = tensorboard.write_tensorboard(run_dir, tmp_path / "tb")
    tr, va = _accumulator(report.folder / "training"), _accumulator(report.folder / "validation")
    for acc in (tr, va):
        assert not {"kl", "beta_kl", "elbo", "beta"} & set(acc.Tags()["scalars"])
        assert "recon" in acc.Tags()["scalars"]
    assert any("no KL term, no β and no ELBO" in n for n in report.notes)


def test_cli_and_zip(vae_run, tmp_path, capsys):
    run_dir, trainer, _ = vae_run
    out = tmp_path / "logs"
    assert cli.main(["export", str(run_dir), "--tensorboard", str(out), "--no-replay", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["tensorboard"]["images_from"] == "final" and res["tensorboard"]["embedded"] == 300
    assert (out / run_dir.name / "training").is_dir()
    # a second export replaces the first; a folder that is not an export is left alone
    assert cli.main(["export", str(run_dir), "--tensorboard", str(out), "--no-replay"]) == 0
    (tmp_path / "other" / run_dir.name).mkdir(parents=True)
    (tmp_path / "other" / run_dir.name / "notes.txt").write_text("mine")
    assert cli.main(["export", str(run_dir), "--tensorboard", str(tmp_path / "other"), "--no-replay"]) == 2
    assert "not an earlier TensorBoard export" in capsys.readouterr().err
    assert (tmp_path / "other" / run_dir.name / "notes.txt").read_text() == "mine"

    with zipfile.ZipFile(io.BytesIO(tensorboard.tensorboard_zip(run_dir))) as zf:
        names = zf.namelist()
        extract = tmp_path / "unzipped"
        zf.extractall(extract)
    assert f"{run_dir.name}/README.txt" in names
    assert any(n.startswith(f"{run_dir.name}/training/events.out.tfevents") for n in names)
    recon = _accumulator(extract / run_dir.name / "training").Scalars("recon")
    assert len(recon) == trainer.step_count
