"""Splitting one data set into train, validation and test parts (stratified by class)."""

from __future__ import annotations

import math

import numpy as np

from nnc.runtime.data.base import DataError, TargetSpec


def strata(y: np.ndarray, target: TargetSpec) -> np.ndarray | None:
    if target.kind == "class_index":
        return y
    if target.kind == "binary":
        return y[:, 0].astype(np.int64)
    return None


def _fraction_count(fraction: float, n: int, name: str) -> int:
    if not 0 <= fraction < 1:
        raise DataError(f"data.split.{name}: {fraction} is not a fraction in [0, 1)")
    count = int(math.floor(fraction * n + 0.5))
    if fraction > 0 and count == 0:
        raise DataError(
            f"data.split.{name}: {fraction} of {n} samples leaves the {name} split empty; "
            f"use at least {1 / n:.3g}"
        )
    return count


def split_indices(
    n: int,
    *,
    test: float = 0.0,
    validation: float = 0.0,
    seed: int = 0,
    shuffle: bool = True,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (train, validation, test) index arrays; both fractions are of all n samples."""
    if strata is not None and len(strata) != n:
        raise ValueError(f"strata has {len(strata)} entries for {n} samples")
    n_test = _fraction_count(test, n, "test")
    n_val = _fraction_count(validation, n, "validation")
    n_train = n - n_test - n_val
    if n_train <= 0:
        raise DataError(
            f"data.split: test {test} + validation {validation} of {n} samples leave no "
            "training samples"
        )
    if not shuffle:
        # Contiguous parts, the held-out ones at the end, as Keras' validation_split does.
        idx = np.arange(n)
        return idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :]
    rng = np.random.default_rng(seed)
    if strata is None:
        perm = rng.permutation(n)
        return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]

    classes, counts = np.unique(strata, return_counts=True)
    test_per_class = _apportion(n_test, counts)
    val_per_class = _apportion(n_val, counts - test_per_class)
    parts: tuple[list, list, list] = ([], [], [])
    for c, t, v in zip(classes, test_per_class, val_per_class, strict=True):
        members = rng.permutation(np.flatnonzero(strata == c))
        parts[2].append(members[:t])
        parts[1].append(members[t : t + v])
        parts[0].append(members[t + v :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def _apportion(total: int, sizes: np.ndarray) -> np.ndarray:
    """Largest-remainder split of `total` over groups in proportion to `sizes` (each <= size)."""
    quotas = total * sizes / sizes.sum()
    counts = np.floor(quotas).astype(np.int64)
    short = total - int(counts.sum())
    # Stable sort: ties go to the lower class index, so the result depends on the data only.
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:short]] += 1
    return counts
