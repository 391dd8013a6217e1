"""How a runtime's results are compared with the reference's (onnxruntime CPU)."""

from __future__ import annotations

import numpy as np


def scaled_diff(got, want) -> float:
    """max|a - b| / max(1, max|b|): relative for large tensors, absolute near zero."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape} != {want.shape}")
    if want.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def compare_train(got, expected) -> dict:
    (losses, final), (ref_losses, ref_final) = got, expected
    losses, ref_losses = np.asarray(losses), np.asarray(ref_losses)
    if losses.shape != ref_losses.shape:
        raise AssertionError(f"{losses.size} losses, expected {ref_losses.size}")
    rel = np.abs(losses - ref_losses) / np.maximum(np.abs(ref_losses), 1e-12)
    missing = sorted(set(ref_final) - set(final))
    if missing:
        raise AssertionError(f"final tensors missing: {missing}")
    diffs = {k: scaled_diff(final[k], ref_final[k]) for k in ref_final}
    worst = max(diffs, key=diffs.get) if diffs else None
    return {
        "loss_rel": float(np.nanmax(rel)) if np.all(np.isfinite(losses)) else float("inf"),
        "param_diff": diffs[worst] if worst else 0.0,
        "worst_tensor": worst,
    }


def compare_infer(got, expected) -> dict:
    out = {"out_diff": 0.0, "label_mismatch": 0}
    for name, want in expected.items():
        if name not in got:
            raise AssertionError(f"output {name!r} missing")
        if np.issubdtype(np.asarray(want).dtype, np.integer):
            out["label_mismatch"] += int(np.sum(np.asarray(got[name]) != want))
        else:
            out["out_diff"] = max(out["out_diff"], scaled_diff(got[name], want))
    return out
