"""nnc bench works on every spec and says what it measured."""

import json
from pathlib import Path

import pytest

from nnc.runtime.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"
SMALL = [p.name for p in sorted(SPECS.glob("*.yaml")) if p.name != "alexnet.yaml"]


@pytest.mark.parametrize("name", SMALL)
def test_bench_every_spec(name, capsys):
    args = [
        "bench",
        str(SPECS / name),
        "--json",
        "--repeats",
        "2",
        "--warmup",
        "2",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["engine"].startswith("ort on cpu")
    assert r["infer_ms_per_batch"] > 0 and r["peak_rss_mib"] > 0
    if name in ("and-gate.yaml", "xnor.yaml"):
        assert r["train_ms_per_step"] is None  # nothing to train
    else:
        assert r["train_ms_min"] <= r["train_ms_per_step"] <= r["train_ms_max"]
        assert r["train_samples_per_s"] == pytest.approx(
            r["batch_size"] / r["train_ms_per_step"] * 1e3
        )


def test_bench_text_output(capsys):
    assert main(["bench", str(SPECS / "xor.yaml"), "--repeats", "1", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "ms/step" in out and "samples/s" in out and "engine:" in out


@pytest.mark.slow
def test_bench_alexnet_one_step(capsys):
    args = [
        "bench",
        str(SPECS / "alexnet.yaml"),
        "--json",
        "--repeats",
        "1",
        "--warmup",
        "1",
        "--batch-size",
        "1",
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == 60_965_224
