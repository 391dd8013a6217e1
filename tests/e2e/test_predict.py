"""nnc predict serving real data: the run's own CSV (text labels and all), class names and
probabilities, the output files, untrained specs, the learned table of a small data set; and its
safety: damaged models, outputs that would clobber a run or fill a disk, a closed pipe."""

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnc.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write_iris_csv(path: Path, delimiter: str = ",", target: bool = True) -> np.ndarray:
    """scikit-learn's iris as a CSV with a header and text species labels; -> the features."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(FEATURES + (["species"] if target else []))
        for row, t in zip(iris.data, iris.target):
            w.writerow([*row] + ([iris.target_names[t]] if target else []))
    return iris.data.astype(np.float32)


IRIS_CSV_SPEC = """\
nnc: 1
name: iris-csv
input: {{shape: [4]}}
layers:
  - {{type: dense, units: 16, activation: relu}}
  - {{type: dense, units: 3{softmax}}}
loss: cross_entropy
optimizer: {{type: adam, lr: 0.02}}
train: {{epochs: 40, batch_size: 16, seed: 0}}
data:
  csv: {{path: iris.csv, target: species, delimiter: ";",
        features: [petal_length, petal_width, sepal_length, sepal_width]}}
  preprocess: {{x: {{standardize: true}}}}
"""


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A run trained on iris.csv (';'-separated, text labels, features reordered by name)."""
    d = tmp_path_factory.mktemp("iris")
    x = write_iris_csv(d / "iris.csv", delimiter=";")
    (d / "spec.yaml").write_text(IRIS_CSV_SPEC.format(softmax=", activation: softmax"))
    code = main(["train", str(d / "spec.yaml"), "--run-dir", str(d / "run"), "--device", "cpu"])
    assert code == 0
    return d, x


def served_by_onnxruntime(model: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    y, label = sess.run(["y", "label"], {"x": x})
    return y, label


def test_predict_on_the_csv_the_run_trained_on(iris_run, capsys):
    d, x = iris_run
    code, out, err = run(capsys, "predict", d / "run", "--input", d / "iris.csv")
    assert code == 0, err
    # the run's feature order, not the file's: petal_length, petal_width, sepal_length, ...
    y, label = served_by_onnxruntime(d / "run" / "model.onnx", x[:, [2, 3, 0, 1]])
    names = ["setosa", "versicolor", "virginica"]
    lines = out.strip().splitlines()
    assert len(lines) == 150
    for line, probs, k in zip(lines, y, label):
        name, p = line.split()
        assert name == names[k]
        assert float(p) == pytest.approx(probs[k], rel=1e-3)
    assert (label == np.repeat([0, 1, 2], 50)).mean() > 0.9


def test_the_target_column_may_be_absent(iris_run, tmp_path, capsys):
    d, x = iris_run
    with open(tmp_path / "new.csv", "w") as f:  # no species, columns in another order
        f.write(";".join(reversed(FEATURES)) + "\n")
        for row in x[:5]:
            f.write(";".join(str(v) for v in reversed(row)) + "\n")
    code, out, err = run(capsys, "predict", d / "run", "--input", tmp_path / "new.csv")
    assert code == 0, err
    _, label = served_by_onnxruntime(d / "run" / "model.onnx", x[:5, [2, 3, 0, 1]])
    names = ["setosa", "versicolor", "virginica"]
    assert [line.split()[0] for line in out.strip().splitlines()] == [names[k] for k in label]


def test_columns_the_run_names_need_a_header(iris_run, tmp_path, capsys):
    d, x = iris_run
    (tmp_path / "new.csv").write_text("\n".join(";".join(map(str, r)) for r in x[:3]) + "\n")
    code, _, err = run(capsys, "predict", d / "run", "--input", tmp_path / "new.csv")
    assert code == 1
    assert "needs a header row" in one_line_error(err)


def test_a_csv_with_the_wrong_columns_is_one_line(iris_run, tmp_path, capsys):
    d, _ = iris_run
    (tmp_path / "bad.csv").write_text("a;b\n1;2\n")
    code, _, err = run(capsys, "predict", d / "run", "--input", tmp_path / "bad.csv")
    assert code == 1
    line = one_line_error(err)
    assert "no column named 'petal_length'" in line


def test_output_files_csv_json_npy_npz(iris_run, tmp_path, capsys):
    d, x = iris_run
    y, label = served_by_onnxruntime(d / "run" / "model.onnx", x[:, [2, 3, 0, 1]])
    names = ["setosa", "versicolor", "virginica"]
    for suffix in (".csv", ".json", ".npy", ".npz"):
        out = tmp_path / f"p{suffix}"
        code, said, err = run(capsys, "predict", d / "run", "--input", d / "iris.csv", "-o", out)
        assert code == 0, err
        assert said.strip() == f"wrote predictions for 150 samples to {out}"
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["label", "p_setosa", "p_versicolor", "p_virginica"]
    assert [r[0] for r in rows[1:]] == [names[k] for k in label]
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], float), y, rtol=1e-6)
    records = json.loads((tmp_path / "p.json").read_text())
    assert [r["label"] for r in records] == [names[k] for k in label]
    np.testing.assert_allclose(
        [[r["probabilities"][c] for c in names] for r in records], y, rtol=1e-6
    )
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), y, rtol=1e-6)
    with np.load(tmp_path / "p.npz") as z:
        np.testing.assert_array_equal(z["label"], label)
        np.testing.assert_allclose(z["y"], y, rtol=1e-6)


def test_probabilities_of_a_logits_network_are_its_softmax(tmp_path, capsys):
    x = write_iris_csv(tmp_path / "iris.csv", delimiter=";")
    (tmp_path / "spec.yaml").write_text(IRIS_CSV_SPEC.format(softmax=""))
    assert main(["train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    code, _, err = run(
        capsys,
        "predict",
        tmp_path / "r",
        "--input",
        tmp_path / "iris.csv",
        "-o",
        tmp_path / "p.csv",
    )
    assert code == 0, err
    logits, label = served_by_onnxruntime(tmp_path / "r" / "model.onnx", x[:, [2, 3, 0, 1]])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    np.testing.assert_allclose(np.array([r[1:] for r in rows], float), softmax, rtol=1e-5)
    assert [r[0] for r in rows] == [["setosa", "versicolor", "virginica"][k] for k in label]


def test_binary_and_regression_outputs(tmp_path, capsys):
    data = "data:\n  inline: {x: [[0], [1], [2], [3]], y: [[0], [0], [1], [1]]}\n"
    head = "nnc: 1\nname: t\ninput: {shape: [1]}\ntrain: {epochs: 5, batch_size: 4}\n" + data
    (tmp_path / "b.yaml").write_text(
        head + "layers: [{type: dense, units: 1}]\nloss: binary_cross_entropy\n"
    )
    (tmp_path / "r.yaml").write_text(head + "layers: [{type: dense, units: 2}]\nloss: mse\n")
    (tmp_path / "r.yaml").write_text(
        (tmp_path / "r.yaml")
        .read_text()
        .replace("[[0], [0], [1], [1]]", "[[0, 1], [0, 2], [1, 3], [1, 4]]")
    )
    x = np.array([[0.5], [2.5]], np.float32)
    np.save(tmp_path / "x.npy", x)
    for name in ("b", "r"):
        assert (
            main(["train", str(tmp_path / f"{name}.yaml"), "--run-dir", str(tmp_path / name)]) == 0
        )
    capsys.readouterr()

    sess = ort.InferenceSession(
        str(tmp_path / "b" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    logit, label = sess.run(["y", "label"], {"x": x})
    p1 = 1 / (1 + np.exp(-logit[:, 0].astype(np.float64)))
    code, out, _ = run(
        capsys, "predict", tmp_path / "b", "--input", tmp_path / "x.npy", "-o", tmp_path / "b.csv"
    )
    rows = list(csv.reader(open(tmp_path / "b.csv", newline="")))
    assert rows[0] == ["label", "p_0", "p_1"]
    assert [r[0] for r in rows[1:]] == [str(int(v)) for v in label[:, 0]]
    np.testing.assert_allclose(
        np.array([r[1:] for r in rows[1:]], float), np.c_[1 - p1, p1], rtol=1e-5
    )

    sess = ort.InferenceSession(
        str(tmp_path / "r" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (y,) = sess.run(["y"], {"x": x})
    code, out, _ = run(
        capsys, "predict", tmp_path / "r", "--input", tmp_path / "x.npy", "-o", tmp_path / "r.json"
    )
    assert code == 0
    np.testing.assert_allclose(
        [r["y"] for r in json.loads((tmp_path / "r.json").read_text())], y, rtol=1e-6
    )
    code, out, _ = run(capsys, "predict", tmp_path / "r", "--input", tmp_path / "x.npy")
    np.testing.assert_allclose(np.loadtxt(out.splitlines()), y, rtol=1e-5)


def test_an_untrained_spec_is_refused_unless_asked(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    code, _, err = run(capsys, "predict", SPECS / "iris-mlp.yaml", "--input", tmp_path / "x.npy")
    assert code == 1
    assert "untrained" in one_line_error(err) and "--untrained" in err
    args = ("predict", SPECS / "iris-mlp.yaml", "--input", tmp_path / "x.npy", "--untrained")
    code, out, _ = run(capsys, *args)
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_a_hand_set_network_needs_no_training(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    code, out, err = run(capsys, "predict", SPECS / "and-gate.yaml", "--input", tmp_path / "x.npy")
    assert code == 0, err
    assert [float(v) > 0.5 for v in out.split()] == [False, False, False, True]


def test_training_a_small_data_set_prints_the_learned_table(tmp_path, capsys):
    code = main(["train", str(SPECS / "xor.yaml"), "--run-dir", str(tmp_path / "r")])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    k = out.index("learned table (4 samples):")
    assert out[k + 1].split() == ["x0", "x1", "target", "prediction"]
    rows = [line.split() for line in out[k + 2 : k + 6]]
    x = np.array([[float(v) for v in r[:2]] for r in rows], np.float32)
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert [float(r[2]) for r in rows] == [0, 1, 1, 0]
    sess = ort.InferenceSession(
        str(tmp_path / "r" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    np.testing.assert_allclose(
        [float(r[3]) for r in rows], sess.run(["y"], {"x": x})[0][:, 0], rtol=1e-3
    )


def test_a_large_data_set_prints_no_table(iris_run, capsys):
    d, _ = iris_run  # trained on 150 samples: the fixture's output had no table
    code = main(["train", str(d / "spec.yaml"), "--run-dir", str(d / "again"), "--epochs", "1"])
    assert code == 0
    assert "learned table" not in capsys.readouterr().out


def test_a_classifier_table_names_the_classes(tmp_path, capsys):
    (tmp_path / "s.csv").write_text("a,b,kind\n0,0,no\n1,1,yes\n0,1,no\n1,0,yes\n")
    (tmp_path / "s.yaml").write_text(
        "nnc: 1\nname: t\ninput: {shape: [2]}\nlayers: [{type: dense, units: 2}]\n"
        "loss: cross_entropy\noptimizer: {type: adam, lr: 0.1}\n"
        "train: {epochs: 50, batch_size: 4}\ndata: {csv: {path: s.csv, target: kind}}\n"
    )
    assert main(["train", str(tmp_path / "s.yaml"), "--run-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out.splitlines()
    k = out.index("learned table (4 samples):")
    rows = [line.split() for line in out[k + 2 : k + 6]]
    assert [r[2] for r in rows] == ["no", "yes", "no", "yes"]
    assert [r[3] for r in rows] == ["no", "yes", "no", "yes"]  # learned: the label is a
    assert all(0.5 < float(r[4].strip("()")) <= 1 for r in rows)
    (tmp_path / "new.csv").write_text("0,0\n1,1\n")  # no header: the columns by position
    code, out, err = run(capsys, "predict", tmp_path / "r", "--input", tmp_path / "new.csv")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["no", "yes"]


# -- safety ---------------------------------------------------------------------------------------
def _tiny_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    w = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _external_outside(path: Path) -> None:
    m = _tiny_model()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    path.write_bytes(m.SerializeToString())


def _unknown_op(path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="example.custom")
    g = helper.make_graph([node], "g", [x], [y])
    ops = [helper.make_opsetid("", 18), helper.make_opsetid("example.custom", 1)]
    path.write_bytes(helper.make_model(g, opset_imports=ops, ir_version=8).SerializeToString())


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(_tiny_model().SerializeToString()[:40]), "truncated"),
        (lambda p: p.write_bytes(b"\xff\x00 not a model " * 20), "not an ONNX model"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (_external_outside, "onnx refuses to load it: Data of TensorProto"),
        (_unknown_op, "onnxruntime cannot run this model"),
    ],
    ids=["truncated", "garbage", "empty", "external-data-outside", "unknown-op"],
)
def test_a_bad_model_file_is_one_line(tmp_path, capsys, make, message):
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    make(model)
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    code, out, err = run(capsys, "predict", model, "--input", tmp_path / "x.npy")
    assert code == 1 and out == ""
    line = one_line_error(err)
    assert line.startswith(f"error: {model}: ") and message in line


def test_the_tiny_model_itself_serves(tmp_path, capsys):  # the bad-model cases' control
    (tmp_path / "m.onnx").write_bytes(_tiny_model().SerializeToString())
    np.save(tmp_path / "x.npy", np.array([[1, 2]], np.float32))
    code, out, _ = run(capsys, "predict", tmp_path / "m.onnx", "--input", tmp_path / "x.npy")
    assert code == 0 and out.split() == ["1", "2"]


@pytest.fixture
def xor_run(tmp_path, capsys):
    assert (
        main(["train", str(SPECS / "xor.yaml"), "--run-dir", str(tmp_path / "r"), "--epochs", "3"])
        == 0
    )
    np.save(tmp_path / "x.npy", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    capsys.readouterr()
    return tmp_path / "r", tmp_path / "x.npy"


@pytest.mark.parametrize(
    "name", ["spec.yaml", "model.onnx", "metrics.csv", "checkpoints/final.ckpt"]
)
def test_an_output_that_would_replace_a_run_file_is_refused(xor_run, capsys, name):
    run_dir, x = xor_run
    target = run_dir / name
    before = target.read_bytes()
    code, _, err = run(capsys, "predict", run_dir, "--input", x, "-o", target)
    assert code == 1
    assert "would replace" in one_line_error(err)
    assert target.read_bytes() == before


def test_an_output_through_a_symlink_onto_a_run_file_is_refused(xor_run, tmp_path, capsys):
    run_dir, x = xor_run
    link = tmp_path / "innocent.csv"
    link.symlink_to(run_dir / "spec.yaml")
    before = (run_dir / "spec.yaml").read_bytes()
    code, _, err = run(capsys, "predict", run_dir, "--input", x, "-o", link)
    assert code == 1 and "would replace spec.yaml" in one_line_error(err)
    assert (run_dir / "spec.yaml").read_bytes() == before


def test_a_new_file_in_a_run_directory_is_fine(xor_run, capsys):
    run_dir, x = xor_run
    code, _, err = run(capsys, "predict", run_dir, "--input", x, "-o", run_dir / "predictions.csv")
    assert code == 0, err
    assert (run_dir / "predictions.csv").read_text().startswith("y\n")


def test_an_output_onto_a_directory_is_one_line(xor_run, tmp_path, capsys):
    run_dir, x = xor_run
    (tmp_path / "out").mkdir()
    code, _, err = run(capsys, "predict", run_dir, "--input", x, "-o", tmp_path / "out")
    assert code == 1 and "is a directory" in one_line_error(err)


@pytest.mark.parametrize(
    "fail_in, code",
    [("replace", errno.ENOSPC), ("replace", errno.EROFS), ("open", errno.EROFS)],
)
def test_a_failed_write_keeps_the_old_file(xor_run, tmp_path, capsys, monkeypatch, fail_in, code):
    run_dir, x = xor_run
    out = tmp_path / "p.csv"
    out.write_text("the old predictions\n" * 1000)
    real = getattr(os, fail_in)

    def failing(path, *a, **kw):
        if fail_in == "open" and not str(path).endswith(".tmp"):
            return real(path, *a, **kw)
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(os, fail_in, failing)
    status, _, err = run(capsys, "predict", run_dir, "--input", x, "-o", out)
    monkeypatch.undo()
    assert status == 1
    assert os.strerror(code) in one_line_error(err)
    assert out.read_text() == "the old predictions\n" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "r", "x.npy"]


def test_a_full_disk_keeps_the_old_file(tmp_path):
    """A real short write: RLIMIT_FSIZE makes the write fail (EFBIG) after 4 KiB."""
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((5000, 2), dtype=np.float32))
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from nnc.runtime.cli import main\n"
        f"sys.exit(main(['predict', {str(SPECS / 'and-gate.yaml')!r}, '--input', {str(x)!r},"
        f" '-o', {str(out)!r}]))\n"
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "File too large" in one_line_error(p.stderr)
    assert out.read_text() == "old\n"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["p.csv", "x.npy"]


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`nnc predict ... | head -1`: exit 0 and nothing on stderr, as Unix tools do."""
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((50000, 2), dtype=np.float32))
    nnc = [sys.executable, "-c", "import sys; from nnc.runtime.cli import main; sys.exit(main())"]
    p = subprocess.Popen(
        [*nnc, "predict", str(SPECS / "and-gate.yaml"), "--input", str(x)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert float(first) >= 0 and err == ""
