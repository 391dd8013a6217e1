"""Metrics: accuracy per target kind, confusion matrices, metrics.csv (curves.png: test_plot)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from nnc.runtime.metrics import (
    MetricsLog,
    accuracy,
    confusion_matrix,
    format_confusion_matrix,
    read_metrics,
)


def test_accuracy_class_index():
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    y = np.array([0, 1, 1, 0])
    assert accuracy(scores, y, "class_index") == 0.75
    assert accuracy(np.array([0, 1, 2, 0]), y, "class_index") == 0.75
    assert accuracy(scores, np.eye(3)[y], "class_index") == 0.75
    assert accuracy(scores, y[:, None], "class_index") == 0.75


def test_accuracy_binary_and_multilabel():
    logits = np.array([[2.0], [-1.0], [0.5], [-0.2]])
    y = np.array([[1.0], [0.0], [0.0], [0.0]])
    assert accuracy(logits, y, "binary") == 0.75
    probs = np.array([0.9, 0.1, 0.6, 0.4])
    assert accuracy(probs, y, "binary", logits=False) == 0.75
    assert accuracy(probs, y, "binary") == 0.25  # every probability is a positive logit
    multi = np.array([[1.0, -1.0], [-1.0, -1.0]])
    assert accuracy(multi, np.array([[1, 0], [1, 0]]), "multilabel") == 0.75


def test_accuracy_errors():
    with pytest.raises(ValueError, match="not defined for 'real' targets"):
        accuracy(np.zeros((2, 1)), np.zeros((2, 1)), "real")
    with pytest.raises(ValueError, match="empty batch"):
        accuracy(np.zeros((0, 3)), np.zeros(0), "class_index")
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        accuracy(np.zeros((3, 3)), np.zeros(2), "class_index")


def test_confusion_matrix():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert cm.dtype == np.int64
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match=r"predicted label 3 at index 1 is outside \[0, 3\)"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="2 true labels but 1 predictions"):
        confusion_matrix([0, 1], [0], 3)


def test_format_confusion_matrix():
    cm = np.array([[12, 0, 1], [2, 130, 0], [0, 5, 7]])
    text = format_confusion_matrix(cm, ["setosa", "versicolor", "virginica"])
    lines = text.splitlines()
    assert lines[0].split() == ["true", "\\", "pred", "setosa", "versicolor", "virginica", "total"]
    assert lines[1].split() == ["setosa", "12", "0", "1", "13"]
    assert lines[-1].split() == ["total", "14", "135", "8", "157"]
    # Right-aligned numbers: every column ends at the same place on every line.
    assert len({len(line) for line in lines}) == 1
    plain = format_confusion_matrix(cm, None)
    assert plain.splitlines()[0].split()[-4:] == ["0", "1", "2", "total"]
    with pytest.raises(ValueError, match="2 class names for a 3x3 matrix"):
        format_confusion_matrix(cm, ["a", "b"])


def test_metrics_log(tmp_path):
    path = tmp_path / "metrics.csv"
    log = MetricsLog(path, ["epoch", "loss", "val_loss", "accuracy"])
    log.append({"epoch": 1, "loss": 0.1 + 0.2, "val_loss": np.float32(0.5), "accuracy": 0.5})
    log.append({"epoch": 2, "loss": 0.25})  # no validation this epoch
    with pytest.raises(ValueError, match="unknown metrics column 'val_acc'"):
        log.append({"epoch": 3, "val_acc": 1.0})
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss", "accuracy"]
    assert rows[2] == ["2", "0.25", "", ""]
    back = read_metrics(path)
    assert back[0]["loss"] == 0.1 + 0.2  # full precision survives the text file
    assert back[0]["epoch"] == 1 and back[1]["val_loss"] is None

    # A resumed run appends below the same header; a fresh one starts over.
    MetricsLog(path, ["epoch", "loss", "val_loss", "accuracy"], resume=True).append({"epoch": 3})
    assert [r["epoch"] for r in read_metrics(path)] == [1, 2, 3]
    assert path.read_text().count("epoch") == 1
    with pytest.raises(ValueError, match="differ from this run's"):
        MetricsLog(path, ["epoch", "loss"], resume=True)
    MetricsLog(path, ["epoch", "loss"])
    assert path.read_text() == "epoch,loss\n"
    with pytest.raises(ValueError, match="duplicate metrics columns"):
        MetricsLog(path, ["epoch", "epoch"])
