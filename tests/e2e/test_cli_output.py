"""What the commands print: the summary's state and connected-to columns, and a fine-tune's
init_from naming the same-name tensors it skips."""

from __future__ import annotations

from pathlib import Path

from nnc.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


def summary(capsys, path) -> list[str]:
    assert main(["summary", str(path)]) == 0
    return capsys.readouterr().out.splitlines()


def table(lines: list[str]) -> dict[str, str]:
    """layer name -> its row, for rows under the header's dashes."""
    start = next(i for i, line in enumerate(lines) if line.startswith("-----"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows[line.split()[0]] = line
    return rows


def test_batch_norm_running_statistics_are_state_not_trainable(capsys):
    lines = summary(capsys, SPECS / "lenet.yaml")
    head = lines[1].split()
    assert head[-1] == "state" and "connected" not in lines[1]
    rows = table(lines)
    # bn1 normalizes 16 channels: gamma and beta (32) train; the running mean and variance
    # (32) are state the optimizer never touches
    assert rows["bn1"].split()[-3:] == ["32", "yes", "32"]
    assert rows["conv1"].split()[-2:] == ["160", "yes"]
    assert "Total parameters:     181,104" in lines
    assert "Trainable parameters: 180,880" in lines
    assert "Non-trainable state:  224 (running statistics)" in lines


def test_frozen_batch_norm_is_frozen_with_its_state(capsys):
    rows = table(summary(capsys, SPECS / "digits-cnn-finetune.yaml"))
    assert rows["bn1"].split()[-3:] == ["32", "frozen", "32"]


def test_a_dag_gets_a_connected_to_column(capsys):
    lines = summary(capsys, ROOT / "examples" / "residual-mlp.yaml")
    assert lines[1].rstrip().endswith("connected to")
    rows = table(lines)
    assert rows["skip"].rstrip().endswith("stem, block")
    assert rows["both"].rstrip().endswith("skip, input")
    assert rows["stem"].rstrip().endswith("input")


def test_a_sequential_mlp_has_neither_column(capsys):
    lines = summary(capsys, SPECS / "digits-mlp.yaml")
    assert lines[1].split() == ["layer", "type", "output", "shape", "params", "trainable"]
    assert not any(line.startswith("Non-trainable state") for line in lines)


XOR2 = """\
nnc: 1
name: xor2
input: {shape: [2]}
layers:
  - {type: dense, units: 4, activation: sigmoid}
  - {type: dense, units: UNITS, activation: sigmoid}
loss: mse
optimizer: {type: sgd, lr: 2.0}
train: {epochs: 5, batch_size: 4, seed: 0INIT}
data:
  inline:
    x: [[0, 0], [0, 1], [1, 0], [1, 1]]
    y: Y
"""


def test_init_from_says_which_same_name_tensors_it_skips(tmp_path, capsys):
    one = XOR2.replace("UNITS", "1").replace("INIT", "").replace("Y", "[[0], [1], [1], [0]]")
    (tmp_path / "a.yaml").write_text(one)
    assert main(["train", str(tmp_path / "a.yaml"), "--run-dir", str(tmp_path / "a")]) == 0
    two = (
        XOR2.replace("UNITS", "2")
        .replace("INIT", ", init_from: {run: a}")
        .replace("Y", "[[0, 1], [1, 0], [1, 0], [0, 1]]")
    )
    (tmp_path / "b.yaml").write_text(two)
    capsys.readouterr()
    assert main(["train", str(tmp_path / "b.yaml"), "--run-dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    copied = next(line for line in out if line.startswith("init_from: copied"))
    assert copied.endswith("dense_0.weight, dense_0.bias")
    skipped = next(line for line in out if line.startswith("init_from: skipped"))
    assert skipped.startswith("init_from: skipped 2 same-name tensors whose shape differs")
    assert "dense_1.weight ([4, 1] there, [4, 2] here)" in skipped
    assert "dense_1.bias ([1] there, [2] here)" in skipped


def test_init_from_with_matching_shapes_says_nothing_of_skipping(tmp_path, capsys):
    one = XOR2.replace("UNITS", "1").replace("INIT", "").replace("Y", "[[0], [1], [1], [0]]")
    (tmp_path / "a.yaml").write_text(one)
    assert main(["train", str(tmp_path / "a.yaml"), "--run-dir", str(tmp_path / "a")]) == 0
    (tmp_path / "b.yaml").write_text(one.replace("seed: 0", "seed: 0, init_from: {run: a}"))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "b.yaml"), "--run-dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "init_from: copied 4 tensors" in out and "skipped" not in out
