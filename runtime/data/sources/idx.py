"""`idx: {images, labels}`: a pair of IDX files (the MNIST format), gzipped or not."""

from __future__ import annotations

import gzip as gzip_lib
import math
import struct
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
)

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
    """An IDX file (gzipped or not, told by its first bytes) -> array in native byte order.

    The header is read first and what it declares is checked before the data is: against the
    file's size (plain) or by reading exactly that many bytes (gzip, decompressed as a stream),
    and against the data limit (max_data_bytes), so a small gzip that inflates to gigabytes is
    refused before it is."""
    path = Path(path)
    st = check_data_file(path)
    try:
        with open(path, "rb") as raw:
            zipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if zipped:
                with gzip_lib.GzipFile(fileobj=raw, mode="rb") as f:
                    return _read_idx_stream(f, path, None)
            return _read_idx_stream(raw, path, st.st_size)
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise DataError(f"{path}: file not found") from None
        raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None


def _read_idx_stream(f, path: Path, size: int | None) -> np.ndarray:
    """From an open IDX stream; `size`: the file's size when it is not compressed."""
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX header ({len(head)} bytes)")
    zero, code, ndim = head[:2], head[2], head[3]
    if zero != b"\0\0" or code not in _IDX_CODES:
        raise DataError(f"{path}: not an IDX file (magic number {head.hex()})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    rest = f.read(4 * ndim)
    if len(rest) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {start} bytes")
    dims = struct.unpack(f">{ndim}I", rest)
    dtype = _IDX_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    check_size(expected, path, f"declares shape {dims} of {dtype.name}:")
    if size is not None and size - start != expected:
        found = size - start
        problem = "truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {problem}: shape {dims} of {dtype.name} needs {expected} data bytes, "
            f"found {found}"
        )
    data = f.read(expected)
    if len(data) < expected or (size is None and f.read(1)):
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        found = f"{len(data)}" if len(data) < expected else "more"
        raise DataError(
            f"{path}: {problem}: shape {dims} of {dtype.name} needs {expected} data bytes, "
            f"found {found}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims))
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


def files(src: dict, base_dir: Path) -> list[Path]:
    return [resolve_path(src[key], base_dir) for key in ("images", "labels")]


register_source(
    SourceDef(
        "idx",
        SCHEMA,
        read,
        suffixes=("ubyte", "ubyte.gz", ".idx", ".idx.gz"),
        read_features=read_idx,
        files=files,
    )
)
