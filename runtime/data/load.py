"""The data package's two entry points: a spec's `data:` section -> a Dataset, and unlabeled input
files -> features for prediction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnc.runtime.data.base import (
    DataError,
    Dataset,
    Fitted,
    RawData,
    Split,
    TargetSpec,
    check_data_file,
    check_features,
    check_size,
    data_sources,
)
from nnc.runtime.data.fingerprint import data_fingerprint
from nnc.runtime.data.preprocess import fit_preprocess
from nnc.runtime.data.split import split_indices, strata
from nnc.runtime.data.targets import convert_targets, same_length


def load_data(
    cfg: dict,
    *,
    input_shape: tuple[int, ...],
    target: TargetSpec,
    base_dir: Path,
    fitted: Fitted | None = None,
) -> Dataset:
    """Reads, checks, splits and preprocesses the data a spec's `data:` section describes; with
    `fitted` (a run's own), its preprocessing is applied instead of fitting one, and the class
    names must be the same."""
    input_shape = tuple(int(d) for d in input_shape)
    base_dir = Path(base_dir)
    fingerprint = data_fingerprint(cfg, base_dir)
    pre = cfg.get("preprocess") or {}
    one_hot = bool((pre.get("y") or {}).get("one_hot", False))
    split_cfg = cfg.get("split") or {}
    for part in ("validation", "test"):
        if cfg.get(part) is not None and split_cfg.get(part):
            raise DataError(f"data: give either data.{part} or data.split.{part}, not both")

    # with data.reshape, features keep their shape as read until after the preprocessing
    reshape = tuple(int(d) for d in cfg["reshape"]) if cfg.get("reshape") else None
    if reshape is not None and reshape != input_shape:
        raise DataError(f"data.reshape {list(reshape)} is not the input shape {list(input_shape)}")
    raw = read_source(cfg, "data", base_dir, part="train")
    feature_shape = tuple(np.shape(raw.x)[1:]) if reshape is not None else input_shape
    if math.prod(feature_shape) != math.prod(input_shape):
        raise DataError(
            f"{raw.where}: features have per-sample shape {feature_shape} "
            f"({math.prod(feature_shape)} values), which data.reshape cannot make "
            f"{list(input_shape)} ({math.prod(input_shape)} values)"
        )
    x = check_features(raw.x, feature_shape, raw.where)
    y, names = convert_targets(
        raw.y, target, raw.where, raw.class_names, one_hot, fixed_names=False
    )
    same_length(x, y, raw.where)
    if target.kind == "real" and not one_hot:
        names = None  # a regression on class indices has no classes to name

    parts = {"train": Split(x, y), "validation": None, "test": None}
    test_frac = float(split_cfg.get("test", 0) or 0)
    val_frac = float(split_cfg.get("validation", 0) or 0)
    if test_frac or val_frac:
        tr, va, te = split_indices(
            len(x),
            test=test_frac,
            validation=val_frac,
            seed=int(split_cfg.get("seed", 0)),
            shuffle=bool(split_cfg.get("shuffle", True)),
            strata=strata(y, target) if split_cfg.get("stratify", True) else None,
        )
        parts["train"] = Split(x[tr], y[tr])
        parts["validation"] = Split(x[va], y[va]) if len(va) else None
        parts["test"] = Split(x[te], y[te]) if len(te) else None

    for part in ("validation", "test"):
        if cfg.get(part) is not None:
            extra = read_source(cfg[part], f"data.{part}", base_dir, part=part)
            ex = check_features(extra.x, feature_shape, extra.where)
            ey, _ = convert_targets(extra.y, target, extra.where, names, one_hot, fixed_names=True)
            same_length(ex, ey, extra.where)
            parts[part] = Split(ex, ey)

    if fitted is None:
        affine = fit_preprocess(parts["train"].x, pre.get("x") or {})
    else:
        affine = fitted.preprocess
        if fitted.class_names is not None and names != fitted.class_names:
            raise DataError(
                f"{raw.where}: the class labels are now {_few(names)}; the run was trained on "
                f"{_few(fitted.class_names)}"
            )
    for split in parts.values():
        if split is not None:
            if affine is not None:
                split.x = affine.apply(split.x)
            split.x = split.x.reshape((len(split.x), *input_shape))

    sizes = ", ".join(f"{k} {len(v)}" for k, v in parts.items() if v is not None)
    return Dataset(
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        preprocess=affine,
        class_names=names,
        description=f"{raw.description}: {sizes}",
        feature_shape=feature_shape if feature_shape != input_shape else None,
        fingerprint=fingerprint,
    )


def _few(names: list[str] | None, limit: int = 6) -> str:
    if not names:
        return "none"
    shown = ", ".join(str(n)[:16] for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def read_source(cfg: dict, where: str, base_dir: Path, *, part: str) -> RawData:
    """The one source `cfg` names, read; `part` is train, validation or test."""
    known = data_sources()
    allowed = [s.name for s in known.values() if part == "train" or not s.train_only]
    given = [name for name in known if cfg.get(name) is not None]
    if len(given) != 1 or given[0] not in allowed:
        found = ", ".join(given) if given else "none"
        raise DataError(f"{where}: needs exactly one source of {', '.join(allowed)}; found {found}")
    name = given[0]
    return known[name].read(cfg[name], f"{where}.{name}", base_dir)


def read_features(path: Path, *, input_shape: tuple[int, ...]) -> np.ndarray:
    """Unlabeled inputs for prediction: .npy, or a file a source reads (.npz: key x or its only
    array; .csv: numbers only, optional header; IDX) -> float32 [N, *input_shape]. A single sample
    may omit the batch axis.
    """
    path = Path(path)
    input_shape = tuple(int(d) for d in input_shape)
    name = path.name.lower()
    readers = {
        suffix: s.read_features
        for s in data_sources().values()
        if s.read_features is not None
        for suffix in s.suffixes
    }
    if name.endswith(".npy"):
        x = _load_npy(path)
    else:
        reader = next((r for suffix, r in readers.items() if name.endswith(suffix)), None)
        if reader is None:
            raise DataError(f"{path}: unsupported input file type (use .npy, .npz, .csv or IDX)")
        x = reader(path)
    x = np.asarray(x)
    if x.shape == input_shape:
        x = x[None]
    return check_features(x, input_shape, str(path))


def _load_npy(path: Path) -> np.ndarray:
    from nnc.runtime.data.sources.npz import read_npy_header

    st = check_data_file(path)
    try:
        with open(path, "rb") as f:
            shape, dtype, offset = read_npy_header(f, path, "the array")
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    declared = math.prod(shape) * dtype.itemsize
    check_size(declared, path, "declares")
    if st.st_size < offset + declared:
        raise DataError(
            f"{path}: truncated: its header declares {declared} bytes of data, the file holds "
            f"{max(st.st_size - offset, 0)}"
        )
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
