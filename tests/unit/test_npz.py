"""The standard-library `.npz` reader gives numpy's arrays back, stored members mapped and deflated ones read."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from chalicelib.classify import npz

pytestmark = pytest.mark.unit

ARRAYS = {
    "keys": np.array([3, 1 << 40, 7], dtype="<u8"),
    "feat": np.array([-1, 5, 2], dtype="<i4"),
    "weights": np.asfortranarray(np.arange(12, dtype="i1").reshape(3, 4)),
    "scale": np.array([0.5, 1.25], dtype="<f2"),
    "classes": np.array(["en", "sv", "de"]),
}


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["stored", "deflated"])
def test_every_array_comes_back_as_numpy_wrote_it(tmp_path: Path, save: object) -> None:
    path = tmp_path / "m.npz"
    save(path, **ARRAYS)  # type: ignore[operator]
    got = npz.load(path)
    assert set(got) == set(ARRAYS)
    assert list(got["keys"].ints()) == [3, 1 << 40, 7]
    assert list(got["feat"].ints()) == [-1, 5, 2]
    assert got["weights"].shape == (3, 4) and got["weights"].fortran
    assert list(got["weights"].ints()) == list(ARRAYS["weights"].ravel(order="F"))
    assert list(got["scale"].floats()) == [0.5, 1.25]
    assert got["classes"].strings() == ("en", "sv", "de")


def test_a_stored_member_is_a_view_over_the_mapped_file_not_a_copy(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, **ARRAYS)
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    keys = npz.load(path)["keys"].ints()
    assert isinstance(keys, memoryview) and keys.readonly


def test_a_member_the_directory_misplaces_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, **ARRAYS)
    data = bytearray(path.read_bytes())
    first = data.find(b"PK\x03\x04")
    data[first : first + 4] = b"XXXX"  # the first member's local header no longer where the directory says
    path.write_bytes(bytes(data))
    with pytest.raises(npz.NpzError, match="not a zip member"):
        npz.load(path)
