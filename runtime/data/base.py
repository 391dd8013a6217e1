"""What the data package passes around: the error, the target description, splits, the fitted
preprocessing, a source as read, and the registry of sources."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TARGET_KINDS = ("class_index", "binary", "multilabel", "real")


class DataError(Exception):
    """Data that cannot be used; the message names the file, key or column, and the sample."""


@dataclass(frozen=True)
class TargetSpec:
    """What the loss wants as targets: see `kind`; output_shape is per sample, without batch."""

    kind: str  # class_index | binary | multilabel | real
    num_classes: int | None
    output_shape: tuple[int, ...]
    signed: bool = False  # 0/1 targets may also be written -1/+1 (read as 0/1)

    def __post_init__(self):
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; known: {', '.join(TARGET_KINDS)}")


@dataclass
class Split:
    x: np.ndarray  # float32 [N, *input_shape], preprocessed
    y: np.ndarray | None  # per TargetSpec; None for unlabeled inputs

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Affine:
    """x' = x * scale + shift, in float32, in that order (as the exported model's Mul then Add)."""

    scale: np.ndarray
    shift: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) * self.scale + self.shift).astype(np.float32)


@dataclass
class Fitted:
    """What a run learned from its data besides the parameters, kept with the run so that export
    and resume never refit it: the feature preprocessing (fitted on train only), the class names
    and the per-sample shape of the features as read (when data.reshape changes it)."""

    preprocess: Affine | None
    class_names: list[str] | None
    feature_shape: tuple[int, ...] | None = None


@dataclass
class Dataset:
    train: Split
    validation: Split | None
    test: Split | None
    preprocess: Affine | None  # fitted on train only; already applied to every split
    class_names: list[str] | None
    description: str
    # per-sample shape of the features as read, when data.reshape changes it for the network
    feature_shape: tuple[int, ...] | None = None
    # what was read: one entry per source (see nnc.runtime.data.fingerprint)
    fingerprint: list[dict] | None = None

    @property
    def fitted(self) -> Fitted:
        return Fitted(self.preprocess, self.class_names, self.feature_shape)


@dataclass
class RawData:
    """One source as read, before targets are converted."""

    x: np.ndarray
    y: np.ndarray | None
    where: str  # the resolved file, or the spec key, that error messages name
    class_names: list[str] | None  # names the source itself knows (built-in sets)
    description: str


@dataclass(frozen=True)
class SourceDef:
    """A kind of data a spec's `data:` section can name, e.g. `csv: {path: ...}`.

    schema: the JSON Schema of the value under the source's key (its `description` is the
    source's). read(value, where, base_dir) -> RawData, where `where` is the spec path of the
    value for messages. train_only: the source is a whole data set, not valid as an explicit
    `validation:` or `test:` part. suffixes and read_features: file name endings that `nnc predict`
    reads unlabeled inputs from with this source's reader. feature_shape(value): the per-sample
    shape of the features, where it is known without reading any file (None otherwise), so
    that `nnc validate` can check the network's input against it. files(value, base_dir): the
    files the value names, for the data fingerprint a run keeps.
    """

    name: str
    schema: dict
    read: Callable[[object, str, Path], RawData]
    train_only: bool = False
    suffixes: tuple[str, ...] = ()
    read_features: Callable[[Path], np.ndarray] | None = None
    feature_shape: Callable[[object], tuple[int, ...] | None] | None = None
    # the files a value names, resolved (for the data fingerprint); none for data in the spec
    files: Callable[[object, Path], list[Path]] | None = None

    @property
    def description(self) -> str:
        return str(self.schema.get("description", ""))


_SOURCES: dict[str, SourceDef] = {}


def register_source(source: SourceDef) -> SourceDef:
    """Adds a source; a second source of the same name is a programming error."""
    if source.name in _SOURCES:
        raise ValueError(f"duplicate data source registration: {source.name!r}")
    _SOURCES[source.name] = source
    return source


def data_sources() -> dict[str, SourceDef]:
    """Every registered source, in registration order (the order of the schema and messages)."""
    return dict(_SOURCES)


# -- paths from a spec, and the files behind them -------------------------------------------------
# The folder --untrusted confines a spec's paths to (None: a user's own spec reads any file the
# user can). A context variable, so that one command's setting cannot leak into another's.
_CONFINED_TO: ContextVar[Path | None] = ContextVar("nnc_confined_to", default=None)

DEFAULT_MAX_DATA_BYTES = 4 << 30  # one data file, or one array in it, as read into memory
MAX_DATA_BYTES_ENV = "NNC_MAX_DATA_BYTES"
QUOTE_CHARS = 16  # how much of a value read from a file an error message may show


@contextmanager
def confined(folder: Path | None) -> Iterator[None]:
    """While active, every path a spec names (data files, init_from runs) must resolve, symlinks
    followed, inside `folder` (None: no confinement)."""
    token = _CONFINED_TO.set(None if folder is None else Path(os.path.realpath(folder)))
    try:
        yield
    finally:
        _CONFINED_TO.reset(token)


def confine(path: Path, what: str = "data path") -> Path:
    """`path` if no confinement is active or it resolves inside the confined folder; else
    DataError (--untrusted)."""
    root = _CONFINED_TO.get()
    if root is None:
        return path
    real = Path(os.path.realpath(path))
    if real != root and root not in real.parents:
        how = " (through a symlink)" if real != Path(os.path.abspath(path)) else ""
        raise DataError(
            f"{path}: the {what} leads outside the spec's folder {root}{how}, which --untrusted "
            "confines it to"
        )
    return path


def resolve_path(path: str | Path, base_dir: Path) -> Path:
    """A path from a spec: relative to the spec's folder, ~ expanded (and confined to the spec's
    folder under --untrusted)."""
    p = Path(path).expanduser()
    return confine(p if p.is_absolute() else (base_dir / p))


def max_data_bytes() -> int:
    """The most bytes one data file (or one array in it, decompressed) may hold: 4 GiB, or
    the environment variable NNC_MAX_DATA_BYTES."""
    text = os.environ.get(MAX_DATA_BYTES_ENV)
    if not text:
        return DEFAULT_MAX_DATA_BYTES
    try:
        value = int(float(text))
    except ValueError:
        raise DataError(f"{MAX_DATA_BYTES_ENV}={text[:20]!r} is not a number of bytes") from None
    return max(value, 0)


def check_size(declared: int, path: Path, what: str) -> None:
    """Refuses `declared` bytes above max_data_bytes(), before anything is allocated."""
    limit = max_data_bytes()
    if declared > limit:
        raise DataError(
            f"{path}: {what} {_size(declared)}, above the limit of {_size(limit)} for one data "
            f"file; set {MAX_DATA_BYTES_ENV} (in bytes) to raise it"
        )


def check_data_file(path: Path) -> os.stat_result:
    """A data file that can be read whole: it exists, is a regular file (not a device, FIFO or
    socket, which would be read forever or block) and is not above the size limit."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{path}: is a directory, not a data file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path}: not a regular file (a device, FIFO or socket): not read")
    check_size(st.st_size, path, "holds")
    return st


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def shorten(value, limit: int = QUOTE_CHARS) -> str:
    """A value read from a file, for a list in an error message: at most `limit` characters."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def quote(value, limit: int = QUOTE_CHARS) -> str:
    """A value read from a file, for an error message: repr of at most `limit` characters, so
    that a message never echoes a whole line of a file that was not meant to be data."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text)} characters)"


def check_features(x: np.ndarray, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Numbers, at least one sample, as many values per sample as the input, all finite ->
    float32 [N, *input_shape]."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: features must be numbers, not {x.dtype} values")
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{where}: no samples")
    n = x.shape[0]
    per_sample = x.shape[1:]
    if math.prod(per_sample) != math.prod(input_shape):
        raise DataError(
            f"{where}: features have per-sample shape {per_sample} ({math.prod(per_sample)} "
            f"values) but the network input shape is {input_shape} "
            f"({math.prod(input_shape)} values)"
        )
    with np.errstate(over="ignore"):  # overflow becomes inf, reported just below
        x32 = x.astype(np.float32).reshape((n, *input_shape))
    flat = x32.reshape(n, -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        value = x.reshape(n, -1)[i, j]
        extra = "" if not np.isfinite(value) else " (too large for float32)"
        raise DataError(f"{where}: sample {i}, feature {j}: value {value} is not finite{extra}")
    return x32
