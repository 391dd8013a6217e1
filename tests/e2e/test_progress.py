"""Training progress: metrics.csv rows with validate_every, the per-step iterations.csv (also
across a resume), mid-epoch validation printed, curves.png redrawn while training, metrics
printed with significant digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnc.runtime.cli import main
from nnc.runtime.metrics import read_metrics
from nnc.runtime.steplog import read_iterations

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

IRIS = (
    (SPECS / "iris-mlp.yaml")
    .read_text()
    .replace(
        "train: {epochs: 100, batch_size: 16, seed: 0}",
        "train: {epochs: 3, batch_size: 16, seed: 0, validate_every: 2}",
    )
)


@pytest.fixture
def iris_spec(tmp_path):
    assert "validate_every: 2" in IRIS
    path = tmp_path / "iris.yaml"
    path.write_text(IRIS)
    return path


def test_mid_epoch_rows_belong_to_their_epoch_at_their_step(tmp_path, iris_spec, capsys):
    assert main(["train", str(iris_spec), "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    spe = 7  # 105 training flowers in batches of 16
    mids = [r for r in rows if r["kind"] == "mid"]
    ends = [r for r in rows if r["kind"] == "epoch"]
    assert [r["step"] for r in ends] == [7, 14, 21]
    assert [r["epoch"] for r in ends] == [1, 2, 3]
    # every 2 steps, but for step 14, an epoch's end, whose row has the validation
    assert [r["step"] for r in mids] == [2, 4, 6, 8, 10, 12, 16, 18, 20]
    assert [r["epoch"] for r in mids] == [(r["step"] - 1) // spe + 1 for r in mids]
    assert all(r["val_loss"] is not None for r in rows)
    # each is printed, mid-epoch ones marked
    printed = [line for line in out.splitlines() if "(mid-epoch)" in line]
    assert len(printed) == len(mids)
    assert printed[0].startswith("epoch 1/3  step 2  loss ")
    assert f"val_loss {mids[0]['val_loss']:.4g}" in printed[0]


def test_iterations_csv_holds_every_step_and_agrees_with_the_epoch_means(tmp_path, iris_spec):
    assert main(["train", str(iris_spec), "--run-dir", str(tmp_path / "r")]) == 0
    it = read_iterations(tmp_path / "r" / "iterations.csv")
    np.testing.assert_array_equal(it["step"], np.arange(1, 22))
    np.testing.assert_array_equal(it["epoch"], np.repeat([1, 2, 3], 7))
    # the epoch's loss in metrics.csv is the sample-weighted mean of its steps' losses
    sizes = np.array([16] * 6 + [105 - 96])
    ends = [r for r in read_metrics(tmp_path / "r" / "metrics.csv") if r["kind"] == "epoch"]
    for e, row in enumerate(ends):
        steps = slice(7 * e, 7 * e + 7)
        for name in ("loss", "accuracy"):
            mean = np.average(it[name][steps], weights=sizes)
            assert mean == pytest.approx(row[name], rel=1e-6)


def test_a_resumed_run_continues_iterations_csv_exactly(tmp_path, iris_spec, capsys):
    straight, parted = tmp_path / "straight", tmp_path / "parted"
    assert main(["train", str(iris_spec), "--run-dir", str(straight)]) == 0
    assert main(["train", str(iris_spec), "--run-dir", str(parted), "--epochs", "2"]) == 0
    with open(parted / "iterations.csv", "a") as f:
        f.write("15,3,9.0,0.5\n16,3,9.0,0.5\n")  # steps past the checkpoint: run again on resume
    assert main(["train", "--resume", str(parted), "--epochs", "3"]) == 0
    assert (parted / "iterations.csv").read_text() == (straight / "iterations.csv").read_text()
    assert read_metrics(parted / "metrics.csv") == read_metrics(straight / "metrics.csv")


def test_curves_are_redrawn_while_training(tmp_path, monkeypatch, iris_spec, capsys):
    from nnc.runtime.rundir import RunDir

    drawn = []
    real = RunDir.write_curves

    def spy(self, rows):
        lines = (self.path / "iterations.csv").read_text().count("\n") - 1
        drawn.append((len(rows), lines))
        return real(self, rows)

    monkeypatch.setattr(RunDir, "write_curves", spy)
    monkeypatch.setenv("NNC_LIVE_CURVES", "1e-9")  # as often as it may
    assert main(["train", str(iris_spec), "--run-dir", str(tmp_path / "r")]) == 0
    # a redraw during the run (the next waits ten times as long as one took), and the final one
    assert len(drawn) >= 2
    # each with the steps so far flushed to iterations.csv
    assert drawn[0][1] < 21 and drawn[-1][1] == 21
    assert [lines for _, lines in drawn] == sorted(lines for _, lines in drawn)
    assert (tmp_path / "r" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_live_curves_are_off_without_a_terminal_and_a_bad_setting_is_one_line(
    tmp_path, monkeypatch, iris_spec, capsys
):
    from nnc.runtime.trainer import live_curves_seconds

    monkeypatch.delenv("NNC_LIVE_CURVES", raising=False)
    assert live_curves_seconds(tty=False) is None and live_curves_seconds(tty=True) == 5.0
    monkeypatch.setenv("NNC_LIVE_CURVES", "0")
    assert live_curves_seconds(tty=True) is None
    monkeypatch.setenv("NNC_LIVE_CURVES", "soon")
    assert main(["train", str(iris_spec), "--run-dir", str(tmp_path / "r")]) == 1
    assert "NNC_LIVE_CURVES='soon'" in capsys.readouterr().err


def test_small_metrics_print_with_significant_digits(tmp_path, monkeypatch, iris_spec, capsys):
    """A loss of 3.8e-5 printed as 0.0000 hid it: the test line, eval and the epoch lines."""
    from nnc.runtime.evaluation import Evaluator

    real = Evaluator.__call__

    def tiny(self, split, values):
        return {k: 3.8e-5 if k == "loss" else v for k, v in real(self, split, values).items()}

    monkeypatch.setattr(Evaluator, "__call__", tiny)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        IRIS.replace("validation: 0.1", "validation: 0.1").replace(
            "validate_every: 2", "validate_every: 100"
        )
    )
    assert main(["train", str(spec), "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    test_line = next(line for line in out.splitlines() if line.startswith("test: "))
    assert test_line.startswith("test: loss 3.8e-05  accuracy ")
    epoch_line = next(line for line in out.splitlines() if line.startswith("epoch 1/3"))
    assert "val_loss 3.8e-05" in epoch_line
    assert main(["eval", str(tmp_path / "r")]) == 0
    evals = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in evals] == [
        ["train:", "loss", "3.8e-05"],
        ["validation:", "loss", "3.8e-05"],
        ["test:", "loss", "3.8e-05"],
    ]
