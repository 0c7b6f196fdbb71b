"""Own data files are checked before they are parsed in full, and a check costs memory of a
small multiple of the file at most (issue 25: a 40 MB CSV of 10 million columns took the
server from 550 to 1,443 MB while it was validated)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from explorer import data, settings
from explorer.config import DataConfig
from explorer.data import DataError

MB = 2**20


def _peak(fn) -> int:
    """Bytes allocated at the peak while ``fn`` runs (numpy's buffers are traced too)."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_csv_of_ten_million_columns_is_refused_by_counting_not_parsing(tmp_path):
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:                       # 20 MB: one header line, then one row
        f.write(",".join(["1"] * 10_000_000) + "\n")
        f.write("0," * 9_999_999 + "0\n")
    size = path.stat().st_size
    for check in (lambda: data.check_array_file(path, max_bytes=100 * MB),
                  lambda: data.load_array_file(path, max_bytes=100 * MB),
                  lambda: data.load(DataConfig(name="file", path=str(path)), max_bytes=100 * MB)):
        with pytest.raises(DataError, match=r"line 1: 10,000,000 columns; this server takes at most 16,384 "
                                            r"features per row \(setting LATENT_EXPLORER_MAX_FEATURES\)"):
            check()
        assert _peak(lambda: _refused(check)) < size / 4      # a few lines' worth, never the file


def _refused(fn):
    try:
        fn()
    except DataError:
        return
    raise AssertionError("accepted")


def test_the_feature_and_example_limits_are_settings(tmp_path, monkeypatch):
    images = tmp_path / "rgb64.npy"
    np.save(images, np.zeros((10, 64, 64, 3), np.uint8))       # 64×64×3: inside the default limits
    assert data.check_array_file(images, max_bytes=10 * MB) == data.Footprint(10, (3, 64, 64), 1, True)
    monkeypatch.setenv("LATENT_EXPLORER_MAX_FEATURES", "4096")
    s = settings.get()
    with pytest.raises(DataError, match=r"images of 64×64×3 = 12,288 values each; this server takes at most "
                                        r"4,096 \(setting LATENT_EXPLORER_MAX_FEATURES\)"):
        data.check_array_file(images, max_bytes=10 * MB, max_features=s.max_features)
    monkeypatch.setenv("LATENT_EXPLORER_MAX_EXAMPLES", "5")
    s = settings.get()
    table = tmp_path / "rows.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(6)))
    for fn in (data.check_array_file, data.load_array_file):
        with pytest.raises(DataError, match=r"more than 5 rows.*LATENT_EXPLORER_MAX_EXAMPLES"):
            fn(table, max_bytes=MB, max_examples=s.max_examples)
    with pytest.raises(DataError, match=r"holds 10 images; this server takes at most 5"):
        data.load(DataConfig(name="file", path=str(images)), max_bytes=10 * MB, max_examples=5)


def test_an_npz_that_unpacks_large_is_checked_a_chunk_at_a_time(tmp_path):
    path = tmp_path / "grey.npz"
    x = np.full((800, 64, 64), 0.5, np.float32)                # 12.5 MiB unpacked, a few KB packed
    x[-1, -1, -1] = 1.5                                        # the one bad value comes last
    np.savez_compressed(path, x=x, y=np.arange(800) % 10)
    del x
    with pytest.raises(DataError, match=r"float pixel values must already lie in \[0, 1\], found 0\.5\.\.1\.5"):
        data.load_array_file(path, max_bytes=100 * MB)         # the full read: the same reason ...
    assert _peak(lambda: _refused(lambda: data.check_array_file(path, max_bytes=100 * MB))) < 10 * MB
    #                                                            ... in a few 4 MiB chunks


def test_a_good_table_and_its_footprint(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y,label\n0.5,1,0\n1.5,2,1\n2.5,4,1\n")
    assert data.check_array_file(path, max_bytes=MB) == data.Footprint(3, (2,), 8, False)
    x, y = data.load_array_file(path, max_bytes=MB)
    assert np.allclose(x, [[0.0, 0.0], [0.5, 1 / 3], [1.0, 1.0]]) and y.tolist() == [0, 1, 1]
