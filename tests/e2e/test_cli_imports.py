"""The quick commands import only what they use: validate, summary and --version never load
onnx, onnxruntime, matplotlib or scikit-learn (each costs more than the whole command; see
benchmarks/cli_startup.py for the timings)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("onnx", "onnx.reference", "onnxruntime", "matplotlib", "sklearn", "scipy")


def imported_after(argv: list[str]) -> tuple[int, list[str]]:
    """Runs the CLI in a fresh interpreter -> (exit code, the heavy modules it imported)."""
    code = (
        "import json, sys\n"
        "from nnc.runtime.cli import main\n"
        f"rc = main({argv!r})\n"
        f"print(json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, heavy


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["validate", "specs/digits-cnn.yaml"],
        ["summary", "specs/digits-lstm.yaml"],
        ["validate", "specs/alexnet.yaml"],
        ["summary", "specs/iris-mlp.yaml"],
    ],
)
def test_quick_commands_import_no_heavy_module(argv):
    rc, heavy = imported_after(argv)
    assert rc == 0
    assert heavy == []


def test_an_invalid_spec_is_reported_without_heavy_imports(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: {shape: [2]}\nlayers:\n  - {type: dense, units: 4.0}\n")
    rc, heavy = imported_after(["validate", str(bad)])
    assert rc == 1
    assert heavy == []


def test_compile_still_builds_graphs(tmp_path):
    """The lazily imported onnx is there when a graph is built."""
    rc, heavy = imported_after(["compile", "specs/xor.yaml", "-o", str(tmp_path / "out")])
    assert rc == 0 and "onnx" in heavy
    assert (tmp_path / "out" / "train_step.onnx").exists()
