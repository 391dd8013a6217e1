"""Metrics: accuracy, confusion matrices, the per-epoch metrics.csv log and how metrics print.

curves.png is drawn by nnc.runtime.plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from nnc.runtime.checkpoint import CheckpointError, append_whole, atomic_write_bytes


def format_metrics(values: dict, skip: tuple[str, ...] = ("epoch", "step", "lr", "kind")) -> str:
    """`loss 3.8e-05  accuracy 0.9667`: four significant digits, never fixed decimals (which
    print a small loss as 0.0000)."""
    return "  ".join(f"{k} {v:.4g}" for k, v in values.items() if k not in skip and v is not None)


def accuracy(pred_scores_or_labels, y, kind: str, *, logits: bool = True) -> float:
    """Fraction of correct predictions.

    class_index: predictions are scores [N, C] (argmax) or labels [N]; y labels [N] or one-hot.
    binary: predictions are scores [N, 1] or [N], thresholded at 0 (logits, the default) or at
    0.5 (logits=False, for probabilities or 0/1 labels); y holds 0/1.
    multilabel: as binary, per label; the mean over all N x C decisions (as Keras'
    binary_accuracy), not the fraction of samples with every label right.
    """
    pred = np.asarray(pred_scores_or_labels)
    y = np.asarray(y)
    if len(pred) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    if len(pred) != len(y):
        raise ValueError(f"{len(pred)} predictions but {len(y)} targets")
    if kind == "class_index":
        labels = pred if pred.ndim == 1 else np.argmax(pred.reshape(len(pred), -1), axis=1)
        truth = y.reshape(len(y)) if y.ndim == 1 or y.shape[1:] == (1,) else np.argmax(y, axis=1)
        return float(np.mean(labels.astype(np.int64) == truth.astype(np.int64)))
    if kind in ("binary", "multilabel"):
        threshold = 0.0 if logits else 0.5
        decided = pred.reshape(len(pred), -1) > threshold
        truth = y.reshape(len(y), -1) > 0.5
        if decided.shape != truth.shape:
            raise ValueError(f"predictions {pred.shape} and targets {y.shape} do not match")
        return float(np.mean(decided == truth))
    raise ValueError(f"accuracy is not defined for {kind!r} targets")


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """int64 [C, C]: row = true class, column = predicted class."""
    t = np.asarray(y_true).astype(np.int64).reshape(-1)
    p = np.asarray(y_pred).astype(np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    for name, a in (("true", t), ("predicted", p)):
        bad = np.flatnonzero((a < 0) | (a >= num_classes))
        if len(bad):
            raise ValueError(
                f"{name} label {a[bad[0]]} at index {bad[0]} is outside [0, {num_classes})"
            )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def format_confusion_matrix(cm: np.ndarray, class_names: list[str] | None = None) -> str:
    """Aligned text table, true classes down, predicted across, with row and column totals."""
    cm = np.asarray(cm)
    n = cm.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for a {n}x{n} matrix")
    corner = "true \\ pred"
    head = [corner, *names, "total"]
    body = [[names[i], *(str(v) for v in cm[i]), str(cm[i].sum())] for i in range(n)]
    body.append(["total", *(str(v) for v in cm.sum(axis=0)), str(cm.sum())])
    widths = [max(len(row[j]) for row in [head, *body]) for j in range(len(head))]

    def line(row: list[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return "\n".join(line(r) for r in [head, *body])


class MetricsLog:
    """metrics.csv: a header once, then one row per append, each flushed to the file at once.

    resume=True keeps an existing file with the same columns and appends to it; otherwise the file
    starts afresh, holding `rows` when given (a resumed run rewrites the history its checkpoint
    holds, in one atomic write). Keys not in `columns` are an error; missing ones stay empty.
    """

    def __init__(
        self,
        path: Path,
        columns: list[str],
        *,
        resume: bool = False,
        rows: list[dict] | None = None,
    ):
        self.path = Path(path)
        self.columns = list(columns)
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"duplicate metrics columns in {self.columns}")
        if rows:
            text = _csv_line(self.columns) + "".join(self._line(row) for row in rows)
            atomic_write_bytes(self.path, text.encode("utf-8"))
            return
        if resume and self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                existing = next(csv.reader(f), [])
            if existing != self.columns:
                raise ValueError(
                    f"{self.path}: its columns {existing} differ from this run's {self.columns}"
                )
            return
        atomic_write_bytes(self.path, _csv_line(self.columns).encode("utf-8"))

    def append(self, row: dict) -> None:
        """Appends one row, whole or not at all (a full disk leaves the rows before it)."""
        try:
            append_whole(self.path, self._line(row).encode("utf-8"))
        except CheckpointError as e:
            raise CheckpointError(
                f"{e} (the row of step {row.get('step')} was not written; the rows before it "
                "are intact)"
            ) from None

    def _line(self, row: dict) -> str:
        unknown = [k for k in row if k not in self.columns]
        if unknown:
            raise ValueError(f"unknown metrics column {unknown[0]!r}; columns: {self.columns}")
        return _csv_line([_cell(row.get(c)) for c in self.columns])


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics.csv, numbers as float (int where integral text), empty cells as None."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _parse(text: str | None):
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
