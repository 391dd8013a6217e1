"""Runs that never end broken with exit 0, never mix, never lose what they had: non-finite
parameters, overwrite, locks, the run's own preprocessing and data fingerprint, atomic outputs,
failed writes and starts, signals, bounded reads, confined paths (issue 11)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnc.runtime.checkpoint import load_checkpoint, save_checkpoint
from nnc.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

# one linear unit on one sample whose target is far away: the gradient is about -2000, so an lr
# of 1e36 takes the weights past float32's range in the update, while the step's loss and
# gradients (computed before the update) are finite
OVERFLOW = """nnc: 1
name: overflow
input: {shape: [2]}
layers:
  - {type: dense, units: 1, init: zeros}
loss: mse
optimizer: {type: sgd, lr: 1.0e+36}
train: {epochs: EPOCHS, batch_size: 1, seed: 0}
data:
  inline:
    x: [[1, 1]]
    y: [[1000]]
"""


def train(tmp_path, spec, *extra, name="run"):
    run = tmp_path / name
    code = main(["train", str(spec), "--run-dir", str(run), "--device", "cpu", *map(str, extra)])
    return code, run


def strict_json(path: Path):
    def refuse(token):
        raise ValueError(f"{path}: {token} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# -- (4) non-finite parameters after an update --------------------------------------------------
@pytest.mark.parametrize("every", ["", ", checkpoint_every: 1"])
def test_an_update_that_overflows_on_the_last_step_stops_the_run(tmp_path, capsys, every):
    spec = tmp_path / "overflow.yaml"
    spec.write_text(OVERFLOW.replace("EPOCHS", "1").replace("seed: 0}", f"seed: 0{every}}}"))
    code, run = train(tmp_path, spec)
    err = err_lines(capsys)
    assert code == 3, err
    assert len(err) == 1 and "NaN guard" in err[0] and "dense_0.weight" in err[0], err
    assert not (run / "model.onnx").exists()
    ckpts = run / "checkpoints"
    assert not ckpts.exists() or not any(ckpts.iterdir())
    summary = strict_json(run / "summary.json")
    assert summary["status"] == "nan" and "dense_0.weight" in summary["message"]


def test_parameters_made_non_finite_are_named_at_the_next_step(tmp_path, capsys):
    spec = tmp_path / "overflow.yaml"
    spec.write_text(OVERFLOW.replace("EPOCHS", "3"))  # no checkpoint due after the first epoch
    code, run = train(tmp_path, spec)
    err = err_lines(capsys)
    assert code == 3 and len(err) == 1, err
    assert "at step 1" in err[0] and "before this step the parameters are not finite" in err[0]
    assert "no checkpoint was written before it" in err[0]
    assert not (run / "model.onnx").exists()
    assert not (run / "checkpoints" / "last.ckpt").exists()


def test_summary_is_strict_json_when_a_metric_is_not_finite(tmp_path):
    # without the guard, non-finite steps are skipped, but the epoch's mean loss is NaN
    spec = tmp_path / "blowup.yaml"
    spec.write_text(
        (SPECS / "iris-mlp.yaml")
        .read_text()
        .replace("lr: 0.01", "lr: 1.0e+30")
        .replace("epochs: 100", "epochs: 2, nan_guard: false")
    )
    code, run = train(tmp_path, spec)
    assert code == 0
    summary = strict_json(run / "summary.json")
    assert summary["final"]["loss"] is None  # NaN, which JSON cannot hold
    assert math.isnan(float((run / "metrics.csv").read_text().splitlines()[-1].split(",")[2]))


def test_export_refuses_non_finite_parameters(tmp_path, capsys):
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "3")
    assert code == 0
    path = run / "checkpoints" / "final.ckpt"
    tensors, meta = load_checkpoint(path)
    tensors["dense_0.weight"][0, 0] = np.inf
    save_checkpoint(path, tensors, meta)
    capsys.readouterr()
    out = tmp_path / "m.onnx"
    assert main(["export", str(run), "-o", str(out)]) == 3
    err = err_lines(capsys)
    assert len(err) == 1 and "dense_0.weight (1 of 8 entries)" in err[0], err
    assert not out.exists()


# -- (5, 11) which checkpoint a resume continues from ---------------------------------------------
def _xor_run(tmp_path, epochs=3, name="run"):
    spec = tmp_path / "xor.yaml"
    if not spec.exists():  # a checkpoint after every epoch
        text = (SPECS / "xor.yaml").read_text()
        spec.write_text(text.replace("seed: 0}", "seed: 0, checkpoint_every: 1}"))
    code, run = train(tmp_path, spec, "--epochs", epochs, name=name)
    assert code == 0
    return run


def test_resume_refuses_a_checkpoint_with_non_finite_values(tmp_path, capsys):
    run = _xor_run(tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    tensors, meta = load_checkpoint(last)
    tensors["dense_1.bias"][:] = np.nan
    save_checkpoint(last, tensors, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "5", "--device", "cpu"]) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "non-finite values (dense_1.bias (1 of 1 entries))" in err[0], err
    assert "no good checkpoint" in err[0] and "last good" not in err[0]
    assert load_checkpoint(last)[1]["step"] == 3  # untouched
    assert not (run / "checkpoints" / "interrupted.ckpt").exists()


def test_a_corrupt_interrupted_checkpoint_names_the_good_last_one(tmp_path, capsys):
    run = _xor_run(tmp_path)
    interrupted = run / "checkpoints" / "interrupted.ckpt"
    interrupted.write_bytes((run / "checkpoints" / "last.ckpt").read_bytes()[:300])  # cut short
    capsys.readouterr()
    resume = ["train", "--resume", str(run), "--epochs", "5", "--device", "cpu"]
    assert main(resume) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "interrupted.ckpt: corrupt or truncated checkpoint" in err[0], err
    assert "last.ckpt (epoch 3, step 3) is good" in err[0]
    assert err[0].endswith("resume from it with --from-checkpoint last")
    assert main([*resume, "--from-checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert "from last.ckpt at epoch 3, step 3" in out
    assert load_checkpoint(run / "checkpoints" / "final.ckpt")[1]["step"] == 5
    assert main(["train", str(SPECS / "xor.yaml"), "--from-checkpoint", "last"]) == 2


# -- (14) crafted checkpoints: one line, never a traceback ----------------------------------------
def _drop(key):
    def edit(tensors, meta):
        meta.pop(key, None)

    return edit


def _set(key, value):
    def edit(tensors, meta):
        meta[key] = value

    return edit


def _tensor(name, make):
    def edit(tensors, meta):
        if make is None:
            del tensors[name]
        else:
            tensors[name] = make(tensors.get(name))

    return edit


CRAFTED = {
    "wrong shape": (_tensor("dense_0.weight", lambda t: np.zeros((3, 3), np.float32)), "shape"),
    "float64": (_tensor("dense_0.weight", lambda t: t.astype(np.float64)), "dtype float64"),
    "missing tensor": (_tensor("dense_1.bias", None), "no tensor 'dense_1.bias'"),
    "unknown tensor": (_tensor("evil", lambda t: np.zeros(2, np.float32)), "'evil'"),
    "no spec": (_drop("spec"), "no 'spec'"),
    "no history": (_drop("history"), "no 'history'"),
    "step five": (_set("step", "five"), "'step' is not valid"),
    "bad rng": (_set("rng", {"bit_generator": "PCG64", "state": 3}), "random generator"),
    "perm of another set": (_tensor("__perm__", lambda t: np.arange(7)), "permutation"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_checkpoint_is_one_line_for_resume_eval_and_export(tmp_path, capsys, case):
    edit, message = CRAFTED[case]
    run = _xor_run(tmp_path)
    before = {p: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    for kind in ("last", "final"):
        path = run / "checkpoints" / f"{kind}.ckpt"
        tensors, meta = load_checkpoint(path)
        edit(tensors, meta)
        save_checkpoint(path, tensors, meta)
    crafted = {p: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    assert crafted != before
    capsys.readouterr()
    commands = [["train", "--resume", str(run), "--epochs", "5", "--device", "cpu"]]
    if case in ("wrong shape", "float64", "missing tensor"):  # what a final checkpoint holds
        commands += [["eval", str(run)], ["export", str(run), "-o", str(tmp_path / "m.onnx")]]
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, (argv, err)
    assert {p: p.read_bytes() for p in (run / "checkpoints").iterdir()} == crafted
    assert not (tmp_path / "m.onnx").exists()


# -- (6) --overwrite: a clean run directory --------------------------------------------------------
def test_overwrite_starts_a_clean_run_directory(tmp_path, capsys):
    run = _xor_run(tmp_path, epochs=4)
    ckpts = run / "checkpoints"
    (ckpts / "interrupted.ckpt").write_bytes((ckpts / "last.ckpt").read_bytes())
    (run / "notes.txt").write_text("mine")
    spec = SPECS / "xor.yaml"
    args = ["train", str(spec), "--run-dir", str(run), "--epochs", "2", "--device", "cpu"]
    assert main([*args, "--overwrite"]) == 0
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
    assert sorted(p.name for p in ckpts.iterdir()) == ["final.ckpt", "last.ckpt"]
    assert (run / "notes.txt").read_text() == "mine"  # not a run's file: left alone
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    # a later resume continues this run, not the old one's interrupted state
    assert main(["train", "--resume", str(run), "--epochs", "3", "--device", "cpu"]) == 0
    assert load_checkpoint(ckpts / "final.ckpt")[1]["step"] == 3


def test_overwrite_keeps_the_old_run_when_the_new_start_fails(tmp_path, capsys):
    run = _xor_run(tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (SPECS / "iris-mlp.yaml").read_text().replace("builtin: iris", "csv: {path: nope.csv}")
    )
    capsys.readouterr()
    assert main(["train", str(bad), "--run-dir", str(run), "--overwrite", "--device", "cpu"]) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "nope.csv: file not found" in err[0], err
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


# -- (8) the run's own preprocessing and data fingerprint ------------------------------------------
CSV_SPEC = """nnc: 1
name: csv-run
input: {shape: [4]}
layers:
  - {type: dense, units: 8, activation: tanh}
  - {type: dense, units: 3}
  - {type: softmax}
loss: cross_entropy
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch_size: 16, seed: 0}
data:
  csv: {path: data/iris.csv, target: species}
  preprocess: {x: {standardize: true}}
  split: {validation: 0.2, seed: 0}
"""


def _csv_run(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    (tmp_path / "data").mkdir()
    lines = ["a,b,c,d,species"] + [
        ",".join(f"{v:g}" for v in row) + f",{iris.target_names[t]}"
        for row, t in zip(iris.data, iris.target)
    ]
    (tmp_path / "data" / "iris.csv").write_text("\n".join(lines) + "\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(CSV_SPEC)
    code, run = train(tmp_path, spec)
    assert code == 0
    return run, tmp_path / "data" / "iris.csv"


def _outputs(model: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"x": x.astype(np.float32)})[0]


def test_export_uses_the_runs_own_preprocessing_not_the_data_as_it_is_now(tmp_path, capsys):
    run, csv = _csv_run(tmp_path)
    data = json.loads((run / "data.json").read_text())
    assert data["class_names"] == ["setosa", "versicolor", "virginica"]
    assert [f["path"] for e in data["fingerprint"] for f in e["files"]] == [str(csv.resolve())]
    # the data changes after training: a refit would bake different standardization in
    rows = csv.read_text().splitlines()
    csv.write_text("\n".join([rows[0]] + [r.replace(",", "0,", 1) for r in rows[1:]]) + "\n")
    x = np.random.default_rng(0).normal(5.0, 2.0, (20, 4))
    out = tmp_path / "exported.onnx"
    assert main(["export", str(run), "-o", str(out)]) == 0
    np.testing.assert_array_equal(_outputs(out, x), _outputs(run / "model.onnx", x))
    csv.unlink()  # the data is not needed at all
    assert main(["export", str(run), "-o", str(tmp_path / "again.onnx")]) == 0


def test_resume_and_eval_refuse_changed_data_unless_told(tmp_path, capsys):
    run, csv = _csv_run(tmp_path)
    before = (run / "data.json").read_text()
    csv.write_text(csv.read_text().replace("5.1,3.5,1.4,0.2", "9.1,3.5,1.4,0.2", 1))
    capsys.readouterr()
    resume = ["train", "--resume", str(run), "--epochs", "3", "--device", "cpu"]
    for argv in (resume, ["eval", str(run)]):
        assert main(argv) == 1
        err = err_lines(capsys)
        assert len(err) == 1 and "the data differs from the data this run was trained on" in err[0]
        assert "iris.csv: same size, different content" in err[0]
        assert "--accept-new-data" in err[0]
    assert (run / "data.json").read_text() == before
    assert main(["eval", str(run), "--accept-new-data"]) == 0
    assert main([*resume, "--accept-new-data"]) == 0
    after = json.loads((run / "data.json").read_text())
    assert after["preprocess"] == json.loads(before)["preprocess"]  # kept, not refitted
    assert after["fingerprint"] != json.loads(before)["fingerprint"]  # now this data's
    assert main(resume[:-2] + ["--epochs", "4"]) == 0  # and no longer a change


# -- (9) outputs never replace a run's files ------------------------------------------------------
def test_export_and_compile_refuse_to_replace_a_runs_files(tmp_path, capsys):
    run = _xor_run(tmp_path)
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    other = tmp_path / "other.yaml"
    other.write_text((SPECS / "iris-mlp.yaml").read_text())
    cases = [
        (["export", str(run), "-o", str(run / "spec.yaml")], 1, "would replace spec.yaml of"),
        (["export", str(run), "-o", str(run / "model.onnx")], 1, "would replace model.onnx of"),
        (["export", str(run), "-o", str(run / "data.json")], 1, "would replace data.json of"),
        (["export", str(run), "-o", str(run / "graphs" / "x.onnx")], 1, "would replace"),
        (["export", str(run), "-o", str(tmp_path)], 1, "is a directory"),
        (["compile", str(other), "-o", str(run)], 1, "would replace model.onnx of the run"),
        (["compile", str(other), "-o", str(run / "spec.yaml")], 1, "is not a directory"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, (argv, err)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files
    assert main(["export", str(run), "-o", str(run / "model-opset17.onnx"), "--opset", "17"]) == 0


def test_export_writes_atomically(tmp_path, monkeypatch, capsys):
    import errno
    import os

    run = _xor_run(tmp_path)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the previous export")

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(out)]) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "No space left on device" in err[0]
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- (10) full disks, killed writers and failed starts --------------------------------------------
@pytest.mark.parametrize("name", ["metrics.csv", "iterations.csv"])
def test_a_full_disk_while_appending_a_log_leaves_whole_rows(tmp_path, monkeypatch, capsys, name):
    import errno
    import os

    real_write = os.write
    calls = {"n": 0}

    def filling(fd, data):  # a write gets half its rows on disk, then the disk is full
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith(name):
            calls["n"] += 1
            half = 3 if name == "metrics.csv" else 1  # the third row; the one flush of steps
            if calls["n"] == half:
                return real_write(fd, bytes(data[: len(data) // 2]))
            if calls["n"] == half + 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", filling)
    code, run = train(tmp_path, SPECS / "xor.yaml", "--epochs", "5")
    err = err_lines(capsys)
    assert code == 1 and len(err) == 1, err
    assert f"{name}: No space left on device" in err[0], err
    lines = (run / name).read_text().splitlines(keepends=True)
    assert all(line.endswith("\n") for line in lines)
    assert all(line.count(",") == lines[0].count(",") for line in lines)
    if name == "metrics.csv":  # the header and two whole rows; the third is absent
        assert len(lines) == 3 and "step 3 was not written" in err[0]
    else:  # the five steps, flushed in one write before the last checkpoint: none of them
        assert len(lines) == 1


def test_resume_removes_the_temporary_files_of_a_killed_writer(tmp_path, capsys):
    run = _xor_run(tmp_path)
    stale = [
        run / "checkpoints" / ".last.ckpt.4242.0123abcd.tmp",
        run / ".summary.json.4242.deadbeef.tmp",
        run / "graphs" / ".eval.onnx.77.00ff00ff.tmp",
    ]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    (run / "keep.tmp").write_text("not a temporary file of nnc's")
    assert main(["train", "--resume", str(run), "--epochs", "4", "--device", "cpu"]) == 0
    assert not any(p.exists() for p in stale)
    assert (run / "keep.tmp").exists()


@pytest.mark.parametrize("where", ["runs", "run-dir"])
def test_a_failed_start_leaves_no_run_directory_behind(tmp_path, monkeypatch, capsys, where):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        (SPECS / "iris-mlp.yaml").read_text().replace("builtin: iris", "csv: {path: nope.csv}")
    )
    argv = ["train", str(spec), "--device", "cpu"]
    argv += ["--runs", "out/runs"] if where == "runs" else ["--run-dir", "out/run"]
    assert main(argv) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "nope.csv: file not found" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_read_only_run_root_is_one_line(tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path as P

    real_mkdir = P.mkdir

    def read_only(self, *args, **kwargs):
        if "ro" in self.parts:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(P, "mkdir", read_only)
    argv = ["train", str(SPECS / "xor.yaml"), "--runs", str(tmp_path / "ro" / "runs")]
    assert main(argv) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "Read-only file system" in err[0], err
    assert main(["compile", str(SPECS / "xor.yaml"), "-o", str(tmp_path / "ro" / "c")]) == 1
    err = err_lines(capsys)
    assert len(err) == 1 and "Read-only file system" in err[0], err
    assert list(tmp_path.iterdir()) == []


# -- (7) one process at a time in a run directory -------------------------------------------------
ENDLESS = (SPECS / "digits-mlp.yaml").read_text().replace(", early_stopping: {patience: 5}", "")


def _nnc(*argv):
    import os
    import subprocess
    import sys

    env = {**os.environ, "NNC_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "nnc.runtime.cli", *map(str, argv)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _wait_for_rows(metrics: Path, rows: int, proc, seconds: float = 120) -> None:
    import time

    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= rows + 1:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {rows} rows in {metrics}: {proc.communicate()}")


def _stop(proc) -> tuple[int, str]:
    import signal

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def _rows_of_one_run(metrics: Path) -> list[str]:
    lines = metrics.read_text().splitlines()
    assert lines[0].startswith("epoch,step,loss") and lines.count(lines[0]) == 1
    epochs = [int(r.split(",")[0]) for r in lines[1:]]
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # one run's rows, in order
    return lines


def test_two_trainings_into_one_run_directory(tmp_path):
    spec = tmp_path / "endless.yaml"
    spec.write_text(ENDLESS)
    run = tmp_path / "run"
    first = _nnc("train", spec, "--epochs", 100000, "--run-dir", run, "--device", "cpu")
    _wait_for_rows(run / "metrics.csv", 1, first)
    for extra in ([], ["--overwrite"]):
        second = _nnc("train", spec, "--run-dir", run, "--device", "cpu", *extra)
        _, err = second.communicate(timeout=120)
        lines = err.decode().strip().splitlines()
        assert second.returncode in (1, 2) and len(lines) == 1, err
        assert ("in use by another nnc process (pid" in lines[0]) or (
            not extra and "--overwrite" in lines[0]
        ), lines
    code, err = _stop(first)
    assert code == 130, err
    _rows_of_one_run(run / "metrics.csv")
    assert load_checkpoint(run / "checkpoints" / "interrupted.ckpt")[1]["epoch"] >= 1


def test_two_resumes_of_one_run_and_eval_export_meanwhile(tmp_path):
    spec = tmp_path / "endless.yaml"
    spec.write_text(ENDLESS)
    code, run = train(tmp_path, spec, "--epochs", 2)
    assert code == 0
    first = _nnc("train", "--resume", run, "--epochs", 100000, "--device", "cpu")
    _wait_for_rows(run / "metrics.csv", 3, first)
    for argv in (
        ["train", "--resume", run, "--epochs", 100000, "--device", "cpu"],
        ["eval", run],
        ["export", run, "-o", tmp_path / "m.onnx"],
    ):
        other = _nnc(*argv)
        _, err = other.communicate(timeout=120)
        lines = err.decode().strip().splitlines()
        assert other.returncode == 1 and len(lines) == 1, (argv, err)
        assert "in use by another nnc process" in lines[0], lines
    code, err = _stop(first)
    assert code == 130, err
    lines = _rows_of_one_run(run / "metrics.csv")
    assert len(lines) >= 4  # the two epochs before, and the survivor's
    assert not (tmp_path / "m.onnx").exists()
    epochs = load_checkpoint(run / "checkpoints" / "interrupted.ckpt")[1]["epoch"] + 1
    assert main(["train", "--resume", str(run), "--epochs", str(epochs), "--device", "cpu"]) == 0


def test_a_run_directory_filled_between_the_check_and_the_lock_is_not_reused(tmp_path):
    from nnc.runtime.errors import RunInUse
    from nnc.runtime.rundir import RunDir

    run = RunDir.at(tmp_path / "run")  # empty: accepted
    (tmp_path / "run" / "spec.yaml").write_text("another run got here first")
    with pytest.raises(RunInUse, match="filled by another nnc run meanwhile"):
        run.lock()
    assert (tmp_path / "run" / "spec.yaml").read_text() == "another run got here first"


# -- (11) SIGTERM, and a second Ctrl-C during the save ---------------------------------------------
def test_sigterm_writes_an_interrupted_checkpoint_like_ctrl_c(tmp_path):
    import signal

    spec = tmp_path / "endless.yaml"
    spec.write_text(ENDLESS)
    run = tmp_path / "run"
    proc = _nnc("train", spec, "--epochs", 100000, "--run-dir", run, "--device", "cpu")
    _wait_for_rows(run / "metrics.csv", 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 130 and len(lines) == 1, err
    assert lines[0].startswith("terminated (SIGTERM) at step") and "--resume" in lines[0]
    _, meta = load_checkpoint(run / "checkpoints" / "interrupted.ckpt")
    assert meta["kind"] == "interrupted" and meta["step"] > 0
    assert strict_json(run / "summary.json")["status"] == "interrupted"


def test_a_second_ctrl_c_during_the_save_waits_for_it(tmp_path, monkeypatch, capsys):
    import os
    import signal

    from nnc.runtime import engines, rundir

    real_step, real_save = engines.OrtStepper.step, rundir.save_checkpoint
    calls = {"n": 0}

    def signalled(self, feeds):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, feeds)

    def impatient(path, tensors, meta):  # the user presses Ctrl-C again while it saves
        if meta["kind"] == "interrupted":
            os.kill(os.getpid(), signal.SIGINT)
        real_save(path, tensors, meta)

    monkeypatch.setattr(engines.OrtStepper, "step", signalled)
    monkeypatch.setattr(rundir, "save_checkpoint", impatient)
    code, run = train(tmp_path, SPECS / "digits-mlp.yaml", "--epochs", "3")
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 130 and len(lines) == 1 and "Traceback" not in err, err
    assert "state saved to" in lines[0] and "waited for the save to finish" in lines[0]
    _, meta = load_checkpoint(run / "checkpoints" / "interrupted.ckpt")
    assert meta["step"] == 5


# -- (12) sizes checked before anything is allocated ---------------------------------------------
def _data_error(call) -> str:
    from nnc.runtime.data import DataError

    with pytest.raises(DataError) as e:
        call()
    return str(e.value)


def test_an_npz_header_declaring_ten_billion_floats_is_refused_unread(tmp_path):
    import zipfile

    from nnc.runtime.data import read_features

    header = np.lib.format.header_data_from_array_1_0(np.zeros(3, np.float32))
    header["shape"] = (10**10,)
    member = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(np.zeros(3, np.float32).tobytes())
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        z.writestr("x.npy", member.getvalue())
    msg = _data_error(lambda: read_features(tmp_path / "big.npz", input_shape=(1,)))
    assert "array 'x' declares 37.3 GiB, above the limit of 4.0 GiB" in msg
    assert "NNC_MAX_DATA_BYTES" in msg
    (tmp_path / "big.npy").write_bytes(member.getvalue())
    msg = _data_error(lambda: read_features(tmp_path / "big.npy", input_shape=(1,)))
    assert "declares 37.3 GiB" in msg


def test_a_truncated_npz_array_is_refused_before_it_is_allocated(tmp_path, monkeypatch):
    import zipfile

    from nnc.runtime.data import read_features

    header = np.lib.format.header_data_from_array_1_0(np.zeros(3, np.float32))
    header["shape"] = (1000, 1)
    member = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(np.zeros(3, np.float32).tobytes())
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as z:
        z.writestr("x.npy", member.getvalue())
    msg = _data_error(lambda: read_features(tmp_path / "short.npz", input_shape=(1,)))
    assert (
        "array 'x' is truncated: its header declares 4000 bytes of data, the archive holds 12"
        in msg
    )


@pytest.mark.parametrize("source", ["csv", "npz", "idx"])
def test_device_files_and_fifos_are_refused_as_data(tmp_path, source):
    import os

    from nnc.runtime.data import TargetSpec, load_data

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = TargetSpec("class_index", 3, (3,))
    for path in ("/dev/zero", str(fifo)):
        cfg = {
            "csv": {"csv": {"path": path}},
            "npz": {"npz": {"path": path}},
            "idx": {"idx": {"images": path, "labels": path}},
        }[source]
        msg = _data_error(
            lambda cfg=cfg: load_data(cfg, input_shape=(4,), target=target, base_dir=tmp_path)
        )
        assert f"{path}: not a regular file (a device, FIFO or socket): not read" in msg


def test_a_gzip_idx_that_inflates_past_the_limit_is_refused_while_streaming(tmp_path, monkeypatch):
    import gzip
    import struct
    import tracemalloc

    from nnc.runtime.data import read_idx

    # 64 MiB of zeros in a 64 KiB file; the header says so, and a lying header is caught too
    n = 64 << 20
    head = bytes([0, 0, 0x08, 1]) + struct.pack(">I", n)
    with gzip.open(tmp_path / "bomb.gz", "wb") as f:
        f.write(head)
        zeros = bytes(1 << 20)
        for _ in range(64):
            f.write(zeros)
    assert (tmp_path / "bomb.gz").stat().st_size < 1 << 20
    monkeypatch.setenv("NNC_MAX_DATA_BYTES", str(8 << 20))
    tracemalloc.start()
    msg = _data_error(lambda: read_idx(tmp_path / "bomb.gz"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "declares shape (67108864,) of uint8: 64.0 MiB, above the limit of 8.0 MiB" in msg
    assert peak < 4 << 20, peak
    lying = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 16)
    with gzip.open(tmp_path / "lying.gz", "wb") as f:
        f.write(lying + bytes(n))
    tracemalloc.start()
    msg = _data_error(lambda: read_idx(tmp_path / "lying.gz"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "has trailing bytes" in msg and peak < 4 << 20, peak
    monkeypatch.setenv("NNC_MAX_DATA_BYTES", str(128 << 20))  # raised: read
    assert read_idx(tmp_path / "bomb.gz").shape == (n,)


# -- (13) --untrusted, and errors that quote little of a file -------------------------------------
def _confined_spec(folder: Path, data_path: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.yaml"
    spec.write_text(CSV_SPEC.replace("data/iris.csv", data_path).replace("species", "-1"))
    return spec


def test_untrusted_confines_data_paths_to_the_specs_folder(tmp_path, capsys):
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b,c,d,e\n1,2,3,4,0\n")
    folder = tmp_path / "downloaded"
    (folder / "sub").mkdir(parents=True)
    (folder / "link.csv").symlink_to(outside)
    (folder / "sub" / "ok.csv").write_text("a,b,c,d,e\n" + "1,2,3,4,0\n5,6,7,8,1\n9,1,2,3,2\n")
    for path in (str(outside), "../secret.csv", "link.csv", "sub/../../secret.csv"):
        spec = _confined_spec(folder, path)
        argv = ["train", str(spec), "--untrusted", "--run-dir", str(tmp_path / "r")]
        assert main([*argv, "--device", "cpu"]) == 1, path
        err = err_lines(capsys)
        assert len(err) == 1 and "outside the spec's folder" in err[0], err
        assert "--untrusted" in err[0] and not (tmp_path / "r").exists()
        assert main(["validate", str(spec)]) == 0  # without --untrusted: the user's own spec
    spec = _confined_spec(folder, "sub/ok.csv")
    code, _ = train(tmp_path, spec, "--untrusted", "--epochs", "1")
    assert code == 0


def test_untrusted_confines_init_from_runs(tmp_path, capsys):
    run = _xor_run(tmp_path)
    folder = tmp_path / "downloaded"
    folder.mkdir()
    spec = folder / "spec.yaml"
    spec.write_text(
        (SPECS / "xor.yaml")
        .read_text()
        .replace("seed: 0}", f"seed: 0, init_from: {{run: {run}}}}}")
    )
    code, _ = train(tmp_path, spec, "--untrusted", name="warm")
    err = err_lines(capsys)
    assert code == 1 and len(err) == 1 and "train.init_from.run leads outside" in err[0], err
    code, _ = train(tmp_path, spec, "--epochs", "1", name="trusted")
    assert code == 0


def test_errors_quote_only_a_short_prefix_of_a_file(tmp_path, capsys):
    secret = "root:x:0:0:root:/root:/bin/bash"
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "d.csv").write_text(f"a,b,c,d,e\n1,2,3,4,0\n1,{secret},3,4,1\n")
    spec = _confined_spec(folder, "d.csv")
    code, _ = train(tmp_path, spec)
    err = capsys.readouterr().err
    assert code == 1 and "/bin/bash" not in err, err
    assert "column 'b': 'root:x:0:0:root:'... (31 characters) is not a number" in err
    (folder / "d.csv").write_text(f"{secret}\n1\n")
    spec.write_text(spec.read_text().replace("target: -1", "target: name"))
    code, _ = train(tmp_path, spec, name="r2")
    err = capsys.readouterr().err
    assert code == 1 and "/bin/bash" not in err, err
    assert "no column named 'name' for target; columns: root:x:0:0:root:..." in err


# -- the battery: bad inputs through every command ------------------------------------------------
def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished xor run, and one that was interrupted before finishing (no final.ckpt)."""
    import shutil

    root = tmp_path_factory.mktemp("battery")
    run = _xor_run(root, epochs=3, name="done")
    unfinished = root / "unfinished"
    shutil.copytree(run, unfinished)
    (unfinished / "checkpoints" / "final.ckpt").unlink()
    (unfinished / "model.onnx").unlink()
    shutil.copytree(run, root / "damaged")
    (root / "damaged" / "run.json").write_text("{not json")
    shutil.copytree(run, root / "cut")
    final = root / "cut" / "checkpoints" / "final.ckpt"
    final.write_bytes(final.read_bytes()[:-100])
    shutil.copytree(run, root / "half")
    (root / "half" / "data.json").write_text('{"format": "nnc-run-data", "version": 1}')
    model = (run / "model.onnx").read_bytes()
    (root / "cut.onnx").write_bytes(model[: len(model) // 2])
    (root / "garbage.onnx").write_bytes(b"hello world")
    (root / "empty.onnx").write_bytes(b"")
    np.save(root / "x.npy", np.array([[0, 0], [1, 1]], np.float32))
    return root


def _battery(d: Path) -> list[tuple[list, int, str]]:
    """(argv, exit code, a fragment of the one line) for bad inputs to every command."""
    run, unfinished, spec = d / "done", d / "unfinished", d / "xor.yaml"
    damaged, half = d / "damaged", d / "half"
    missing = d / "missing.yaml"
    return [
        (["validate", missing], 1, "not found"),
        (["validate", d], 1, "is a directory"),
        (["summary", missing], 1, "not found"),
        (["summary", d / "garbage.yaml"], 1, "invalid YAML"),
        (["compile", spec, "-o", spec], 1, "is not a directory"),
        (["compile", spec, "-o", run], 1, "would replace model.onnx of the run"),
        (["compile", missing, "-o", d / "out"], 1, "not found"),
        (["train", missing], 1, "not found"),
        (["train"], 2, "give a SPEC"),
        (["train", spec, "--epochs", "x"], 2, "invalid int value"),
        (["train", spec, "--run-dir", run], 2, "exists and is not empty"),
        (["train", spec, "--run-dir", spec], 2, "is not a directory"),
        (["train", spec, "--from-checkpoint", "last"], 2, "goes with --resume"),
        (["train", "--resume", d / "nope"], 2, "no such run directory"),
        (["train", "--resume", d / "empty"], 1, "no checkpoint to resume from"),
        (["train", "--resume", run, "--run-dir", d / "x"], 2, "no --run-dir"),
        (["train", "--resume", run, "--from-checkpoint", "interrupted"], 1, "no interrupted"),
        (["train", "--resume", run, "--lr", "0.5"], 1, "optimizer.lr: 2.0 -> 0.5"),
        (["train", spec, "--device", "tpu"], 2, "invalid choice: 'tpu'"),
        (["eval", d / "nope"], 1, "no such run directory"),
        (["eval", d / "empty"], 1, "is not an nnc run directory"),
        (["eval", unfinished], 1, "no final.ckpt (did its training finish?)"),
        (["eval", damaged], 1, "run.json: damaged"),
        (["export", damaged, "-o", d / "m.onnx"], 1, "run.json: damaged"),
        (["export", run, "-o", d / "m.onnx", "--opset", "1"], 2, "--opset 1: nnc exports"),
        (["export", run, "-o", d / "m.onnx", "--opset", "99999"], 2, "--opset 99999"),
        (["export", run, "-o", run / "spec.yaml"], 1, "would replace spec.yaml of the run"),
        (["export", run, "-o", d], 1, "is a directory"),
        (["export", unfinished, "-o", d / "m.onnx"], 1, "no final.ckpt"),
        (["export", run], 2, "the following arguments are required: -o/--output"),
        (["eval", d / "cut"], 1, "final.ckpt: corrupt or truncated checkpoint"),
        (["export", d / "cut", "-o", d / "m.onnx"], 1, "final.ckpt: corrupt or truncated"),
        (["eval", half], 1, "data.json: damaged"),
        (["export", half, "-o", d / "m.onnx"], 1, "data.json: damaged"),
        (["train", "--resume", half], 1, "data.json: damaged"),
        (["bench", spec, "--repeats", "0"], 2, "'0' is not a positive integer"),
        (["bench", spec, "--warmup", "-1"], 2, "'-1' is negative"),
        (["bench", spec, "--batch-size", "0"], 2, "'0' is not a positive integer"),
        (["bench", missing], 1, "not found"),
        (["gradcheck", spec, "--samples", "0"], 2, "'0' is not a positive integer"),
        (["gradcheck", spec, "--entries", "0"], 2, "'0' is not a positive integer"),
        (["gradcheck", spec, "--eps=-1e-4"], 2, "not a positive finite number"),
        (["gradcheck", missing], 1, "not found"),
        (["predict", run, "--input", d / "x.npy", "-o", run / "spec.yaml"], 1, "would replace"),
        (["predict", run, "--input", d / "x.npy", "-o", d], 1, "is a directory"),
        (["predict", d / "cut.onnx", "--input", d / "x.npy"], 1, "not an ONNX model"),
        (["predict", d / "garbage.onnx", "--input", d / "x.npy"], 1, "not an ONNX model"),
        (["predict", d / "empty.onnx", "--input", d / "x.npy"], 1, "empty file"),
        (["predict", spec, "--input", d / "x.npy"], 1, "an untrained spec"),
        (["predict", run, "--input", d / "missing.npy"], 1, "file not found"),
        (["predict", run, "--input", run / "spec.yaml"], 1, "unsupported input file type"),
        (["predict", unfinished, "--input", d / "x.npy"], 1, "no model.onnx"),
    ]


def test_bad_inputs_to_every_command_get_one_line_and_lose_nothing(trained, capsys):
    d = trained
    (d / "empty").mkdir(exist_ok=True)
    (d / "garbage.yaml").write_text("layers: [\n")
    for argv, code, fragment in _battery(d):
        before = _snapshot(d)
        got = main([str(a) for a in argv])
        out = capsys.readouterr()
        lines = out.err.strip().splitlines()
        where = (argv, out.err)
        assert got == code, where
        assert "Traceback" not in out.err + out.out, where
        if lines and lines[-1].endswith((" error", " errors")):  # a spec's diagnostics
            lines = lines[:-1]
        assert len(lines) == 1 and fragment in lines[0], where
        assert _snapshot(d) == before, where


def test_data_parallel_workers_apply_the_runs_preprocessing_not_a_refit(tmp_path):
    from nnc.compiler.spec.model import thaw
    from nnc.runtime.compiled import load_spec_file
    from nnc.runtime.data import Affine, Fitted
    from nnc.runtime.distributed import Worker  # a plain class: Ray wraps it as an actor

    run, csv = _csv_run(tmp_path)
    spec = load_spec_file(tmp_path / "spec.yaml")
    fitted = Fitted(Affine(np.full(4, 2.0, np.float32), np.ones(4, np.float32)), None)
    worker = Worker(0, thaw(spec.document), spec.filename, str(spec.base_dir), 1, fitted)
    raw = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=range(4), dtype=np.float32)
    rows = {tuple(r) for r in (raw * 2 + 1).round(4)}
    assert {tuple(r) for r in worker.x.round(4)} <= rows  # its split of the data, preprocessed
