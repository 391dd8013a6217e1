"""`npz: {path, x, y}`: a NumPy .npz archive holding a feature array and a target array."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from nnc.runtime.data.base import DataError, RawData, SourceDef, register_source, resolve_path

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
        have = ", ".join(z.files) or "(none)"
        raise DataError(f"{path}: no array named {key!r}; the archive holds {have}")
    try:
        return z[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: array {key!r} cannot be read ({e})") from None


register_source(SourceDef("npz", SCHEMA, read, suffixes=(".npz",), read_features=read_features))
