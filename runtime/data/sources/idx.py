"""`idx: {images, labels}`: a pair of IDX files (the MNIST format), gzipped or not."""

from __future__ import annotations

import gzip as gzip_lib
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from nnc.runtime.data.base import DataError, RawData, SourceDef, register_source, resolve_path

_PATH = {"type": "string", "minLength": 1}
SCHEMA = {
    "type": "object",
    "description": "a pair of IDX files (the MNIST format), gzipped or not",
    "properties": {
        "images": {**_PATH, "description": "IDX file of samples, e.g. train-images-idx3-ubyte.gz"},
        "labels": {**_PATH, "description": "IDX file of targets, e.g. train-labels-idx1-ubyte.gz"},
    },
    "required": ["images", "labels"],
    "additionalProperties": False,
}


def read(src: dict, where: str, base_dir: Path) -> RawData:
    images = resolve_path(src["images"], base_dir)
    labels = resolve_path(src["labels"], base_dir)
    x, y = read_idx(images), read_idx(labels)
    if len(x) != len(y):
        raise DataError(f"{images} has {len(x)} samples but {labels} has {len(y)} labels")
    return RawData(x, y, str(images), None, f"idx {images.name} ({len(x)} samples)")


_IDX_CODES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not, told by its first bytes) -> array in native byte order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip_lib.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\0\0" or code not in _IDX_CODES:
        raise DataError(f"{path}: not an IDX file (magic number {raw[:4].hex()})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {start} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = _IDX_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(raw) - start
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {problem}: shape {dims} of {dtype.name} needs {expected} data bytes, "
            f"found {found}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=start)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray, gzip: bool = False) -> None:
    """Writes `array` as an IDX file (gzipped if asked); for tests and small fixtures."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_CODES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise ValueError(
            f"IDX cannot store {array.dtype}; use one of uint8, int8, int16, "
            "int32, float32, float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, not {array.ndim}")
    code = codes[dtype]
    head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.astype(_IDX_CODES[code]).tobytes()
    if gzip:
        data = gzip_lib.compress(data, mtime=0)
    Path(path).write_bytes(data)


register_source(
    SourceDef(
        "idx",
        SCHEMA,
        read,
        suffixes=("ubyte", "ubyte.gz", ".idx", ".idx.gz"),
        read_features=read_idx,
    )
)
