"""What the data package passes around: the error, the target description, splits, the fitted
preprocessing, a source as read, and the registry of sources."""

from __future__ import annotations

import math
from collections.abc import Callable
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
class Dataset:
    train: Split
    validation: Split | None
    test: Split | None
    preprocess: Affine | None  # fitted on train only; already applied to every split
    class_names: list[str] | None
    description: str
    # per-sample shape of the features as read, when data.reshape changes it for the network
    feature_shape: tuple[int, ...] | None = None


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
    that `nnc validate` can check the network's input against it.
    """

    name: str
    schema: dict
    read: Callable[[object, str, Path], RawData]
    train_only: bool = False
    suffixes: tuple[str, ...] = ()
    read_features: Callable[[Path], np.ndarray] | None = None
    feature_shape: Callable[[object], tuple[int, ...] | None] | None = None

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


def resolve_path(path: str | Path, base_dir: Path) -> Path:
    """A path from a spec: relative to the spec's folder, ~ expanded."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir / p)


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
