"""Feature preprocessing fitted on the training split: standardize, minmax or scale."""

from __future__ import annotations

import math

import numpy as np

from nnc.runtime.data.base import Affine, DataError


def fit_preprocess(x_train: np.ndarray, cfg: dict) -> Affine | None:
    """Fits the feature preprocessing `cfg` (data.preprocess.x) on the training features."""
    chosen = [k for k in ("standardize", "minmax", "scale") if cfg.get(k) not in (None, False)]
    unknown = sorted(set(cfg) - {"standardize", "minmax", "scale"})
    if unknown:
        raise DataError(f"data.preprocess.x: unknown option {unknown[0]!r}")
    if len(chosen) > 1:
        raise DataError(f"data.preprocess.x: choose one of {', '.join(chosen)}")
    if not chosen:
        return None
    how = chosen[0]
    if how == "scale":
        s = float(cfg["scale"])
        if not math.isfinite(s) or s == 0:
            raise DataError(f"data.preprocess.x.scale: {s} is not a usable factor")
        return Affine(np.asarray(s, np.float32), np.asarray(0.0, np.float32))
    x = x_train.astype(np.float64)
    if how == "standardize":
        mean, std = x.mean(axis=0), x.std(axis=0)
        with np.errstate(divide="ignore"):
            scale = 1.0 / std
        scale[(std == 0) | ~np.isfinite(scale.astype(np.float32))] = 1.0
        shift = -mean * scale
    else:
        mm = cfg["minmax"] if isinstance(cfg["minmax"], dict) else {}
        lo, hi = float(mm.get("min", 0.0)), float(mm.get("max", 1.0))
        if not hi > lo:
            raise DataError(f"data.preprocess.x.minmax: max {hi} must exceed min {lo}")
        xmin, xmax = x.min(axis=0), x.max(axis=0)
        span = xmax - xmin
        scale = np.where(span > 0, (hi - lo) / np.where(span > 0, span, 1.0), 1.0)
        shift = lo - xmin * scale
    return Affine(scale.astype(np.float32), shift.astype(np.float32))
