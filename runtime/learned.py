"""What a small training set learned: after `nnc train` on at most SMALL_DATA samples (XOR's
truth table, a boolean gate), every sample's inputs, target and the trained model's prediction as
a text table."""

from __future__ import annotations

import numpy as np

from nnc.runtime.predict import Prediction, Served, _g, _p, predict

SMALL_DATA = 16  # at most this many samples: nnc train prints every one with its prediction
_TABLE_FEATURES = 8  # inputs shown as columns up to this many features


def learned_table(compiled, data, engine, values: dict[str, np.ndarray]) -> str | None:
    """A small data set (<= SMALL_DATA samples, e.g. XOR's truth table): every sample's inputs,
    target and the trained model's prediction, as a text table; None for a larger set."""
    parts = [
        (k, s)
        for k, s in (("train", data.train), ("validation", data.validation), ("test", data.test))
        if s is not None
    ]
    if sum(len(s) for _, s in parts) > SMALL_DATA or compiled.spec.loss is None:
        return None
    model = compiled.export(values)  # takes the preprocessed features the splits hold
    net = compiled.net
    served = Served(
        model,
        compiled.spec.filename,
        net.target().kind,
        net.output_activation()[0],
        data.class_names,
        {},
    )
    rows: list[list[str]] = []
    for part, split in parts:
        pred = predict(served, split.x, engine)
        inputs = _raw_features(split.x, data).reshape(len(split), -1)
        for i in range(len(split)):
            shown = [_g(v) for v in inputs[i]] if inputs.shape[1] <= _TABLE_FEATURES else []
            rows.append(
                [
                    *([part] if len(parts) > 1 else []),
                    *shown,
                    _target_text(split.y[i], pred),
                    _prediction_text(pred, i),
                ]
            )
    width = inputs.shape[1]
    head = [
        *(["split"] if len(parts) > 1 else []),
        *([f"x{j}" for j in range(width)] if width <= _TABLE_FEATURES else []),
        "target",
        "prediction",
    ]
    n = len(rows)
    return f"learned table ({n} sample{'s' if n != 1 else ''}):\n" + _aligned([head, *rows])


def _raw_features(x: np.ndarray, data) -> np.ndarray:
    """The features as read: the fitted preprocessing undone where it can be."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    affine = data.preprocess
    if affine is None:
        return x
    scale = np.asarray(affine.scale, np.float64).reshape(-1)
    shift = np.asarray(affine.shift, np.float64).reshape(-1)
    safe = np.where(scale != 0, scale, 1.0)
    return (x - shift) / safe


def _target_text(y, pred: Prediction) -> str:
    y = np.asarray(y).reshape(-1)
    if pred.kind in ("class_index", "binary"):
        count = pred.class_table()[1].shape[1]
        return pred.names(count)[int(round(float(y[0])))]
    return " ".join(_g(v) for v in y)


def _prediction_text(pred: Prediction, i: int) -> str:
    if pred.kind in ("class_index", "binary"):
        names, p = pred.class_table()
        k = int(pred.labels.reshape(len(pred))[i])
        return f"{names[k]} ({_p(p[i, k])})"
    if pred.kind == "multilabel":
        return " ".join(_p(v) for v in pred.probabilities.reshape(len(pred), -1)[i])
    return " ".join(_g(v) for v in pred.y.reshape(len(pred), -1)[i])


def _aligned(rows: list[list[str]]) -> str:
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
