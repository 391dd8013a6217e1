"""nnc train end to end: convergence, engines agreeing step by step, resume, Ctrl-C, the NaN guard,
failed writes, export."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

from nnc.compiler.graphs import training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import load_spec
from nnc.runtime.checkpoint import load_checkpoint
from nnc.runtime.cli import main
from nnc.runtime.compiled import compile_spec, load_dataset
from nnc.runtime.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

TRAINABLE = [
    "xor.yaml",
    "breast-cancer-logreg.yaml",
    "iris-mlp.yaml",
    "digits-mlp.yaml",
    "digits-lstm.yaml",
    "sine-gru.yaml",
    "highway-wine.yaml",
]  # nerf-mlp's train step is checked across engines by the conformance suite (smaller batches)
TRUTH = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def train(tmp_path, spec, *extra, name="run"):
    run = tmp_path / name
    code = main(["train", str(spec), "--run-dir", str(run), "--device", "cpu", *map(str, extra)])
    return code, run


def final(run: Path) -> dict:
    return load_checkpoint(run / "checkpoints" / "final.ckpt")[0]


def summary(run: Path) -> dict:
    import json

    return json.loads((run / "summary.json").read_text())


# -- the three engines agree on the train step -------------------------------------------------
def _trajectory(run_fn, graphs, net, batches, steps=20):
    vals = net.initial_values(0)
    carried = {**vals, **graphs.initial_state()}
    outs = [o.name for o in graphs.train_step.graph.output]
    rng = np.random.default_rng(0)
    losses = []
    for step in range(steps):
        x, y = batches[step % len(batches)]
        feeds = {"x": x, "y": y, "step": np.array(step, np.int64), "lr": np.array(0.01, np.float32)}
        for name, shape in graphs.random_inputs.items():
            feeds[name] = rng.random((len(x), *shape), dtype=np.float32)
        res = dict(zip(outs, run_fn(outs, {**feeds, **carried})))
        losses.append(float(res["loss"]))
        carried = {k[: -len(".next")]: v for k, v in res.items() if k.endswith(".next")}
    return np.array(losses)


@pytest.mark.parametrize("name", TRAINABLE)
def test_train_step_trajectory_agrees_on_three_engines(name):
    spec = load_spec(SPECS / name)
    net = Network(spec)
    data = load_dataset(spec, net)
    graphs = training_graphs(net)
    bs = min(int(spec.train["batch_size"]), len(data.train))
    batches = [
        (data.train.x[i : i + bs], data.train.y[i : i + bs])
        for i in range(0, len(data.train) - bs + 1, bs)
    ]
    model = graphs.train_step
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ours = _trajectory(Interpreter(model).run, graphs, net, batches)
    theirs = _trajectory(sess.run, graphs, net, batches)
    reference = _trajectory(ReferenceEvaluator(model).run, graphs, net, batches)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(reference, theirs, rtol=1e-4, atol=1e-6)
    assert ours[-1] < ours[0]  # and the steps do train


# -- convergence --------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["ort", "numpy"])
def test_xor_learns_its_truth_table(tmp_path, engine):
    code, run = train(tmp_path, SPECS / "xor.yaml", "--engine", engine)
    assert code == 0
    assert summary(run)["final"]["loss"] < 0.01
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    y = sess.run(["y"], {"x": TRUTH})[0].ravel()
    assert (y > 0.5).astype(int).tolist() == [0, 1, 1, 0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, target",
    [
        ("breast-cancer-logreg.yaml", 0.95),
        ("iris-mlp.yaml", 0.93),
        ("digits-mlp.yaml", 0.96),
        ("digits-lstm.yaml", 0.96),
        ("highway-wine.yaml", 0.95),
    ],
)
def test_specs_reach_their_accuracy(tmp_path, name, target):
    code, run = train(tmp_path, SPECS / name)
    assert code == 0
    acc = summary(run)["test"]["accuracy"]
    assert acc >= target, f"{name}: test accuracy {acc:.4f} < {target}"


@pytest.mark.slow
def test_sine_gru_predicts_within_twice_the_noise_variance(tmp_path):
    from nnc.runtime.data.sources.builtin import SINE

    code, run = train(tmp_path, SPECS / "sine-gru.yaml")
    assert code == 0
    mse = summary(run)["test"]["loss"]
    assert mse < 2 * SINE["noise"] ** 2, (
        f"test MSE {mse:.4g} vs noise variance {SINE['noise'] ** 2}"
    )


# the factor by which NeRF's encoding lowers the test MSE of its MLP on the generated field
# (measured: 0.00181 against 0.00993, 5.5x)
NERF_FACTOR = 4.0


@pytest.mark.slow
def test_nerf_mlp_beats_the_same_network_without_the_encoding(tmp_path):
    """The same layers, seed and epochs with the positional encoding replaced by the identity
    (the skip then concatenates the raw coordinates): the encoding lowers the test MSE by more
    than NERF_FACTOR. The exported model takes raw coordinates."""
    plain = tmp_path / "nerf-plain.yaml"
    text = (SPECS / "nerf-mlp.yaml").read_text()
    encoding = "{type: positional_encoding, frequencies: 10, name: encoded}"
    assert encoding in text
    plain.write_text(text.replace(encoding, "{type: scale, name: encoded}"))
    code, run = train(tmp_path, SPECS / "nerf-mlp.yaml", name="nerf")
    assert code == 0
    code, base = train(tmp_path, plain, name="plain")
    assert code == 0
    mse, base_mse = summary(run)["test"]["loss"], summary(base)["test"]["loss"]
    assert mse * NERF_FACTOR < base_mse, f"encoded {mse:.4g}, without the encoding {base_mse:.4g}"

    spec = load_spec(SPECS / "nerf-mlp.yaml")
    data = load_dataset(spec, Network(spec))
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [3]
    y = sess.run(["y"], {"x": data.test.x})[0]
    assert float(np.mean((y - data.test.y) ** 2)) == pytest.approx(mse, rel=1e-3)


# -- the perceptron learning rule ---------------------------------------------------------------
def _perceptron_rule(w, b, epochs, seed=0):
    """Rosenblatt's rule by hand on the OR table, in the trainer's order (one permutation of the
    samples per epoch from the seed): on a mistake (step(z) != target, step(0) = 0),
    w += t x and b += t with t = +-1."""
    rng = np.random.default_rng(seed)
    targets = np.array([0, 1, 1, 1])
    w, b = w.astype(np.float32).copy(), b.astype(np.float32).copy()
    mistakes = 0
    for _ in range(epochs):
        for i in rng.permutation(4):
            x = TRUTH[i]
            predicted = float(x @ w[:, 0] + b[0]) > 0
            if predicted != bool(targets[i]):
                t = np.float32(1.0 if targets[i] else -1.0)
                w[:, 0] += t * x
                b[0] += t
                mistakes += 1
    return w, b, mistakes


@pytest.mark.parametrize("init", ["glorot_uniform", "zeros"])
def test_perceptron_or_updates_are_rosenblatts_rule(tmp_path, init):
    """After the first epoch and at the end, the weights are those of the rule by hand; from
    zeros every z of the first steps is exactly 0, the corner where a positive target is a
    mistake."""
    spec = tmp_path / "perceptron.yaml"
    spec.write_text(
        (SPECS / "perceptron-or.yaml")
        .read_text()
        .replace("activation: step}", f"activation: step, init: {init}}}")
    )
    net = Network(load_spec(spec))
    start = net.initial_values(0)
    for epochs in (1, 20):
        code, run = train(tmp_path, spec, "--epochs", epochs, name=f"run{epochs}")
        assert code == 0
        w, b, mistakes = _perceptron_rule(start["dense_0.weight"], start["dense_0.bias"], epochs)
        got = final(run)
        assert mistakes > 0
        np.testing.assert_allclose(got["dense_0.weight"], w, rtol=0, atol=1e-6)
        np.testing.assert_allclose(got["dense_0.bias"], b, rtol=0, atol=1e-6)


def test_perceptron_or_separates_or_and_predicts_through_its_step(tmp_path):
    code, run = train(tmp_path, SPECS / "perceptron-or.yaml")
    assert code == 0
    assert summary(run)["final"]["accuracy"] == 1.0 and summary(run)["final"]["loss"] == 0.0
    sess = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    y, label = sess.run(["y", "label"], {"x": TRUTH})
    assert y.ravel().tolist() == [0.0, 1.0, 1.0, 1.0]  # the step's output, not its input
    assert label.ravel().tolist() == [0, 1, 1, 1]


def test_digits_lstm_export_takes_flat_pixels_and_predicts_like_nnc_predict(tmp_path, capsys):
    code, run = train(tmp_path, SPECS / "digits-lstm.yaml", "--epochs", "2")
    assert code == 0
    out = tmp_path / "exported.onnx"
    assert main(["export", str(run), "-o", str(out)]) == 0
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32)[:50]  # raw 0..16 pixels, flat
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [64]
    np.save(tmp_path / "x.npy", x)
    pred = tmp_path / "p.npy"
    assert main(["predict", str(run), "--input", str(tmp_path / "x.npy"), "-o", str(pred)]) == 0
    np.testing.assert_allclose(np.load(pred), sess.run(["y"], {"x": x})[0], rtol=1e-6)
    # the same as the trained network on the preprocessed, reshaped pixels
    from nnc.compiler.graphs import inference_model
    from nnc.runtime.checkpoint import load_checkpoint

    values, _ = load_checkpoint(run / "checkpoints" / "final.ckpt")
    net = Network(load_spec(SPECS / "digits-lstm.yaml"))
    plain = ort.InferenceSession(
        inference_model(net, values).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    y = plain.run(["y"], {"x": (x * 0.0625).reshape(-1, 8, 8)})[0]
    np.testing.assert_allclose(np.load(pred), y, rtol=1e-5, atol=1e-6)


# -- run directories ----------------------------------------------------------------------------
def test_reruns_never_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["train", str(SPECS / "xor.yaml"), "--epochs", "5", "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["xor-1", "xor-2"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    assert main(["train", str(SPECS / "xor.yaml"), "--run-dir", "mine"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "mine" / "keep.txt").read_text() == "x"


def test_run_directory_contents(tmp_path):
    code, run = train(tmp_path, SPECS / "iris-mlp.yaml", "--epochs", "3")
    assert code == 0
    for f in [
        "spec.yaml",
        "manifest.json",
        "metrics.csv",
        "curves.png",
        "model.onnx",
        "summary.json",
        "graphs/train_step.onnx",
        "graphs/gradient.onnx",
        "graphs/eval.onnx",
        "checkpoints/final.ckpt",
    ]:
        assert (run / f).exists(), f
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,step,loss,accuracy") and len(rows) == 4
    import json

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["carried"]["train_step"]["dense_0.weight.next"] == "dense_0.weight"


def test_compile_and_train_write_the_same_manifest_format(tmp_path):
    import json

    spec = SPECS / "digits-mlp.yaml"  # dropout (a random input) and Adam (optimizer state)
    assert main(["compile", str(spec), "-o", str(tmp_path / "compiled")]) == 0
    code, run = train(tmp_path, spec, "--epochs", "1")
    assert code == 0
    compiled = json.loads((tmp_path / "compiled" / "manifest.json").read_text())
    trained = json.loads((run / "manifest.json").read_text())
    # a run knows its data: how many steps an epoch takes and how its features were preprocessed
    assert set(trained) == set(compiled) | {"engine", "steps_per_epoch", "preprocess"}
    assert trained["steps_per_epoch"] == summary(run)["steps"]
    for manifest, folder in ((compiled, tmp_path / "compiled"), (trained, run)):
        assert manifest["format"] == "nnc-manifest" and manifest["version"] == 1
        assert set(manifest["graphs"]) == {"model", "gradient", "train_step", "eval", "update"}
        for graph in manifest["graphs"].values():
            assert (folder / graph["file"]).exists(), graph["file"]
        step = manifest["graphs"]["train_step"]
        inputs = {i["name"] for i in step["inputs"]}
        carried = manifest["carried"]["train_step"]
        assert carried["dense_0.weight.next"] == "dense_0.weight"
        assert set(carried.values()) <= inputs
        assert {o["name"] for o in step["outputs"]} >= set(carried)
        state = manifest["optimizer"]["state"]
        assert manifest["optimizer"]["type"] == "adam" and state
        assert all(s["initial"] == "zeros" for s in state.values()) and set(state) <= inputs
        assert set(state) | {p["name"] for p in manifest["parameters"]} == set(carried.values())
        assert set(manifest["step_inputs"]) == {"step", "lr"} <= inputs
        assert manifest["step_inputs"]["lr"]["value"] == 1.0e-3  # the spec's optimizer.lr
        assert manifest["random_inputs"] and set(manifest["random_inputs"]) <= inputs
        # the initial parameters, raw at their offsets, are the ones training starts from
        init = folder / manifest["initial_values"]["file"]
        raw = np.frombuffer(init.read_bytes(), "<f4")
        first = manifest["parameters"][0]
        size = int(np.prod(first["shape"]))
        start = raw[first["offset"] // 4 :][:size].reshape(first["shape"])
        expected = compile_spec(load_spec(spec)).initial_values()[first["name"]]
        assert np.array_equal(start, expected)
        assert raw.size * 4 == sum(4 * int(np.prod(p["shape"])) for p in manifest["parameters"])
    assert compiled["graphs"]["train_step"]["inputs"] == trained["graphs"]["train_step"]["inputs"]


# -- resume, Ctrl-C -----------------------------------------------------------------------------
def test_resume_after_fewer_epochs_is_bit_identical(tmp_path):
    spec = SPECS / "digits-mlp.yaml"  # dropout, Adam, shuffling: every kind of carried state
    code, full = train(tmp_path, spec, "--epochs", "4", name="full")
    assert code == 0
    code, part = train(tmp_path, spec, "--epochs", "2", name="part")
    assert code == 0
    assert main(["train", "--resume", str(part), "--epochs", "4", "--device", "cpu"]) == 0
    a, b = final(full), final(part)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert (part / "metrics.csv").read_text() == (full / "metrics.csv").read_text()


def test_interrupt_mid_epoch_then_resume_is_bit_identical(tmp_path, monkeypatch):
    from nnc.runtime import engines

    spec = SPECS / "digits-mlp.yaml"
    code, full = train(tmp_path, spec, "--epochs", "3", name="full")
    assert code == 0
    real_step = engines.OrtStepper.step
    calls = {"n": 0}

    def interrupting(self, feeds):
        calls["n"] += 1
        if calls["n"] == 57:  # in the middle of the second epoch
            raise KeyboardInterrupt
        return real_step(self, feeds)

    monkeypatch.setattr(engines.OrtStepper, "step", interrupting)
    code, part = train(tmp_path, spec, "--epochs", "3", name="part")
    assert code == 130
    _, meta = load_checkpoint(part / "checkpoints" / "interrupted.ckpt")
    assert meta["step"] == 56 and meta["batch"] > 0
    monkeypatch.setattr(engines.OrtStepper, "step", real_step)
    assert main(["train", "--resume", str(part), "--device", "cpu"]) == 0
    a, b = final(full), final(part)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_ctrl_c_writes_an_interrupted_checkpoint_and_exits_130(tmp_path):
    # no early stopping and more epochs than it can run: the loop is still running at the signal
    spec = tmp_path / "endless.yaml"
    spec.write_text(
        (SPECS / "digits-mlp.yaml").read_text().replace(", early_stopping: {patience: 5}", "")
    )
    run = tmp_path / "run"
    env = {**os.environ, "NNC_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnc.runtime.cli",
            "train",
            str(spec),
            "--epochs",
            "100000",
            "--run-dir",
            str(run),
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    metrics = run / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:  # an epoch is done
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "nnc train --resume" in lines[0], lines
    _, meta = load_checkpoint(run / "checkpoints" / "interrupted.ckpt")
    assert meta["kind"] == "interrupted" and meta["step"] > 0
    assert not (run / "model.onnx").exists()


def test_sigint_mid_epoch_stops_at_the_next_step_and_resume_is_bit_identical(
    tmp_path, monkeypatch, capsys
):
    from nnc.runtime import engines

    spec = SPECS / "digits-mlp.yaml"
    code, full = train(tmp_path, spec, "--epochs", "3", name="full")
    assert code == 0
    real_step = engines.OrtStepper.step
    calls = {"n": 0}

    def signalled(self, feeds):  # the signal lands while a step runs; the step completes
        calls["n"] += 1
        if calls["n"] == 57:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, feeds)

    monkeypatch.setattr(engines.OrtStepper, "step", signalled)
    capsys.readouterr()
    code, part = train(tmp_path, spec, "--epochs", "3", name="part")
    assert code == 130
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    _, meta = load_checkpoint(part / "checkpoints" / "interrupted.ckpt")
    assert meta["step"] == 57 and meta["batch"] > 0
    monkeypatch.setattr(engines.OrtStepper, "step", real_step)
    assert main(["train", "--resume", str(part), "--device", "cpu"]) == 0
    a, b = final(full), final(part)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert (part / "metrics.csv").read_text() == (full / "metrics.csv").read_text()


def test_interrupt_at_an_epochs_first_step_then_resume_is_bit_identical(tmp_path, monkeypatch):
    # the epoch's sample order is drawn before its first step: the checkpoint must keep it
    from nnc.runtime import engines

    spec = SPECS / "digits-mlp.yaml"
    code, full = train(tmp_path, spec, "--epochs", "3", name="full")
    assert code == 0
    steps = summary(full)["steps"] // 3
    real_step = engines.OrtStepper.step
    calls = {"n": 0}

    def interrupting(self, feeds):
        calls["n"] += 1
        if calls["n"] == steps + 1:
            raise KeyboardInterrupt
        return real_step(self, feeds)

    monkeypatch.setattr(engines.OrtStepper, "step", interrupting)
    code, part = train(tmp_path, spec, "--epochs", "3", name="part")
    assert code == 130
    _, meta = load_checkpoint(part / "checkpoints" / "interrupted.ckpt")
    assert meta["step"] == steps and meta["batch"] == 0 and meta["epoch"] == 1
    monkeypatch.setattr(engines.OrtStepper, "step", real_step)
    assert main(["train", "--resume", str(part), "--device", "cpu"]) == 0
    a, b = final(full), final(part)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_a_second_ctrl_c_stops_at_once_without_an_interrupted_checkpoint(
    tmp_path, monkeypatch, capsys
):
    from nnc.runtime import engines

    real_step = engines.OrtStepper.step
    calls = {"n": 0}

    def signalled_twice(self, feeds):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, feeds)

    monkeypatch.setattr(engines.OrtStepper, "step", signalled_twice)
    capsys.readouterr()
    code, run = train(tmp_path, SPECS / "digits-mlp.yaml", "--epochs", "3")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert len(err) == 1 and err[0].startswith("interrupted again: stopped at once"), err
    assert not (run / "checkpoints" / "interrupted.ckpt").exists()


def test_ctrl_c_while_the_run_finishes_completes_its_files_and_exits_130(
    tmp_path, monkeypatch, capsys
):
    from nnc.runtime.rundir import RunDir

    real_curves = RunDir.write_curves

    def signalled(self, rows):  # where the flaky test's signal used to land: drawing curves
        os.kill(os.getpid(), signal.SIGINT)
        real_curves(self, rows)

    monkeypatch.setattr(RunDir, "write_curves", signalled)
    capsys.readouterr()
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "5")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130
    assert len(err) == 1 and "finishing" in err[0] and "nothing to resume" in err[0]
    for name in ["model.onnx", "summary.json", "curves.png", "checkpoints/final.ckpt"]:
        assert (run / name).exists(), name
    assert not (run / "checkpoints" / "interrupted.ckpt").exists()
    assert summary(run)["status"] == "completed"


def test_ctrl_c_before_training_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nnc.runtime.compiled.load_dataset", interrupted)
    code, run = train(tmp_path, SPECS / "xor.yaml")
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted"]


def test_a_run_directory_is_locked_while_it_trains(tmp_path, monkeypatch, capsys):
    from nnc.runtime.errors import RunInUse
    from nnc.runtime.rundir import RunDir

    seen = []
    real_curves = RunDir.write_curves

    def try_to_lock(self, rows):
        try:
            RunDir(self.path).lock()
        except RunInUse as e:
            seen.append(str(e))
        real_curves(self, rows)

    monkeypatch.setattr(RunDir, "write_curves", try_to_lock)
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "5")
    assert code == 0 and len(seen) == 1 and "in use by another nnc process" in seen[0]
    monkeypatch.setattr(RunDir, "write_curves", real_curves)
    with RunDir(run):  # another process training in it
        capsys.readouterr()
        assert main(["train", "--resume", str(run), "--epochs", "6", "--device", "cpu"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another nnc process" in err[0], err
        args = ["train", str(SPECS / "xor.yaml"), "--run-dir", str(run), "--overwrite"]
        assert main(args) == 1
    assert main(["train", "--resume", str(run), "--epochs", "6", "--device", "cpu"]) == 0


def test_resume_with_a_changed_spec_is_refused(tmp_path, capsys):
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "3")
    assert code == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text((SPECS / "xor.yaml").read_text().replace("lr: 2.0", "lr: 0.5"))
    capsys.readouterr()
    assert main(["train", str(changed), "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert "optimizer.lr: 2.0 -> 0.5" in err


# -- the NaN guard and failed writes --------------------------------------------------------------
def test_nan_guard_stops_and_names_the_tensor(tmp_path, capsys):
    spec = tmp_path / "blowup.yaml"
    spec.write_text(
        (SPECS / "iris-mlp.yaml")
        .read_text()
        .replace("lr: 0.01", "lr: 1.0e+30")
        .replace("epochs: 100", "epochs: 50, checkpoint_every: 1")
    )
    code, run = train(tmp_path, spec)
    err = capsys.readouterr().err
    assert code == 3, err
    assert "NaN guard: non-finite" in err and "at step" in err
    assert "the first non-finite tensor is" in err
    assert not (run / "model.onnx").exists()


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    from nnc.runtime import checkpoint

    spec = tmp_path / "xor.yaml"
    spec.write_text(
        (SPECS / "xor.yaml").read_text().replace("seed: 0}", "seed: 0, checkpoint_every: 2}")
    )
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(src, dst):
        if str(dst).endswith("last.ckpt"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    run = tmp_path / "run"
    original = {}

    real_save = checkpoint.save_checkpoint

    def spying_save(path, tensors, meta):
        real_save(path, tensors, meta)
        if Path(path).name == "last.ckpt" and calls["n"] == 2:
            original.update(load_checkpoint(path)[0])

    monkeypatch.setattr(os, "replace", failing_replace)
    monkeypatch.setattr("nnc.runtime.rundir.save_checkpoint", spying_save)
    code = main(["train", str(spec), "--run-dir", str(run), "--epochs", "10", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert "No space left on device" in err and "last.ckpt" in err
    kept, meta = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert meta["epoch"] == 4
    for k, v in original.items():
        assert np.array_equal(kept[k], v)
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]


# -- export and predict ---------------------------------------------------------------------------
def test_export_is_served_by_plain_onnxruntime_with_preprocessing_baked(tmp_path, capsys):
    code, run = train(tmp_path, SPECS / "breast-cancer-logreg.yaml", "--epochs", "30")
    assert code == 0
    out = tmp_path / "exported.onnx"
    assert main(["export", str(run), "-o", str(out)]) == 0
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    x = raw.data.astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    label = sess.run(["label"], {"x": x})[0].ravel()
    assert (label == raw.target).mean() > 0.95  # raw features in: standardization is in the model
    np.save(tmp_path / "x.npy", x[:20])
    assert (
        main(
            ["predict", str(run), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy")]
        )
        == 0
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "p.npy"), sess.run(["y"], {"x": x[:20]})[0], rtol=1e-6
    )
    meta = {p.key: p.value for p in __import__("onnx").load(str(out)).metadata_props}
    assert meta["class_names"] == '["malignant", "benign"]' and meta["preprocess"] == "baked"


def test_export_to_another_opset(tmp_path, capsys):
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "5")
    assert main(["export", str(run), "-o", str(tmp_path / "m.onnx"), "--opset", "17"]) == 0
    import onnx

    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == 17


EVERY_SPEC = sorted(SPECS.glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EVERY_SPEC, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_gradcheck_passes_on_every_spec(path, capsys):
    net = Network(load_spec(path))
    if np.prod(net.spec.input_shape) > 100_000:
        pytest.skip("AlexNet-sized: the CNN tests gradcheck small versions of its layers")
    assert main(["gradcheck", str(path), "--entries", "6"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    if net.spec.loss is not None and net.trainable():  # both points, every parameter
        rows = [line.split() for line in out.splitlines() if line.startswith(("initial", "moved"))]
        names = {p.name for p in net.trainable()}
        assert {r[1] for r in rows if r[0] == "initial"} == names
        assert {r[1] for r in rows if r[0] == "moved"} == names


def test_gradcheck_fails_on_a_wrong_rule(capsys):
    from nnc.compiler.autodiff import core

    broken = core.Rule(lambda g, node, dys: [g.b.op("Mul", [dys[0], g.b.scalar(1.01)])], (), ())
    with core.GRAD_RULES.overridden("Sigmoid", broken):
        assert main(["gradcheck", str(SPECS / "xor.yaml")]) == 3
    assert "FAIL" in capsys.readouterr().out


def _bce_wrong_at_zero(g, region, dys):
    """BCE's old per-op gradient: right for every logit but 0, where it gave -t."""
    b = g.b
    z, t = region.inputs
    nonzero = b.op("Sign", [b.op("Abs", [z])])  # 0 at z = 0, else 1
    dz = b.op("Mul", [dys[0], b.op("Sub", [b.op("Mul", [b.op("Sigmoid", [z]), nonzero]), t])])
    return [g.unbroadcast(dz, z, region.outputs[0]), None]


def test_gradcheck_at_the_specs_initial_values_catches_a_rule_wrong_only_at_zero(capsys):
    # breast-cancer-logreg starts from zeros: every logit is exactly 0 at its initial values
    from nnc.compiler.autodiff import core
    from nnc.runtime.gradcheck import gradcheck

    spec = SPECS / "breast-cancer-logreg.yaml"
    net = Network(load_spec(spec))
    wrong = core.Rule(_bce_wrong_at_zero, ("x",), ())
    with core.REGION_RULES.overridden("SigmoidCrossEntropy", wrong):
        moved = gradcheck(net, samples=4, per_param=6, points=("moved",))
        assert all(r.ok(1e-5) for r in moved)  # what gradcheck checked before: it missed it
        initial = gradcheck(net, samples=4, per_param=6, points=("initial",))
        assert not any(r.ok(1e-5) for r in initial)
        assert main(["gradcheck", str(spec), "--eps", "1e-4"]) == 3
    out = capsys.readouterr().out
    assert "eps 0.0001" in out.splitlines()[0] and out.splitlines()[-1].startswith("FAILED")
    failed = [line.split()[:2] for line in out.splitlines() if line.endswith("FAIL")]
    assert failed == [["initial", "dense_0.weight"], ["initial", "dense_0.bias"]]


def test_gradcheck_accepts_subgradients_at_corners_and_refuses_values_outside_them():
    # relu(W x) with W = 0: every pre-activation sits on relu's corner at the initial values
    import yaml

    from nnc.compiler.autodiff import core
    from nnc.compiler.spec.model import parse_spec
    from nnc.runtime.gradcheck import gradcheck

    doc = {
        "nnc": 1,
        "name": "corner",
        "input": {"shape": [3]},
        "layers": [
            {"type": "dense", "units": 4, "activation": "relu", "init": "zeros"},
            {"type": "dense", "units": 1},
        ],
        "loss": "mse",
        "optimizer": {"type": "sgd", "lr": 0.1},
    }
    net = Network(parse_spec(yaml.safe_dump(doc), "corner.yaml"))
    results = gradcheck(net, samples=4, per_param=12, points=("initial",))
    first = next(r for r in results if r.name == "dense_0.weight")
    assert first.corners > 0 and all(r.ok(1e-5) for r in results)

    def relu_two(g, node, dys):  # a "subgradient" of 2 at the corner: outside [0, 1]
        x = node.input[0]
        positive = g.b.op("Cast", [g.b.op("GreaterOrEqual", [x, g.b.scalar(0.0)])], to=11)
        return [g.b.op("Mul", [dys[0], g.b.op("Add", [positive, positive])])]

    with core.GRAD_RULES.overridden("Relu", core.Rule(relu_two, ("x",), ())):
        results = gradcheck(net, samples=4, per_param=12, points=("initial",))
    assert not next(r for r in results if r.name == "dense_0.weight").ok(1e-5)


@pytest.mark.parametrize(
    "argv",
    [
        ["--samples", "0"],
        ["--entries", "-1"],
        ["--eps", "0"],
        ["--eps", "nan"],
        ["--tol", "-1"],
        ["--seed", "-3"],
        ["--samples", "two"],
    ],
)
def test_gradcheck_bad_arguments_are_usage_errors(argv, capsys):
    assert main(["gradcheck", str(SPECS / "xor.yaml"), *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("nnc gradcheck: error")


def test_cuda_request_without_gpu_is_one_clear_line(tmp_path, capsys):
    from nnc.runtime.engines import cuda_status

    if cuda_status()[0]:
        pytest.skip("a GPU is present")
    assert (
        main(
            ["train", str(SPECS / "xor.yaml"), "--run-dir", str(tmp_path / "r"), "--device", "cuda"]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda:")


def test_without_the_nan_guard_non_finite_steps_are_skipped(tmp_path):
    spec = tmp_path / "blowup.yaml"
    spec.write_text(
        (SPECS / "iris-mlp.yaml")
        .read_text()
        .replace("lr: 0.01", "lr: 1.0e+30")
        .replace("epochs: 100", "epochs: 3, nan_guard: false")
    )
    code, run = train(tmp_path, spec)
    assert code == 0
    assert all(np.all(np.isfinite(v)) for v in final(run).values())
