"""The standard 28×28 datasets at full size pass the app's default limits, on both paths a
user takes: a file already on the server (in the data folder) and an upload. The upload
limit (bytes sent) and the dataset limit (bytes unpacked) are separate settings."""
from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import app_test

from explorer import data, settings
from explorer.config import DataConfig

PAGE = "pages/1_Train.py"


def full_size_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """60,000 + 10,000 images of 28×28, uint8 (52.3 MiB unpacked, as MNIST), sparse strokes."""
    rng = np.random.default_rng(seed)
    x = np.zeros((70_000, 28, 28), np.uint8)
    rows = rng.integers(4, 24, size=(70_000, 3))
    for k in range(3):
        x[np.arange(70_000), rows[:, k], 6:22] = 200
    y = rng.integers(0, 10, 70_000).astype(np.uint8)
    return {"x_train": x[:60_000], "y_train": y[:60_000], "x_test": x[60_000:], "y_test": y[60_000:]}


@pytest.fixture(scope="module")
def npz_bytes():
    buf = io.BytesIO()
    np.savez_compressed(buf, **full_size_arrays())
    return buf.getvalue()


def test_the_default_limits_take_full_mnist_and_name_their_settings(tmp_path, npz_bytes):
    s = settings.get()
    assert len(npz_bytes) < s.upload_bytes                         # uploads: 50 MiB sent
    path = tmp_path / "mnist.npz"
    path.write_bytes(npz_bytes)
    ds = data.load(DataConfig(name="mnist", path=str(path)), max_bytes=s.dataset_bytes)
    assert ds.x_train.shape == (60_000, 1, 28, 28) and ds.x_val.shape == (10_000, 1, 28, 28)
    with pytest.raises(data.DataError, match="LATENT_EXPLORER_DATASET_MB"):   # a smaller limit says which
        data.load(DataConfig(name="mnist", path=str(path)), max_bytes=50 * 2**20)


def test_mnist_in_the_data_folder_trains_from_the_train_page(page_engine, tmp_path, npz_bytes, monkeypatch):
    folder = tmp_path / "data-cache"                # LATENT_EXPLORER_DATA (conftest)
    folder.mkdir(exist_ok=True)
    (folder / "mnist.npz").write_bytes(npz_bytes)
    at = app_test(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    at.sidebar.text_input(key="data_path").set_value("mnist.npz")   # relative to the data folder
    at.sidebar.number_input(key="subset").set_value(200)
    at.sidebar.number_input(key="epochs").set_value(1)
    at.sidebar.text_input(key="hidden").set_value("16")
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rid = at.session_state["train_run"]
    assert page_engine.wait(rid, 240) == "finished", page_engine.view(rid).reason
    v = page_engine.view(rid)
    assert v.info.n_train == 200 and v.info.n_val == 10_000 and v.info.class_names[0] == "0"


def test_a_full_size_npz_upload_is_accepted(page_engine, npz_bytes):
    at = app_test(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="dataset").set_value("file").run()
    at.sidebar.get("file_uploader")[0].set_value(("fashion.npz", npz_bytes, "application/octet-stream")).run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    assert at.sidebar.selectbox(key="upload_pick").value == "fashion.npz"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "60,000 training / 10,000 validation images of 1×28×28" in captions
