"""examples/train-in-node drives train_step.onnx from JavaScript with onnxruntime-node, knowing
only `nnc compile --with-data`'s folder: its losses and trained parameters equal those of the
same loop on onnxruntime in Python (manifest_loop.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conformance.compare import scaled_diff
from conformance.conftest import record
from conformance.manifest_loop import initial_state, read_tensor, train
from conformance.runners import NODE_MODULES, ROOT
from nnc.runtime.cli import main

pytestmark = pytest.mark.conformance

EXAMPLE = ROOT / "examples" / "train-in-node" / "train.js"
RUNTIME = "onnxruntime-node (examples/train-in-node)"
STEPS = 20
# onnxruntime-node 1.30 against onnxruntime 1.31 (Python) on the same CPU: measured equal to the
# last bit on these specs; the tolerance leaves room for another kernel's summation order
TOL = 1e-5


def _node_ready() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not (NODE_MODULES / "onnxruntime-node" / "package.json").exists():
        return f"onnxruntime-node is not in {NODE_MODULES}: run scripts/conformance/install.sh"
    return None


@pytest.mark.parametrize("spec", ["digits-mlp", "digits-cnn"])  # dropout + Adam; batch norm
def test_node_example_trains_like_onnxruntime(tmp_path, spec):
    why = _node_ready()
    if why:
        pytest.skip(why)
    out = tmp_path / "compiled"
    spec_file = ROOT / "specs" / f"{spec}.yaml"
    assert main(["compile", str(spec_file), "-o", str(out), "--with-data"]) == 0
    report = tmp_path / "report.json"
    proc = subprocess.run(
        ["node", str(EXAMPLE), str(out), "--steps", str(STEPS), "--json", str(report)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(report.read_text())
    want_losses, want_state = train(out, STEPS)
    assert len(got["losses"]) == STEPS
    rel = np.abs(np.array(got["losses"]) - want_losses) / np.abs(want_losses)
    version = json.loads((NODE_MODULES / "onnxruntime-node" / "package.json").read_text())
    cell = {"spec": spec, "runtime": RUNTIME, "mode": "train", "version": version["version"]}
    cell["loss_rel"] = float(rel.max())
    if rel.max() > TOL:
        record(cell, "failed")
    assert rel.max() <= TOL, (got["losses"], want_losses)
    assert "loss" in got["test"] and "metric.accuracy" in got["test"]
    # trained.bin: the parameters after the last step, in the layout of initial.bin
    manifest = json.loads((out / "manifest.json").read_text())
    trained = {**manifest["initial_values"], "file": "trained.bin"}
    start = initial_state(out, manifest)
    worst = 0.0
    for p in manifest["parameters"]:
        value = read_tensor(out, {**p, "file": trained["file"]})
        diff = scaled_diff(value, want_state[p["name"]])
        worst = max(worst, diff)
        assert diff <= TOL, p["name"]
        if p["trainable"]:
            assert not np.array_equal(value, start[p["name"]]), f"{p['name']} never changed"
    record(cell, "passed", param_diff=worst)
