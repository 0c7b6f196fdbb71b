"""Tests for explorer.data: every source, the split/subset/binarise steps and input validation.

All files are written by the tests themselves; nothing needs network access or
/work/shared/data.
"""
from __future__ import annotations

import gzip
import pathlib
import re
import struct
import zipfile

import numpy as np
import pooch
import pytest
import torch

from explorer import data
from explorer.config import DATASETS_TOY, DataConfig
from explorer.data import (DEFAULT_MAX_BYTES, DataError, Dataset, binarize, check_array_file, describe, load,
                           load_array_file)

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ------------------------------------------------------------------ helpers

def idx_bytes(a: np.ndarray) -> bytes:
    """An IDX file: two zero bytes, type code 0x08, ndim, big-endian dims, data."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def write_idx_folder(folder: pathlib.Path, arrays: dict[str, np.ndarray], gz: tuple[bool, ...]) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("x_train", "y_train", "x_test", "y_test")
    for name, key, zipped in zip(IDX_NAMES, keys, gz):
        raw = idx_bytes(arrays[key])
        if zipped:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return folder


def as_unit(x: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W → the float32 N×1×H×W tensor the loader should produce."""
    return torch.from_numpy(x.astype(np.float32) / 255)[:, None]


def rows(t: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in t}


@pytest.fixture
def mnist_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(123)
    return {
        "x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 30).astype(np.uint8),
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 10).astype(np.uint8),
    }


class Tripwire:
    """Creates a marker file if it is ever unpickled."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


# ------------------------------------------------------------------- digits

def test_digits_shapes_range_and_labels():
    ds = load(DataConfig(name="digits", val_fraction=0.2, split_seed=0))
    assert ds.x_train.shape[1:] == (1, 8, 8) and ds.x_val.shape[1:] == (1, 8, 8)
    assert len(ds.x_train) + len(ds.x_val) == 1797
    assert len(ds.x_val) == round(1797 * 0.2)
    for x in (ds.x_train, ds.x_val):
        assert x.dtype == torch.float32 and x.is_contiguous()
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    # pixels were 0..16, so every value is a multiple of 1/16
    assert torch.equal(ds.x_train * 16, (ds.x_train * 16).round())
    assert ds.y_train.dtype == torch.int64 and len(ds.y_train) == len(ds.x_train)
    assert set(ds.y_train.tolist()) == set(range(10))
    assert ds.class_names == [str(d) for d in range(10)]
    assert ds.image_shape == (1, 8, 8) and ds.is_image and ds.dim == 64 and ds.n_classes == 10
    assert ds.data_shape == (1, 8, 8)
    assert re.fullmatch(r"[0-9a-f]{64}", ds.checksum)


def test_digits_split_reproducible_by_seed_and_different_for_another():
    a = load(DataConfig(name="digits", split_seed=5))
    b = load(DataConfig(name="digits", split_seed=5))
    c = load(DataConfig(name="digits", split_seed=6))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_val, c.x_val)
    # a split partitions the same images, and the checksum is of the source, not the split
    total = float(a.x_train.sum() + a.x_val.sum())
    assert float(c.x_train.sum() + c.x_val.sum()) == pytest.approx(total)
    assert a.checksum == c.checksum


def test_val_fraction_sets_split_size():
    ds = load(DataConfig(name="digits", val_fraction=0.5))
    assert len(ds.x_val) in (898, 899)


def test_subset_is_reproducible_and_drawn_from_training_split():
    full = load(DataConfig(name="digits", split_seed=3))
    a = load(DataConfig(name="digits", split_seed=3, subset=100))
    b = load(DataConfig(name="digits", split_seed=3, subset=100))
    assert a.x_train.shape == (100, 1, 8, 8) and a.y_train.shape == (100,)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert rows(a.x_train) <= rows(full.x_train)
    assert torch.equal(a.x_val, full.x_val)          # validation is untouched
    assert a.checksum == full.checksum
    other = load(DataConfig(name="digits", split_seed=4, subset=100))
    assert not torch.equal(a.x_train, other.x_train)


def test_subset_larger_than_training_split_is_an_error():
    with pytest.raises(DataError, match="subset 5000 is larger than the 1438 training images"):
        load(DataConfig(name="digits", subset=5000))


def test_invalid_config_is_a_data_error():
    with pytest.raises(DataError, match="val_fraction"):
        load(DataConfig(name="digits", val_fraction=2.0))


# ---------------------------------------------------------------- MNIST/IDX

@pytest.mark.parametrize("gz", [(True,) * 4, (False,) * 4, (True, False, False, True)],
                         ids=["gz", "raw", "mixed"])
def test_idx_folder_round_trip(tmp_path, mnist_arrays, gz):
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, gz)
    ds = load(DataConfig(name="mnist", path=str(folder), val_fraction=0.5, binarize="none"))
    assert torch.equal(ds.x_train, as_unit(mnist_arrays["x_train"]))
    assert torch.equal(ds.x_val, as_unit(mnist_arrays["x_test"]))      # official test split; val_fraction ignored
    assert torch.equal(ds.y_train, torch.from_numpy(mnist_arrays["y_train"].astype(np.int64)))
    assert torch.equal(ds.y_val, torch.from_numpy(mnist_arrays["y_test"].astype(np.int64)))
    assert ds.y_train.dtype == torch.int64 and ds.x_train.dtype == torch.float32
    assert ds.image_shape == (1, 28, 28) and ds.class_names == [str(d) for d in range(10)]


def test_npz_in_mnist_layout_matches_idx_and_has_same_checksum(tmp_path, mnist_arrays):
    npz = tmp_path / "mnist.npz"
    np.savez_compressed(npz, **mnist_arrays, source=np.array("test data"))
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (True,) * 4)
    from_npz = load(DataConfig(name="mnist", path=str(npz)))
    from_idx = load(DataConfig(name="mnist", path=str(folder)))
    assert torch.equal(from_npz.x_train, as_unit(mnist_arrays["x_train"]))
    assert torch.equal(from_npz.x_val, from_idx.x_val) and torch.equal(from_npz.y_train, from_idx.y_train)
    assert from_npz.checksum == from_idx.checksum


def test_fashion_mnist_class_names(tmp_path, mnist_arrays):
    npz = tmp_path / "fashion.npz"
    np.savez(npz, **mnist_arrays)
    ds = load(DataConfig(name="fashion-mnist", path=str(npz)))
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[-1] == "Ankle boot"
    assert len(ds.class_names) == 10


def test_mnist_subset_and_threshold(tmp_path, mnist_arrays):
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (False,) * 4)
    ds = load(DataConfig(name="mnist", path=str(folder), subset=7, binarize="threshold", threshold=0.5))
    assert ds.x_train.shape == (7, 1, 28, 28)
    assert rows(ds.x_train) <= rows((as_unit(mnist_arrays["x_train"]) > 0.5).float())
    assert torch.equal(ds.x_val, (as_unit(mnist_arrays["x_test"]) > 0.5).float())


def _corrupt(kind: str, raw: bytes) -> bytes:
    if kind == "bad magic":
        return b"\x01" + raw[1:]
    if kind == "wrong type":
        return raw[:2] + b"\x0d" + raw[3:]
    if kind == "truncated":
        return raw[:-10]
    if kind == "extra bytes":
        return raw + b"\x00" * 3
    if kind == "header only":
        return raw[:6]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("bad magic", "bad magic number"),
    ("wrong type", "only unsigned bytes"),
    ("truncated", "is truncated"),
    ("extra bytes", "extra bytes"),
    ("header only", "broken IDX header"),
])
@pytest.mark.parametrize("zipped", [False, True], ids=["raw", "gz"])
def test_corrupt_idx_is_a_data_error(tmp_path, mnist_arrays, kind, message, zipped):
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (False,) * 4)
    images = folder / IDX_NAMES[0]
    bad = _corrupt(kind, images.read_bytes())
    if zipped:
        images.unlink()
        images = folder / (IDX_NAMES[0] + ".gz")
        bad = gzip.compress(bad)
    images.write_bytes(bad)
    with pytest.raises(DataError, match=message):
        load(DataConfig(name="mnist", path=str(folder)))


def test_truncated_gzip_is_a_data_error(tmp_path, mnist_arrays):
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (True,) * 4)
    gz = folder / (IDX_NAMES[2] + ".gz")
    gz.write_bytes(gz.read_bytes()[:100])
    with pytest.raises(DataError, match="corrupt"):
        load(DataConfig(name="mnist", path=str(folder)))


def test_label_count_mismatch_in_idx(tmp_path, mnist_arrays):
    mnist_arrays["y_train"] = mnist_arrays["y_train"][:-1]
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (False,) * 4)
    with pytest.raises(DataError, match="29 labels for 30 examples"):
        load(DataConfig(name="mnist", path=str(folder)))


def test_mnist_labels_out_of_range(tmp_path, mnist_arrays):
    mnist_arrays["y_test"][0] = 10
    npz = tmp_path / "m.npz"
    np.savez(npz, **mnist_arrays)
    with pytest.raises(DataError, match=r"0\.\.9"):
        load(DataConfig(name="mnist", path=str(npz)))


def test_idx_folder_missing_a_file(tmp_path, mnist_arrays):
    folder = write_idx_folder(tmp_path / "idx", mnist_arrays, (True,) * 4)
    (folder / (IDX_NAMES[3] + ".gz")).unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        load(DataConfig(name="mnist", path=str(folder)))


def test_npz_missing_keys(tmp_path, mnist_arrays):
    npz = tmp_path / "m.npz"
    np.savez(npz, x_train=mnist_arrays["x_train"], y_train=mnist_arrays["y_train"])
    with pytest.raises(DataError, match="lacks the array.*x_test, y_test"):
        load(DataConfig(name="mnist", path=str(npz)))


@pytest.mark.parametrize("path, message", [("nowhere", "does not exist"), ("file.txt", "neither an .npz")])
def test_mnist_bad_path(tmp_path, path, message):
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(DataError, match=message):
        load(DataConfig(name="mnist", path=str(tmp_path / path)))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_without_cache_says_where_to_put_files(tmp_path, monkeypatch, name):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError) as err:
        load(DataConfig(name=name), cache_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / name) in message
    for file_name in IDX_NAMES:
        assert file_name in message
    assert "data.path" in message and "could not download it" in message
    assert "LATENT_EXPLORER_DATA" in message and "no network" not in message   # what to do, not the exception


@pytest.mark.parametrize("name, base_url", [
    ("mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    ("fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
])
def test_download_into_cache_then_reuse(tmp_path, monkeypatch, mnist_arrays, name, base_url):
    payload = dict(zip((n + ".gz" for n in IDX_NAMES),
                       (gzip.compress(idx_bytes(mnist_arrays[k])) for k in ("x_train", "y_train", "x_test", "y_test"))))
    calls = []

    def fake_retrieve(url, known_hash, fname=None, path=None, progressbar=False):
        calls.append((url, known_hash, fname))
        target = pathlib.Path(path) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload[fname])
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    ds = load(DataConfig(name=name), cache_dir=tmp_path)
    assert sorted(c[2] for c in calls) == sorted(payload)
    for url, known_hash, fname in calls:
        assert url == base_url + fname
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", known_hash)
    assert (tmp_path / name / "train-images-idx3-ubyte.gz").is_file()
    assert torch.equal(ds.x_train, as_unit(mnist_arrays["x_train"]))

    calls.clear()
    again = load(DataConfig(name=name), cache_dir=tmp_path)
    assert calls == [] and torch.equal(again.x_val, ds.x_val)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    assert data.default_cache_dir() == tmp_path
    monkeypatch.delenv("LATENT_EXPLORER_DATA")
    assert data.default_cache_dir() == pathlib.Path.home() / ".cache" / "latent-explorer"


# ----------------------------------------------------------------- toy sets

TOY_CLASSES = {"moons": 2, "circles": 2, "swissroll": 6, "pinwheel": 5, "gaussians": 8}


@pytest.mark.parametrize("name", DATASETS_TOY)
def test_toy_sets(name):
    cfg = DataConfig(name=name, n_points=1000, noise=0.05, split_seed=1, val_fraction=0.25)
    ds = load(cfg)
    assert ds.x_train.shape == (750, 2) and ds.x_val.shape == (250, 2)
    x = torch.cat([ds.x_train, ds.x_val])
    assert x.dtype == torch.float32 and ds.x_train.is_contiguous()
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # the longer axis spans exactly the [0.05, 0.95] margin box
    spans = x.max(0).values - x.min(0).values
    assert float(spans.max()) == pytest.approx(0.9, abs=1e-5)
    assert float(x.min(0).values.min()) == pytest.approx(0.05, abs=1e-5)
    y = torch.cat([ds.y_train, ds.y_val])
    assert y.dtype == torch.int64
    assert set(y.tolist()) == set(range(TOY_CLASSES[name])) == set(range(ds.n_classes))
    assert len(ds.class_names) == ds.n_classes
    assert not ds.is_image and ds.image_shape is None and ds.dim == 2 and ds.data_shape == (2,)
    assert torch.equal(load(cfg).x_train, ds.x_train)
    other = load(DataConfig(name=name, n_points=1000, noise=0.05, split_seed=2, val_fraction=0.25))
    assert not torch.equal(other.x_train, ds.x_train) and other.checksum != ds.checksum


def test_toy_labels_follow_geometry():
    ds = load(DataConfig(name="gaussians", n_points=800, noise=0.01))
    for k in range(8):
        members = ds.x_train[ds.y_train == k]
        assert float(members.std(0).max()) < 0.05       # each component is one tight cluster
    circles = load(DataConfig(name="circles", n_points=800, noise=0.0))
    radius = (torch.cat([circles.x_train, circles.x_val]) - 0.5).norm(dim=1)
    labels = torch.cat([circles.y_train, circles.y_val])
    assert float(radius[labels == 1].max()) < float(radius[labels == 0].min())  # inner vs outer


@pytest.mark.parametrize("mode", ["dynamic", "threshold"])
def test_binarising_toys_is_an_error(mode):
    with pytest.raises(DataError, match="binarisation is for images"):
        load(DataConfig(name="moons", binarize=mode))


# ---------------------------------------------------------------- own files

def test_own_npz_uint8_images_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 12, 10), dtype=np.uint8)
    y = rng.choice([3, 7], 40)
    path = tmp_path / "own.npz"
    np.savez(path, x=x, y=y)
    xa, ya = load_array_file(path)
    assert xa.dtype == np.float32 and xa.shape == (40, 1, 12, 10)
    np.testing.assert_array_equal(xa, x[:, None].astype(np.float32) / 255)
    np.testing.assert_array_equal(ya, y)

    ds = load(DataConfig(name="file", path=str(path), val_fraction=0.25))
    assert ds.x_train.shape == (30, 1, 12, 10) and ds.x_val.shape == (10, 1, 12, 10)
    assert ds.image_shape == (1, 12, 10)
    assert ds.class_names == ["3", "7"]                 # relabelled to 0..K-1
    assert set(torch.cat([ds.y_train, ds.y_val]).tolist()) == {0, 1}
    assert rows(torch.cat([ds.x_train, ds.x_val])) == rows(torch.from_numpy(xa))


def test_own_float_rgb_npy(tmp_path):
    x = np.random.default_rng(1).random((6, 5, 4, 3))
    path = tmp_path / "rgb.npy"
    np.save(path, x)
    xa, ya = load_array_file(path)
    assert ya is None and xa.shape == (6, 3, 5, 4) and xa.dtype == np.float32
    np.testing.assert_array_equal(xa, x.transpose(0, 3, 1, 2).astype(np.float32))
    ds = load(DataConfig(name="file", path=str(path)))
    assert ds.y_train is None and ds.class_names is None and ds.n_classes == 0
    assert ds.image_shape == (3, 5, 4)


def test_own_rgba_drops_alpha(tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (4, 6, 6, 4), dtype=np.uint8)
    path = tmp_path / "rgba.npy"
    np.save(path, x)
    xa, _ = load_array_file(path)
    assert xa.shape == (4, 3, 6, 6)
    np.testing.assert_array_equal(xa, x[..., :3].transpose(0, 3, 1, 2).astype(np.float32) / 255)


def test_own_npz_with_test_split(tmp_path, mnist_arrays):
    path = tmp_path / "split.npz"
    np.savez(path, **mnist_arrays)
    ds = load(DataConfig(name="file", path=str(path), val_fraction=0.5))
    assert torch.equal(ds.x_train, as_unit(mnist_arrays["x_train"]))
    assert torch.equal(ds.x_val, as_unit(mnist_arrays["x_test"]))


def test_own_file_checksum_follows_content(tmp_path):
    x = np.random.default_rng(3).integers(0, 256, (5, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x)
    x[0, 0, 0] ^= 1
    np.save(tmp_path / "c.npy", x)
    a, b, c = (load(DataConfig(name="file", path=str(tmp_path / f"{n}.npy"))).checksum for n in "abc")
    assert a == b != c


def test_own_csv_with_label_column(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a, b,const,Label\n1,10,5,0\n3,30,5,2\n2,20,5,2\n\n5,0,5,0\n")
    x, y = load_array_file(path)
    assert x.shape == (4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], [0, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(x[:, 1], [1 / 3, 1.0, 2 / 3, 0.0])
    np.testing.assert_array_equal(x[:, 2], 0.0)          # a constant column is fine
    np.testing.assert_array_equal(y, [0, 2, 2, 0])
    assert y.dtype == np.int64
    ds = load(DataConfig(name="file", path=str(path), val_fraction=0.25))
    assert ds.x_train.shape == (3, 3) and ds.x_val.shape == (1, 3)
    assert not ds.is_image and ds.class_names == ["0", "2"]


def test_own_csv_without_header(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("0.5,1\n1.5,2\n1.0,3\n")
    x, y = load_array_file(path)
    assert y is None
    np.testing.assert_allclose(x, [[0, 0], [1, 0.5], [0.5, 1]])


def test_binarising_csv_is_an_error(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("0.5,1\n1.5,2\n1.0,3\n")
    with pytest.raises(DataError, match="binarisation is for images"):
        load(DataConfig(name="file", path=str(path), binarize="threshold"))


def _zip(path: pathlib.Path, member: str, content: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, content)


BAD_FILES = {
    "missing": ("gone.npz", lambda p: None, "does not exist"),
    "extension": ("pics.txt", lambda p: p.write_text("1,2"), "unsupported file type .txt"),
    "empty array": ("e.npy", lambda p: np.save(p, np.zeros((0, 8, 8), np.uint8)), "empty"),
    "one image": ("one.npy", lambda p: np.save(p, np.zeros((1, 8, 8), np.uint8)), "at least 2"),
    "2-D array": ("flat.npy", lambda p: np.save(p, np.zeros((10, 64), np.uint8)), r"N×H×W.*\.csv"),
    "5-D array": ("deep.npy", lambda p: np.save(p, np.zeros((2, 2, 2, 2, 2), np.uint8)), "5 axes"),
    "too small": ("thin.npy", lambda p: np.save(p, np.zeros((4, 1, 8), np.uint8)), "between 2 and 256"),
    "too big": ("huge.npy", lambda p: np.save(p, np.zeros((2, 300, 4), np.uint8)), "300×4 pixels"),
    "channels first": ("chw.npy", lambda p: np.save(p, np.zeros((4, 3, 8, 8), np.uint8)), "transpose"),
    "strings": ("s.npy", lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]])[None].repeat(3, 0)),
                "must be numbers"),
    "nan": ("nan.npy", lambda p: np.save(p, np.full((3, 4, 4), np.nan)), "NaN"),
    "inf": ("inf.npy", lambda p: np.save(p, np.full((3, 4, 4), np.inf)), "NaN or infinite"),
    "float range": ("f.npy", lambda p: np.save(p, np.linspace(0, 255, 48).reshape(3, 4, 4)),
                    r"\[0, 1\], found 0\.\.255"),
    "int range": ("i.npy", lambda p: np.save(p, np.full((3, 4, 4), 300, np.int16)), r"0\.\.255, found 300"),
    "label count": ("lc.npz", lambda p: np.savez(p, x=np.zeros((4, 4, 4), np.uint8), y=np.arange(3)),
                    "3 labels for 4 examples"),
    "float labels": ("fl.npz", lambda p: np.savez(p, x=np.zeros((4, 4, 4), np.uint8), y=np.array([0, 1, 0.5, 1])),
                     "whole numbers, found 0.5"),
    "text labels": ("tl.npz", lambda p: np.savez(p, x=np.zeros((2, 4, 4), np.uint8), y=np.array(["a", "b"])),
                    "whole numbers"),
    "2-D labels": ("l2.npz", lambda p: np.savez(p, x=np.zeros((2, 4, 4), np.uint8), y=np.zeros((2, 2))),
                   "flat list"),
    "test labels missing": ("tm.npz", lambda p: np.savez(p, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1],
                                                         x_test=np.zeros((2, 4, 4), np.uint8)),
                            "no 'y_test'"),
    "test size differs": ("ts.npz", lambda p: np.savez(p, x_train=np.zeros((2, 4, 4), np.uint8),
                                                       x_test=np.zeros((2, 5, 4), np.uint8)),
                          "same image size"),
    "ambiguous npz": ("amb.npz", lambda p: np.savez(p, a=np.zeros((2, 4, 4)), b=np.zeros((2, 4, 4))),
                      "cannot tell which array"),
    "empty npz": ("none.npz", lambda p: np.savez(p), "holds no arrays"),
    "not a zip": ("fake.npz", lambda p: p.write_bytes(b"hello, not a zip"), "not a valid .npz"),
    "zip not npz": ("zip.npz", lambda p: _zip(p, "x.npy", b"plain text"), "'x' is not a NumPy array"),
    "broken npy in zip": ("bz.npz", lambda p: _zip(p, "x.npy", b"\x93NUMPY\x01\x00garbage"),
                          "cannot be read safely"),
    "not npy": ("fake.npy", lambda p: p.write_bytes(b"just bytes here"), "not a .npy file"),
    "csv text": ("t.csv", lambda p: p.write_text("a,b\n1,2\n3,abc\n"), r"line 3, column 'b': 'abc' is not a number"),
    "csv empty cell": ("ec.csv", lambda p: p.write_text("1,2\n3,\n4,5\n"), r"line 2, column 2: '' is not a number"),
    "csv ragged": ("r.csv", lambda p: p.write_text("1,2\n3,4,5\n"), "line 2: 3 cells where the file has 2 columns"),
    "csv nan": ("n.csv", lambda p: p.write_text("x,y\n1,2\nnan,3\n"), "line 3: contains NaN"),
    "csv one row": ("o.csv", lambda p: p.write_text("x,y\n1,2\n"), "1 data row"),
    "csv empty": ("empty.csv", lambda p: p.write_text("\n\n"), "holds no data"),
    "csv float label": ("fl.csv", lambda p: p.write_text("x,label\n1,0\n2,1.5\n"), "whole numbers, found 1.5"),
    "csv only labels": ("ol.csv", lambda p: p.write_text("label\n1\n0\n"), "no feature columns"),
    "csv binary": ("b.csv", lambda p: p.write_bytes(b"\xff\xfe\x00\x81garbage"), "not a readable CSV"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_own_files(tmp_path, case):
    name, writer, message = BAD_FILES[case]
    path = tmp_path / name
    writer(path)
    with pytest.raises(DataError, match=message):
        load_array_file(path)
    with pytest.raises(DataError, match=message):
        load(DataConfig(name="file", path=str(path)))
    with pytest.raises(DataError, match=message):          # the upload's streaming check: same reason
        check_array_file(path, max_bytes=DEFAULT_MAX_BYTES)


def test_file_size_is_checked_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((10, 16, 16), np.uint8))

    def must_not_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(np, "load", must_not_read)
    with pytest.raises(DataError, match="more than the limit"):
        load_array_file(path, max_bytes=1000)
    with pytest.raises(DataError, match="more than the limit"):
        load(DataConfig(name="file", path=str(path)), max_bytes=1000)


def test_compressed_npz_that_unpacks_too_large(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((100, 64, 64), np.uint8))
    assert path.stat().st_size < 20_000
    with pytest.raises(DataError, match="unpacks to"):
        load_array_file(path, max_bytes=100_000)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_object_arrays_are_never_unpickled(tmp_path, suffix):
    marker = tmp_path / "unpickled"
    payload = np.array([Tripwire(marker), Tripwire(marker)], dtype=object)
    path = tmp_path / ("objects" + suffix)
    if suffix == ".npy":
        np.save(path, payload, allow_pickle=True)
    else:
        np.savez(path, x=payload)
    with pytest.raises(DataError, match="never unpickled"):
        load_array_file(path)
    assert not marker.exists()


# ---------------------------------------------------------------- binarise

def test_binarize_dynamic_is_binary_unbiased_and_seeded():
    x = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    a = binarize(x, "dynamic", generator=torch.Generator().manual_seed(1))
    b = binarize(x, "dynamic", generator=torch.Generator().manual_seed(1))
    assert set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == torch.float32
    assert float(a.mean()) == pytest.approx(float(x.mean()), abs=0.01)
    assert torch.equal(a, b)
    assert torch.equal(binarize(torch.tensor([0.0, 1.0]), "dynamic"), torch.tensor([0.0, 1.0]))


def test_binarize_threshold_and_none():
    x = torch.tensor([0.0, 0.2, 0.5, 0.50001, 0.9, 1.0])
    assert torch.equal(binarize(x, "threshold"), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]))
    assert torch.equal(binarize(x, "threshold", threshold=0.1), torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    assert binarize(x, "none") is x
    with pytest.raises(DataError, match="not one of"):
        binarize(x, "sometimes")


def test_load_threshold_binarises_both_splits():
    grey = load(DataConfig(name="digits", split_seed=2))
    ds = load(DataConfig(name="digits", split_seed=2, binarize="threshold", threshold=0.3))
    assert ds.binarize == "threshold"
    assert torch.equal(ds.x_train, (grey.x_train > 0.3).float())
    assert torch.equal(ds.x_val, (grey.x_val > 0.3).float())


def test_load_dynamic_keeps_train_grey_and_fixes_validation():
    grey = load(DataConfig(name="digits", split_seed=2))
    a = load(DataConfig(name="digits", split_seed=2, binarize="dynamic"))
    b = load(DataConfig(name="digits", split_seed=2, binarize="dynamic"))
    assert a.binarize == "dynamic"
    assert torch.equal(a.x_train, grey.x_train)
    assert set(a.x_val.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a.x_val, b.x_val)
    expected = binarize(grey.x_val, "dynamic", generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.x_val, expected)


# ------------------------------------------------------------ describe, Dataset

def test_describe_images():
    ds = load(DataConfig(name="digits", subset=300))
    d = describe(ds)
    assert d["n_train"] == 300 and d["n_val"] == 359
    assert d["shape"] == (1, 8, 8) and d["is_image"] is True
    assert d["value_range"] == (0.0, 1.0)
    assert d["mean"] == pytest.approx(float(ds.x_train.mean()))
    assert d["n_classes"] == 10 and d["checksum"] == ds.checksum
    counts = d["label_counts"]
    assert list(counts) == [str(i) for i in range(10)] and sum(counts.values()) == 300
    assert counts["4"] == int((ds.y_train == 4).sum())


def test_describe_vectors_without_labels(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("0.5,1\n1.5,2\n1.0,3\n2,4\n")
    d = describe(load(DataConfig(name="file", path=str(path), val_fraction=0.25)))
    assert d["shape"] == (2,) and d["is_image"] is False
    assert (d["n_train"], d["n_val"]) == (3, 1)
    assert d["label_counts"] is None and d["n_classes"] == 0
    assert d["value_range"] == (0.0, 1.0)


def test_n_classes_without_class_names():
    ds = Dataset(name="x", x_train=torch.zeros(3, 2), y_train=torch.tensor([0, 4, 1]),
                 x_val=torch.zeros(1, 2), y_val=torch.tensor([6]), class_names=None,
                 image_shape=None, checksum="")
    assert ds.n_classes == 7 and ds.dim == 2 and ds.binarize == "none"
