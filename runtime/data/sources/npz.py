"""`npz: {path, x, y}`: a NumPy .npz archive holding a feature array and a target array."""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nnc.runtime.data.base import (
    DataError,
    RawData,
    SourceDef,
    check_data_file,
    check_size,
    register_source,
    resolve_path,
    shorten,
)

SCHEMA = {
    "type": "object",
    "description": "a NumPy .npz archive holding a feature array and a target array",
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "description": ".npz file, relative to the spec's folder",
        },
        "x": {"type": "string", "minLength": 1, "default": "x", "description": "feature key"},
        "y": {"type": "string", "minLength": 1, "default": "y", "description": "target key"},
    },
    "required": ["path"],
    "additionalProperties": False,
}


def read(src: dict, where: str, base_dir: Path) -> RawData:
    path = resolve_path(src["path"], base_dir)
    xk, yk = src.get("x", "x"), src.get("y", "y")
    with open_npz(path) as z:
        x, y = npz_array(z, xk, path), npz_array(z, yk, path)
    return RawData(x, y, f"{path}", None, f"npz {path.name} ({len(x)} samples)")


def read_features(path: Path) -> np.ndarray:
    """Unlabeled inputs: the array named x, or the archive's only array."""
    with open_npz(path) as z:
        if "x" in z.files:
            key = "x"
        elif len(z.files) == 1:
            key = z.files[0]
        else:
            raise DataError(
                f"{path}: expected an array named 'x' or a single array; found keys "
                f"{', '.join(z.files) or '(none)'}"
            )
        return npz_array(z, key, path)


def open_npz(path: Path):
    check_data_file(path)
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not an .npz archive of named arrays")
    return z


def npz_array(z, key: str, path: Path) -> np.ndarray:
    if key not in z.files:
        have = ", ".join(shorten(k) for k in z.files[:20]) or "(none)"
        raise DataError(f"{path}: no array named {key!r}; the archive holds {have}")
    try:
        _check_member(z.zip, key, path)
        return z[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: array {key!r} cannot be read ({e})") from None


def files(src: dict, base_dir: Path) -> list[Path]:
    return [resolve_path(src["path"], base_dir)]


def _check_member(archive: zipfile.ZipFile, key: str, path: Path) -> None:
    """The array's .npy header against the member's size and the data limit, before NumPy
    allocates what the header declares (a crafted header can declare 10^10 floats)."""
    names = archive.namelist()
    name = key if key in names else f"{key}.npy"
    info = archive.getinfo(name)
    with archive.open(info) as f:
        shape, dtype, offset = read_npy_header(f, path, f"array {key!r}")
    declared = math.prod(shape) * dtype.itemsize
    check_size(declared, path, f"array {key!r} declares")
    if info.file_size < offset + declared:
        raise DataError(
            f"{path}: array {key!r} is truncated: its header declares {declared} bytes of data, "
            f"the archive holds {max(info.file_size - offset, 0)}"
        )


def read_npy_header(f, path: Path, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of the .npy stream `f`, positioned at its start."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise DataError(f"{path}: {what} has a malformed .npy header ({str(e)[:80]})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: {what} cannot be read: it holds Python objects (need pickle)")
    return tuple(int(d) for d in shape), dtype, f.tell()


register_source(
    SourceDef("npz", SCHEMA, read, suffixes=(".npz",), read_features=read_features, files=files)
)
