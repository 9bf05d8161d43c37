"""Read numpy's `.npz` model files with the standard library: the Lambda package ships no numpy.

An `.npz` is a zip of `.npy` files (NEP 1: a magic string, a header dict, then the raw C-order
data). The exporters (dev tools, with numpy) write them; here each array comes back as a flat
`memoryview` over the file's bytes (no copy), or as a tuple of floats for half floats, which a
memoryview cannot cast to. Only what our exporters write is read: little-endian numbers and fixed-width strings.
"""

from __future__ import annotations

import ast
import mmap
import struct
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

MAGIC = b"\x93NUMPY"
# numpy dtype (little-endian or byte-order-free) -> struct / memoryview format.
_FORMATS = {
    "|i1": "b",
    "|u1": "B",
    "<i2": "h",
    "<u2": "H",
    "<i4": "i",
    "<u4": "I",
    "<i8": "q",
    "<u8": "Q",
    "<f4": "f",
    "<f8": "d",
}
_INTEGER = frozenset("bBhHiIqQ")


class NpzError(ValueError):
    """A model file that is not an `.npz` our exporters write (wrong dtype, order or header)."""


@dataclass(frozen=True, slots=True)
class Array:
    """One array: its shape and its values, flat in C order (last index fastest) or Fortran order (first)."""

    shape: tuple[int, ...]
    values: Sequence[int] | Sequence[float] | tuple[str, ...]
    fortran: bool = False

    def __len__(self) -> int:
        return len(self.values)

    def ints(self) -> Sequence[int]:
        """The values of an integer array (a memoryview over the file)."""
        if not isinstance(self.values, memoryview) or self.values.format not in _INTEGER:
            raise NpzError("not an integer array")
        return cast("Sequence[int]", self.values)

    def floats(self) -> Sequence[float]:
        """The values of a numeric array as floats (ints count: Python compares and multiplies them alike)."""
        if isinstance(self.values, tuple) and self.values and isinstance(self.values[0], str):
            raise NpzError("not a numeric array")
        return cast("Sequence[float]", self.values)

    def strings(self) -> tuple[str, ...]:
        if not isinstance(self.values, tuple) or not all(isinstance(v, str) for v in self.values):
            raise NpzError("not a string array")
        return cast("tuple[str, ...]", self.values)


def _parse(name: str, data: bytes | memoryview) -> Array:
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise NpzError(f"{name}: not a .npy array")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", data, 8)
        start = 10
    elif major in (2, 3):
        (hlen,) = struct.unpack_from("<I", data, 8)
        start = 12
    else:
        raise NpzError(f"{name}: .npy version {major} is not supported")
    header = ast.literal_eval(bytes(data[start : start + hlen]).decode("latin-1"))
    if not isinstance(header, dict):
        raise NpzError(f"{name}: the .npy header is not a dict")
    descr, shape = str(header["descr"]), tuple(int(n) for n in header["shape"])
    fortran = bool(header.get("fortran_order")) and len(shape) > 1
    count = 1
    for n in shape:
        count *= n
    body = memoryview(data)[start + hlen :]
    if descr == "<f2":
        return Array(shape, struct.unpack_from(f"<{count}e", body), fortran)
    if descr.startswith("<U"):  # fixed-width UTF-32 strings, NUL-padded
        width = int(descr[2:]) * 4
        raw = bytes(body[: count * width])
        texts = tuple(raw[i : i + width].decode("utf-32-le").rstrip("\0") for i in range(0, len(raw), width))
        return Array(shape, texts)
    fmt = _FORMATS.get(descr)
    if fmt is None:
        raise NpzError(f"{name}: dtype {descr} is not supported")
    if sys.byteorder != "little" and fmt not in "bB":
        raise NpzError(f"{name}: big-endian hosts are not supported")  # Lambda runs x86_64 and arm64, both little
    size = struct.calcsize(fmt)
    view: Any = body[: count * size]
    return Array(shape, view.cast(fmt), fortran)


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: signature ... name and extra lengths


def load(path: Path) -> dict[str, Array]:
    """Every array in the `.npz` at `path`, by name (stored or deflated members alike).

    A stored member is a view over the file mapped into memory: nothing is read or checked until a
    value is used. The language model is 7.6 MB, of which a cold start touches the 1.2 MB of its
    automaton; reading the whole file and checking each member's CRC was 7 ms of every cold start
    (issue 13). Its bytes come from the package (read-only on Lambda), not from a customer.
    """
    with path.open("rb") as f, zipfile.ZipFile(f) as zf:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        arrays = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            arrays[info.filename.removesuffix(".npy")] = _parse(info.filename, _member(zf, info, mapped))
        return arrays


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, mapped: mmap.mmap) -> bytes | memoryview:
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # deflated or encrypted: zipfile reads it
        return zf.read(info)
    signature, name_len, extra_len = _LOCAL_HEADER.unpack_from(mapped, info.header_offset)
    if signature != b"PK\x03\x04":
        raise NpzError(f"{info.filename}: not a zip member where the directory says")
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    if start + info.file_size > len(mapped):
        raise NpzError(f"{info.filename}: the member runs past the end of the file")
    return memoryview(mapped)[start : start + info.file_size]
