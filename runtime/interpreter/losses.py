"""Negative log-likelihood, shared by NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import numpy as np


def negative_log_likelihood(
    log_prob: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None,
    ignore_index: int | None,
    reduction: str,
) -> np.ndarray:
    """-log_prob[n, target[n, ...], ...] * weight[target], reduced.

    log_prob is [N, C, d1, ...] and target [N, d1, ...]. Targets equal to ignore_index count
    neither in the loss nor in the weight total of the mean.
    """
    target = target.astype(np.int64)
    kept = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
    safe_target = np.where(kept, target, 0)
    picked = np.take_along_axis(log_prob, safe_target[:, None], axis=1)[:, 0]
    if weight is None:
        weights = kept.astype(log_prob.dtype)
    else:
        weights = np.where(kept, weight[safe_target], 0).astype(log_prob.dtype)
    loss = np.where(kept, -picked * weights, 0).astype(log_prob.dtype)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.sum(loss, dtype=loss.dtype)
    if reduction == "mean":
        if weight is None and ignore_index is None:
            return np.mean(loss, dtype=loss.dtype)
        return np.sum(loss, dtype=loss.dtype) / np.sum(weights, dtype=loss.dtype)
    raise ValueError(f"unknown reduction {reduction!r}")
