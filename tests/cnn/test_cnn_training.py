"""Training the CNN specs end to end: LeNet on generated IDX files, fine-tuning with frozen conv
layers, and (slow) one AlexNet step."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from nnc.runtime.checkpoint import load_checkpoint
from nnc.runtime.cli import main
from nnc.runtime.data import write_idx

SPECS = Path(__file__).resolve().parents[2] / "specs"


def fake_mnist(folder: Path, n: int, seed: int = 0) -> None:
    """MNIST-shaped IDX files whose classes are learnable: digit k is a bright 6x6 block at one of
    ten places, on uint8 noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = 3 + 11 * (k // 5), 2 + 5 * (k % 5)
        images[i, r : r + 6, c : c + 6] = rng.integers(180, 256, (6, 6))
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", images, gzip=True)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels, gzip=True)


def train(run: Path, spec: Path, *extra) -> int:
    return main(["train", str(spec), "--run-dir", str(run), "--device", "cpu", *map(str, extra)])


def test_lenet_trains_on_idx_files_as_written(tmp_path):
    # the spec file unchanged (3 epochs, validation every 30 steps); its data.idx paths resolve
    # next to it
    spec = tmp_path / "lenet.yaml"
    spec.write_text((SPECS / "lenet.yaml").read_text())
    fake_mnist(tmp_path / "mnist", 400)
    run = tmp_path / "run"
    assert train(run, spec, "--batch-size", 32) == 0
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    assert [int(r["step"]) for r in rows] == [12, 24, 30, 36]  # 12 steps per epoch
    loss = [float(r["loss"]) for r in rows]
    assert loss[-1] < 0.1 * loss[0], loss
    # eval mode normalises with the running statistics, which the steps have been updating
    assert float(rows[-1]["val_accuracy"]) > 0.9
    final, _ = load_checkpoint(run / "checkpoints" / "final.ckpt")
    assert not np.array_equal(final["bn1.running_mean"], np.zeros(16))


def test_finetune_keeps_frozen_layers_bit_for_bit(tmp_path):
    pre = tmp_path / "pre"
    assert train(pre, SPECS / "digits-cnn.yaml", "--epochs", 2) == 0
    text = (SPECS / "digits-cnn-finetune.yaml").read_text()
    text = re.sub(r"run: runs/digits-cnn", f"run: {pre}", text)
    assert str(pre) in text
    spec = tmp_path / "finetune.yaml"
    spec.write_text(text)
    tuned = tmp_path / "tuned"
    assert train(tuned, spec, "--epochs", 2) == 0

    before, _ = load_checkpoint(pre / "checkpoints" / "final.ckpt")
    after, _ = load_checkpoint(tuned / "checkpoints" / "final.ckpt")
    frozen = [k for k in before if k.split(".")[0] in ("conv1", "bn1", "conv2", "bn2")]
    frozen = [k for k in frozen if not k.endswith((".m", ".v", ".velocity"))]
    assert {"conv1.weight", "bn1.running_var", "conv2.weight", "bn2.gamma"} <= set(frozen)
    for k in frozen:
        assert after[k].dtype == before[k].dtype
        assert after[k].tobytes() == before[k].tobytes(), k
    # the new head was trained: it moved away from its initial values
    from nnc.compiler.network import Network
    from nnc.compiler.spec.model import load_spec

    initial = Network(load_spec(spec)).initial_values(0)
    assert not np.array_equal(after["head.weight"], initial["head.weight"])
    assert json.loads((tuned / "summary.json").read_text())["test"]["accuracy"] > 0.5


@pytest.mark.slow
def test_alexnet_compiles_and_takes_a_training_step(tmp_path):
    import onnx
    import onnxruntime as ort

    from nnc.compiler.network import Network
    from nnc.compiler.spec.model import load_spec

    out = tmp_path / "alexnet"
    assert main(["compile", str(SPECS / "alexnet.yaml"), "-o", str(out)]) == 0
    model = onnx.load(str(out / "train_step.onnx"))
    net = Network(load_spec(SPECS / "alexnet.yaml"))
    values = net.initial_values(0)
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.normal(size=(1, 3, 227, 227)).astype(np.float32),
        "y": np.array([7], np.int64),
        "step": np.array(0, np.int64),
        "lr": np.array(0.01, np.float32),
    }
    for i in model.graph.input:
        if i.name.endswith(".velocity"):
            feeds[i.name] = np.zeros_like(values[i.name.rsplit(".", 1)[0]])
        elif i.name.endswith(".uniform"):
            feeds[i.name] = rng.random((1, 4096), dtype=np.float32)
        elif i.name in values:
            feeds[i.name] = values[i.name]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    loss, norm = sess.run(["loss", "grad_norm"], feeds)
    assert time.perf_counter() - start < 30
    assert np.isfinite(loss) and np.isfinite(norm) and norm > 0


@pytest.mark.slow
def test_digits_cnn_reaches_97_percent(tmp_path):
    run = tmp_path / "run"
    assert train(run, SPECS / "digits-cnn.yaml") == 0
    accuracy = json.loads((run / "summary.json").read_text())["test"]["accuracy"]
    assert accuracy >= 0.97
