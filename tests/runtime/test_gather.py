"""The gathered path (runtime/gather.py): the training split bound once, K steps per call in an
ONNX Loop. It trains exactly as one call per step does, stops before mid-epoch validations and
the epoch's smaller last batch, and its NaN guard still names the step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnc.runtime.checkpoint import load_checkpoint
from nnc.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _spec(tmp_path, k: int, extra: str = "") -> Path:
    text = (ROOT / "specs" / "digits-mlp.yaml").read_text()
    text = text.replace("train: {", f"train: {{steps_per_call: {k}, {extra}")
    path = tmp_path / f"k{k}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("extra", ["", "validate_every: 7, "])
def test_k_steps_per_call_train_like_one(tmp_path, extra):
    runs = {}
    for k in (1, 6):
        run = tmp_path / f"run{k}"
        args = ["train", str(_spec(tmp_path, k, extra)), "--run-dir", str(run), "--epochs", "3"]
        assert main([*args, "--device", "cpu"]) == 0
        runs[k] = run
    a, _ = load_checkpoint(runs[1] / "checkpoints" / "final.ckpt")
    b, _ = load_checkpoint(runs[6] / "checkpoints" / "final.ckpt")
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert (runs[1] / "metrics.csv").read_text().count("\n") == (
        (runs[6] / "metrics.csv").read_text().count("\n")
    )


def test_the_nan_guard_names_the_step_inside_a_call(tmp_path, capsys):
    messages = []
    for k in (1, 8):
        run = tmp_path / f"nan{k}"
        spec = _spec(tmp_path, k)
        code = main(["train", str(spec), "--run-dir", str(run), "--lr", "1e37", "--device", "cpu"])
        assert code == 3
        err = capsys.readouterr().err
        messages.append(err[err.index("at step") : err.index(")") + 1])
    assert messages[0] == messages[1], messages
