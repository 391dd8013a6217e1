"""Targets as the loss wants them: class indices, 0/1 columns or real values, text labels mapped
to a sorted vocabulary, every value checked."""

from __future__ import annotations

import math

import numpy as np

from nnc.runtime.data.base import DataError, TargetSpec, quote, shorten


def same_length(x: np.ndarray, y: np.ndarray, where: str) -> None:
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} feature samples but {len(y)} targets")


def convert_targets(y, target: TargetSpec, where, names, one_hot, *, fixed_names):
    """Raw targets -> (array per TargetSpec, class names).

    fixed_names: names (from the training data) are the label vocabulary to map text labels with;
    otherwise the vocabulary is built from these labels, in sorted order.
    """
    if y is None:
        raise DataError(f"{where}: no targets")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] == 0:
        raise DataError(f"{where}: no targets")
    kind = target.kind
    wants_labels = kind in ("class_index", "binary") or one_hot
    if y.dtype.kind in "USO":
        if not wants_labels:
            first = y.reshape(-1)[0]
            raise DataError(
                f"{where}: targets are text (e.g. {quote(first)}) but the loss wants {kind} "
                "numbers; for class labels use a classification loss or preprocess.y.one_hot"
            )
        y, names = _encode_text_labels(y, where, names, fixed_names)
        if not fixed_names:
            expected = 2 if kind == "binary" else _label_width(target)
            if len(names) != expected:
                raise DataError(
                    f"{where}: targets hold {len(names)} distinct labels "
                    f"({', '.join(shorten(n) for n in names[:8])}{', ...' * (len(names) > 8)}) "
                    f"but the network predicts {expected} classes"
                )
    elif y.dtype.kind not in "biuf":
        raise DataError(f"{where}: targets must be numbers or text labels, not {y.dtype}")
    else:
        _check_finite_targets(y, where)
    if names is not None and not fixed_names and kind in ("class_index", "multilabel"):
        if target.num_classes is not None and len(names) != target.num_classes:
            raise DataError(
                f"{where}: the data has {len(names)} classes but the network predicts "
                f"{target.num_classes}"
            )

    n = y.shape[0]
    is_labels = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if kind == "class_index":
        c = target.num_classes
        if is_labels:
            return _int_labels(y.reshape(n), c, where), names
        if y.ndim == 2 and y.shape[1] == c:
            return np.argmax(y, axis=1).astype(np.int64), names
        raise DataError(
            f"{where}: class targets must be labels [N] or one-hot rows [N, {c}], "
            f"not shape {y.shape}"
        )
    if kind == "binary":
        if not is_labels:
            raise DataError(f"{where}: binary targets must be [N] or [N, 1], not shape {y.shape}")
        flat = y.reshape(n).astype(np.float64)
        if target.signed and names is None:
            flat = _from_signed(flat)
        bad = np.flatnonzero((flat != 0) & (flat != 1))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{where}: sample {i}: binary target {y.reshape(n)[i]} is not 0 or 1"
                + _signed_hint(target)
            )
        return flat.astype(np.float32)[:, None], names

    if one_hot and is_labels:
        width = _label_width(target)
        labels = _int_labels(y.reshape(n), width, where)
        y = np.eye(width, dtype=np.float32)[labels]
    if kind == "multilabel":
        c = target.num_classes
        if y.ndim != 2 or (c is not None and y.shape[1] != c):
            raise DataError(f"{where}: multilabel targets must be [N, {c}] 0/1, not {y.shape}")
        given = y
        if target.signed and not one_hot:
            y = _from_signed(y.astype(np.float64))
        bad = np.argwhere((y != 0) & (y != 1))
        if len(bad):
            i, j = (int(v) for v in bad[0])
            raise DataError(
                f"{where}: sample {i}, label {j}: value {given[i, j]} is not 0 or 1"
                + _signed_hint(target)
            )
        return y.astype(np.float32), names
    # real
    per_sample = y.shape[1:]
    shape = tuple(target.output_shape)
    if math.prod(per_sample) != math.prod(shape):
        hint = (
            "; for class labels against a wider output, set preprocess.y.one_hot"
            if is_labels and math.prod(shape) > 1
            else ""
        )
        raise DataError(
            f"{where}: targets have per-sample shape {per_sample} but the network output shape "
            f"is {shape}{hint}"
        )
    return y.astype(np.float32).reshape((n, *shape)), names


def _from_signed(y: np.ndarray) -> np.ndarray:
    """-1/+1 targets as 0/1, when every one is -1 or +1 and some are -1 (0/1 stay as they are;
    a mix of -1 and 0 is left for the caller to report)."""
    if np.any(y == -1) and np.all((y == -1) | (y == 1)):
        return (y + 1) / 2
    return y


def _signed_hint(target: TargetSpec) -> str:
    return " (or all -1/+1)" if target.signed else ""


def _label_width(target: TargetSpec) -> int:
    if target.num_classes is not None:
        return int(target.num_classes)
    return int(math.prod(target.output_shape))


def _encode_text_labels(y, where, names, fixed_names):
    if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        raise DataError(f"{where}: text labels must be one per sample, not shape {y.shape}")
    flat = np.array([str(v).strip() for v in y.reshape(-1)])
    if fixed_names:
        if names is None:
            raise DataError(
                f"{where}: targets are text labels but the training targets are numbers"
            )
        vocab = list(names)
    else:
        vocab = sorted(set(flat.tolist()))
    index = {name: i for i, name in enumerate(vocab)}
    for i, label in enumerate(flat):
        if label not in index:
            raise DataError(
                f"{where}: sample {i}: label {quote(label)} is not one of the training labels "
                f"({', '.join(shorten(v) for v in vocab[:8])}{', ...' * (len(vocab) > 8)})"
            )
    return np.array([index[v] for v in flat], dtype=np.int64), vocab


def _check_finite_targets(y: np.ndarray, where: str) -> None:
    if y.dtype.kind != "f":
        return
    flat = y.reshape(y.shape[0], -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        col = f", element {j}" if flat.shape[1] > 1 else ""
        raise DataError(f"{where}: sample {i}{col}: target {flat[i, j]} is not finite")


def _int_labels(y: np.ndarray, num_classes: int | None, where: str) -> np.ndarray:
    if y.dtype.kind == "f":
        bad = np.flatnonzero(y != np.round(y))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{where}: sample {i}: class label {y[i]} is not an integer")
    labels = y.astype(np.int64)
    if num_classes is not None:
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{where}: sample {i}: class label {y[i]} is outside [0, {num_classes})"
            )
    return labels
