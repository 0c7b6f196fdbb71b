"""Tests for explorer.data's paths: confine_path (paths typed in the web app must lie in
the data folders) and MNIST / Fashion-MNIST read from a Keras-style .npz in the cache folder.

All files are written by the tests themselves; nothing needs network access or
/work/shared/data.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import struct

import numpy as np
import pooch
import pytest
import torch

from explorer import data
from explorer.config import DataConfig
from explorer.data import DataError, available_offline, confine_path, load

OUTSIDE = ("That path is not in a data folder of this server. Put the files in the data folder "
           "(setting LATENT_EXPLORER_DATA) or a folder listed in LATENT_EXPLORER_DATA_DIRS, "
           "and give the path inside it.")


# --------------------------------------------------------------- confine_path

@pytest.fixture
def roots(tmp_path) -> list[pathlib.Path]:
    """Two data folders, each with a file, and a secret file outside both."""
    first, second = tmp_path / "data", tmp_path / "more"
    (first / "mnist").mkdir(parents=True)
    (first / "mnist" / "mnist.npz").write_bytes(b"not read")
    second.mkdir()
    (second / "own.npy").write_bytes(b"not read")
    (tmp_path / "secret.npz").write_bytes(b"secret")
    return [first, second]


def test_a_file_or_folder_inside_a_root_is_returned_resolved(roots):
    first, second = roots
    assert confine_path(str(first / "mnist" / "mnist.npz"), roots) == (first / "mnist" / "mnist.npz").resolve()
    assert confine_path(str(second / "own.npy"), roots) == (second / "own.npy").resolve()
    assert confine_path(str(first / "mnist"), roots) == (first / "mnist").resolve()
    assert confine_path(str(second), roots) == second.resolve()
    assert confine_path(str(first / "mnist" / ".." / "mnist"), roots) == (first / "mnist").resolve()
    # a path inside a root need not exist yet: load() says so itself, without leaving the root
    assert confine_path(str(first / "later.npz"), roots) == (first / "later.npz").resolve()


def test_relative_paths_are_taken_relative_to_the_first_root(roots):
    first, _ = roots
    assert confine_path("mnist/mnist.npz", roots) == (first / "mnist" / "mnist.npz").resolve()
    assert confine_path("  mnist  ", roots) == (first / "mnist").resolve()       # stray spaces dropped
    assert confine_path("own.npy", roots) == (first / "own.npy").resolve()       # not the second root's


def test_the_result_is_absolute_and_free_of_dot_dot(roots):
    result = confine_path("mnist/../mnist/./mnist.npz", roots)
    assert result.is_absolute() and ".." not in result.parts and "." not in result.parts


@pytest.mark.parametrize("text", [
    "/etc/passwd",
    "/nonexistent/x.npz",
    "/root",
    "/",
    "../../etc",
    "..",
    "../secret.npz",
    "mnist/../../secret.npz",
    "~root",
    "~no-such-user-here/x.npz",
    "",
    "   ",
    "\x00",
    "mnist/\x00../../etc/passwd",
    "/etc/passwd\x00.npz",
])
def test_every_path_outside_the_roots_gets_the_same_message(roots, text):
    with pytest.raises(DataError) as err:
        confine_path(text, roots)
    assert str(err.value) == OUTSIDE


def test_dot_dot_from_a_root_is_refused(roots):
    first, _ = roots
    for text in (str(first / ".." / "secret.npz"), str(first / "mnist" / ".." / ".." / "secret.npz"),
                 f"{first}/../../../../etc/passwd"):
        with pytest.raises(DataError, match="^That path is not in a data folder"):
            confine_path(text, roots)


def test_a_symlink_inside_a_root_pointing_outside_is_refused(roots, tmp_path):
    first, _ = roots
    (first / "link.npz").symlink_to(tmp_path / "secret.npz")
    (first / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    (first / "to-etc").symlink_to("/etc", target_is_directory=True)
    for text in ("link.npz", str(first / "link.npz"), "linked-dir/secret.npz", "linked-dir", "to-etc/passwd"):
        with pytest.raises(DataError) as err:
            confine_path(text, roots)
        assert str(err.value) == OUTSIDE


def test_a_symlink_inside_a_root_pointing_inside_is_followed(roots):
    first, second = roots
    (first / "other.npy").symlink_to(second / "own.npy")
    assert confine_path("other.npy", roots) == (second / "own.npy").resolve()


def test_a_root_that_is_itself_a_symlink_works(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    assert confine_path("x.npz", [tmp_path / "alias"]) == real / "x.npz"
    assert confine_path(str(tmp_path / "alias" / "x.npz"), [tmp_path / "alias"]) == real / "x.npz"


def test_a_folder_next_to_a_root_with_a_longer_name_is_outside(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data-private").mkdir()
    with pytest.raises(DataError, match="^That path is not in a data folder"):
        confine_path(str(tmp_path / "data-private" / "x.npz"), [tmp_path / "data"])


def test_no_roots_means_nothing_is_allowed(tmp_path):
    with pytest.raises(DataError) as err:
        confine_path(str(tmp_path), [])
    assert str(err.value) == OUTSIDE


def test_the_message_does_not_depend_on_what_is_there(roots, tmp_path):
    """Refusals for an existing file, a folder and a missing path read the same, so the
    app reveals nothing about the server's files."""
    messages = set()
    for text in (str(tmp_path / "secret.npz"), str(tmp_path), str(tmp_path / "missing"), "/etc/passwd", "/etc"):
        with pytest.raises(DataError) as err:
            confine_path(text, roots)
        messages.add(str(err.value))
    assert messages == {OUTSIDE}
    assert "secret" not in OUTSIDE and "exist" not in OUTSIDE


def test_the_data_folder_setting_is_a_root(monkeypatch, tmp_path):
    """The data folder (LATENT_EXPLORER_DATA) as the app passes it, with an extra folder
    (as from LATENT_EXPLORER_DATA_DIRS) after it."""
    extra = tmp_path / "extra"
    extra.mkdir()
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "cache"))
    allowed = [data.default_cache_dir(), extra]
    assert confine_path("mnist/mnist.npz", allowed) == (tmp_path / "cache" / "mnist" / "mnist.npz").resolve()
    assert confine_path(str(extra / "own.csv"), allowed) == (extra / "own.csv").resolve()
    with pytest.raises(DataError, match="^That path is not in a data folder"):
        confine_path("/etc/passwd", allowed)


# ------------------------------------------------- MNIST from an .npz in the cache

@pytest.fixture
def mnist_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 20).astype(np.uint8),
        "x_test": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 6).astype(np.uint8),
    }


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(pooch, "retrieve", refuse)


def _npz_places(cache: pathlib.Path, name: str) -> list[pathlib.Path]:
    return [cache / name / f"{name}.npz", cache / f"{name}.npz"]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("place", [0, 1], ids=["in <name>/", "next to <name>/"])
def test_cache_npz_is_loaded_without_download(tmp_path, mnist_arrays, no_download, name, place):
    npz = _npz_places(tmp_path, name)[place]
    npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz, **mnist_arrays)
    cfg = DataConfig(name=name)
    assert available_offline(cfg, cache_dir=tmp_path)
    ds = load(cfg, cache_dir=tmp_path)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_val.shape == (6, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.image_shape == (1, 28, 28)
    assert torch.equal(ds.x_train, torch.from_numpy(mnist_arrays["x_train"].astype(np.float32) / 255)[:, None])
    assert torch.equal(ds.y_train, torch.from_numpy(mnist_arrays["y_train"].astype(np.int64)))
    assert torch.equal(ds.y_val, torch.from_numpy(mnist_arrays["y_test"].astype(np.int64)))
    assert ds.class_names == (data.FASHION_CLASSES if name == "fashion-mnist" else data.DIGIT_CLASSES)


def test_cache_npz_gives_the_same_data_and_checksum_as_data_path(tmp_path, mnist_arrays, no_download):
    npz = tmp_path / "cache" / "mnist" / "mnist.npz"
    npz.parent.mkdir(parents=True)
    np.savez(npz, **mnist_arrays)
    from_cache = load(DataConfig(name="mnist"), cache_dir=tmp_path / "cache")
    from_path = load(DataConfig(name="mnist", path=str(npz)))
    assert from_cache.checksum == from_path.checksum
    assert torch.equal(from_cache.x_train, from_path.x_train) and torch.equal(from_cache.x_val, from_path.x_val)


def test_default_cache_folder_npz_is_used(tmp_path, monkeypatch, mnist_arrays, no_download):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    (tmp_path / "fashion-mnist").mkdir()
    np.savez(tmp_path / "fashion-mnist" / "fashion-mnist.npz", **mnist_arrays)
    cfg = DataConfig(name="fashion-mnist", subset=5)
    assert available_offline(cfg)
    ds = load(cfg)
    assert len(ds.x_train) == 5 and len(ds.x_val) == 6


def test_the_npz_inside_the_folder_wins(tmp_path, mnist_arrays, no_download):
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", **mnist_arrays)
    other = {k: v[:4] for k, v in mnist_arrays.items()}
    np.savez(tmp_path / "mnist.npz", **other)
    assert len(load(DataConfig(name="mnist"), cache_dir=tmp_path).x_train) == 20


def test_an_npz_of_the_other_dataset_is_not_used(tmp_path, mnist_arrays, no_download):
    np.savez(tmp_path / "fashion-mnist.npz", **mnist_arrays)
    assert not available_offline(DataConfig(name="mnist"), cache_dir=tmp_path)
    assert available_offline(DataConfig(name="fashion-mnist"), cache_dir=tmp_path)


def test_without_npz_or_idx_files_it_is_not_offline_and_names_the_npz(tmp_path, monkeypatch):
    assert not available_offline(DataConfig(name="mnist"), cache_dir=tmp_path)

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DataError) as err:
        load(DataConfig(name="mnist"), cache_dir=tmp_path)
    assert str(tmp_path / "mnist" / "mnist.npz") in str(err.value)


def test_a_bad_cache_npz_is_reported_not_downloaded_around(tmp_path, mnist_arrays, no_download):
    (tmp_path / "mnist").mkdir()
    np.savez(tmp_path / "mnist" / "mnist.npz", x_train=mnist_arrays["x_train"], y_train=mnist_arrays["y_train"])
    with pytest.raises(DataError, match="mnist.npz lacks the array.*x_test, y_test"):
        load(DataConfig(name="mnist"), cache_dir=tmp_path)


def test_a_folder_named_like_the_npz_is_ignored(tmp_path, no_download):
    (tmp_path / "mnist" / "mnist.npz").mkdir(parents=True)
    assert not available_offline(DataConfig(name="mnist"), cache_dir=tmp_path)


# ------------------------------------------------------------- size messages

def test_size_messages_name_the_settings(tmp_path, mnist_arrays):
    settings = "(setting LATENT_EXPLORER_DATASET_MB for datasets, LATENT_EXPLORER_UPLOAD_MB for uploads)"
    big = tmp_path / "big.npy"
    np.save(big, np.zeros((10, 16, 16), np.uint8))
    with pytest.raises(DataError) as err:
        data.load_array_file(big, max_bytes=1000)
    assert str(err.value).endswith(f"more than the limit of 0.0 MiB {settings}")

    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, x=np.zeros((100, 64, 64), np.uint8))
    with pytest.raises(DataError) as err:
        data.load_array_file(bomb, max_bytes=100_000)
    assert "bomb.npz unpacks to 0.4 MiB, more than the limit of 0.1 MiB " + settings in str(err.value)

    cache = tmp_path / "cache"
    (cache / "mnist").mkdir(parents=True)
    blank = {k: np.zeros_like(v) for k, v in mnist_arrays.items()}     # compresses well
    np.savez_compressed(cache / "mnist" / "mnist.npz", **blank)
    with pytest.raises(DataError, match=r"mnist\.npz unpacks to .*, more than the limit of .*DATASET_MB"):
        load(DataConfig(name="mnist"), cache_dir=cache, max_bytes=os.path.getsize(cache / "mnist" / "mnist.npz"))

    idx = tmp_path / "idx"
    idx.mkdir()
    images = np.zeros((20, 28, 28), np.uint8)
    raw = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", *images.shape) + images.tobytes()
    (idx / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (idx / name).write_bytes(b"")
    with pytest.raises(DataError) as err:
        load(DataConfig(name="mnist", path=str(idx)), max_bytes=10_000)
    assert str(err.value).endswith(f"train-images-idx3-ubyte.gz unpacks to more than the limit of 0.0 MiB {settings}")
