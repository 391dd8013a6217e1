"""Checkpoints (tensors + JSON metadata in one .npz, never pickle) and atomic file writes.

File format: an uncompressed .npz (a zip of .npy files) whose entries are
  `__nnc_meta__`  uint8 bytes of a UTF-8 JSON document:
                  {"format": "nnc-checkpoint", "version": 1, "tensors": [name0, name1, ...],
                   "meta": <the caller's meta>}
  `t0`, `t1`, ... the tensors, in the order of the "tensors" name table.
Storing names in the table rather than as entry names lets any string ('/', '.', ':', unicode)
round-trip unchanged. In meta, NumPy arrays and scalars are stored tagged and come back with the
same dtype and shape; Python ints of any size round-trip exactly (JSON integers are decimal text);
tuples come back as lists; dict keys must be strings.
"""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
from pathlib import Path

import numpy as np

FORMAT = "nnc-checkpoint"
VERSION = 1
META_ENTRY = "__nnc_meta__"
_ARRAY_TAG = "__ndarray__"
_SCALAR_TAG = "__npscalar__"


class CheckpointError(Exception):
    """A checkpoint (or another atomically written file) that cannot be written or read."""


def save_checkpoint(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """Writes tensors and meta to `path` atomically: the old file stays intact on any failure."""
    path = Path(path)
    names = list(tensors)
    entries: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise CheckpointError(f"{path}: tensor name {name!r} is not a string")
        arr = np.asarray(tensors[name])
        if arr.dtype.hasobject:
            raise CheckpointError(f"{path}: tensor {name!r} has dtype object, which needs pickle")
        entries[f"t{i}"] = arr
    doc = {"format": FORMAT, "version": VERSION, "tensors": names, "meta": _encode(meta, "meta")}
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: meta cannot be stored as JSON ({e})") from None
    entries[META_ENTRY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **entries)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """-> (tensors in saved order, meta); any unreadable file raises CheckpointError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e})") from None
    if not data:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if META_ENTRY not in npz.files:
                raise CheckpointError(f"{path}: not an nnc checkpoint (no {META_ENTRY} entry)")
            doc = json.loads(npz[META_ENTRY].tobytes().decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not an nnc checkpoint")
            if doc.get("version") != VERSION:
                raise CheckpointError(
                    f"{path}: checkpoint format version {doc.get('version')!r} is not "
                    f"supported (this nnc reads version {VERSION})"
                )
            names = doc["tensors"]
            expected = {f"t{i}" for i in range(len(names))} | {META_ENTRY}
            if set(npz.files) != expected:
                raise CheckpointError(f"{path}: the tensor table does not match the entries")
            tensors = {name: npz[f"t{i}"] for i, name in enumerate(names)}
            meta = _decode(doc["meta"])
    except CheckpointError:
        raise
    except Exception as e:
        # A damaged file can fail anywhere in zipfile, the .npy header parser (which raises
        # SyntaxError, TokenError...) or json; whatever the exception, the file is unusable.
        detail = f"{type(e).__name__}: {e}"
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({detail})") from None
    return tensors, meta


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replaces `path` with `data` so that readers see the old or the new file, never a mix.

    Temp file in the same directory (so os.replace is a rename on one file system), flushed and
    fsynced before the rename, directory fsynced after it. On failure the temp file is removed,
    the previous file is untouched, and CheckpointError names the path and the OS error.
    """
    path = Path(path)
    directory = path.parent
    tmp: Path | None = None
    fd = -1
    try:
        for _ in range(100):
            candidate = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            try:
                # O_EXCL: never write into someone else's file; 0o666 lets the umask decide the
                # final permissions, as for any newly created file.
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))
        with os.fdopen(fd, "wb") as f:
            fd = -1
            view = memoryview(data)
            while view:
                view = view[f.write(view) :]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(e, OSError):
            reason = e.strerror or str(e)
            raise CheckpointError(f"cannot write {path}: {reason} ({e})") from e
        raise
    _fsync_directory(directory, path)


def append_whole(path: Path, data: bytes) -> None:
    """Appends `data` (whole lines) to an existing file, all of it or none: a write that fails
    part way (a full disk) is cut back to the file as it was, and CheckpointError says why."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as e:
        raise CheckpointError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        start = os.fstat(fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except BaseException as e:  # a full disk, or Ctrl-C between two partial writes
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise CheckpointError(f"cannot write {path}: {e.strerror or e}") from None
            raise
    finally:
        os.close(fd)


def _fsync_directory(directory: Path, path: Path) -> None:
    """Makes the rename durable. Some file systems cannot fsync a directory: that is no error."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise CheckpointError(
                f"wrote {path} but could not sync its directory: {e.strerror} ({e})"
            ) from e
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------------------------------------
# meta <-> JSON


def encode_meta(obj, where: str = "meta"):
    """`obj` as JSON-ready values, NumPy arrays and scalars tagged (see the module docstring)."""
    return _encode(obj, where)


def decode_meta(obj):
    """The inverse of encode_meta."""
    return _decode(obj)


def _encode(obj, where: str):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
        return obj
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise CheckpointError(f"{where}: arrays of dtype object cannot be stored")
        return {
            _ARRAY_TAG: obj.ravel().tolist(),
            "dtype": obj.dtype.str,
            "shape": list(obj.shape),
        }
    if isinstance(obj, np.generic):
        return {_SCALAR_TAG: obj.item(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where}: key {k!r} is not a string")
            out[k] = _encode(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise CheckpointError(f"{where}: cannot store a {type(obj).__name__} in checkpoint meta")


def _decode(obj):
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if _ARRAY_TAG in obj and set(obj) == {_ARRAY_TAG, "dtype", "shape"}:
        dtype = np.dtype(obj["dtype"])
        return np.array(obj[_ARRAY_TAG], dtype=dtype).reshape(obj["shape"])
    if _SCALAR_TAG in obj and set(obj) == {_SCALAR_TAG, "dtype"}:
        return np.array(obj[_SCALAR_TAG], dtype=np.dtype(obj["dtype"]))[()]
    return {k: _decode(v) for k, v in obj.items()}
