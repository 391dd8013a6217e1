"""Data-parallel training on Ray (a local instance): two workers follow the single-process
trajectory, batch norm per worker, bit-identical resume, a killed worker, Ray missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnc.compiler.graphs import NEXT
from nnc.runtime.cli import main
from nnc.runtime.compiled import compile_with_data, load_spec_file
from nnc.runtime.engines import OrtEngine

ray = pytest.importorskip("ray")  # the nnc[ray] extra; .ci/run installs it

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def local_ray():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _feeds(compiled, data, steps, seed=0):
    """The trainer's feeds for `steps` steps: shuffled batches, dropout uniforms."""
    rng = np.random.default_rng(seed)
    bsz, n = compiled.batch_size, len(data.train)
    out, perm, at = [], rng.permutation(n), 0
    for step in range(steps):
        if at + bsz > n:
            perm, at = rng.permutation(n), 0
        idx = perm[at : at + bsz]
        at += bsz
        feeds = {"idx": idx, "step": np.array(step, np.int64), "lr": np.array(1e-3, np.float32)}
        for name, shape in compiled.graphs.random_inputs.items():
            feeds[name] = rng.random((len(idx), *shape), dtype=np.float32)
        out.append(feeds)
    return out


def _distributed(local_ray, spec, carried, workers=2):
    from nnc.runtime.distributed import DataParallel

    return DataParallel(spec, workers).stepper(carried)


def test_two_workers_follow_the_single_process_trajectory(local_ray):
    """digits-mlp (dropout included: the workers get the same uniforms, sliced), 50 steps."""
    spec = load_spec_file(SPECS / "digits-mlp.yaml")
    compiled, data = compile_with_data(spec)
    carried = {**compiled.initial_values(), **compiled.graphs.initial_state()}
    single = OrtEngine("cpu").stepper(compiled.graphs.train_step, carried)
    dist = _distributed(local_ray, spec, carried)
    ours, theirs = [], []
    for f in _feeds(compiled, data, 50):
        idx, rest = f["idx"], {k: v for k, v in f.items() if k != "idx"}
        ours.append(dist.step({**dist.batch_feeds(data.train, idx), **rest})["loss"])
        theirs.append(single.step({**single.batch_feeds(data.train, idx), **rest})["loss"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert theirs[-1] < theirs[0]
    final, expect = dist.values(), single.values()
    for k in expect:
        np.testing.assert_allclose(final[k], expect[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_batch_norm_normalises_per_worker(local_ray):
    """digits-cnn: each worker's slice is normalised with its own statistics, so the reference is
    a single process that runs the gradient graph per half-batch, averages the gradients and
    applies the update graph (worker 0's running statistics are the run's)."""
    spec = load_spec_file(SPECS / "digits-cnn.yaml")
    compiled, data = compile_with_data(spec)
    g = compiled.graphs
    carried = {**compiled.initial_values(), **g.initial_state()}
    engine = OrtEngine("cpu")
    grad_s, upd_s = engine.inference_session(g.gradient), engine.inference_session(g.update)
    gin, uin = {i.name for i in g.gradient.graph.input}, {i.name for i in g.update.graph.input}
    gout, uout = [o.name for o in g.gradient.graph.output], [o.name for o in g.update.graph.output]
    replicas = [dict(carried), dict(carried)]
    dist = _distributed(local_ray, spec, carried)
    ours, theirs = [], []
    for f in _feeds(compiled, data, 50):
        idx, rest = f["idx"], {k: v for k, v in f.items() if k != "idx"}
        ours.append(dist.step({**dist.batch_feeds(data.train, idx), **rest})["loss"])
        half = np.linspace(0, len(idx), 3).round().astype(int)
        loss, grads = 0.0, {}
        for r, (a, b) in enumerate(zip(half[:-1], half[1:])):
            sl = {"x": data.train.x[idx[a:b]], "y": data.train.y[idx[a:b]]}
            sl.update({k: v[a:b] for k, v in rest.items() if k in gin})
            sl.update({k: v for k, v in replicas[r].items() if k in gin})
            res = dict(zip(gout, grad_s.run(gout, sl)))
            w = float(b - a) / len(idx)
            loss += w * float(res["loss"])
            for k, v in res.items():
                if k.startswith("grad."):
                    grads[k] = grads.get(k, 0) + w * v
                elif k.endswith(NEXT):
                    replicas[r][k[: -len(NEXT)]] = v
        theirs.append(loss)
        for r in range(2):
            feeds = {**grads, "step": rest["step"], "lr": rest["lr"]}
            feeds.update({k: v for k, v in replicas[r].items() if k in uin})
            res = dict(zip(uout, upd_s.run(uout, feeds)))
            replicas[r].update({k[: -len(NEXT)]: v for k, v in res.items() if k.endswith(NEXT)})
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    final = dist.values()
    for k, v in replicas[0].items():
        np.testing.assert_allclose(final[k], v, rtol=1e-4, atol=1e-6, err_msg=k)


def _train(tmp_path, *argv):
    return main(["train", str(SPECS / "digits-mlp.yaml"), "--device", "cpu", *argv])


def test_resume_of_a_distributed_run_is_bit_identical(local_ray, tmp_path, capsys):
    from nnc.runtime.checkpoint import load_checkpoint

    full, part = tmp_path / "full", tmp_path / "part"
    assert _train(tmp_path, "--workers", "2", "--epochs", "3", "--run-dir", str(full)) == 0
    assert _train(tmp_path, "--workers", "2", "--epochs", "2", "--run-dir", str(part)) == 0
    assert main(["train", "--resume", str(part), "--epochs", "3", "--device", "cpu"]) == 0
    a, _ = load_checkpoint(full / "checkpoints" / "final.ckpt")
    b, _ = load_checkpoint(part / "checkpoints" / "final.ckpt")
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert "workers: 2 Ray workers" in capsys.readouterr().out


def test_a_killed_worker_ends_the_run_with_one_line_and_resume_continues(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "NNC_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "nnc.runtime.cli", "train", str(SPECS / "digits-mlp.yaml")]
    cmd += ["--workers", "2", "--epochs", "400", "--run-dir", str(run), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    pids = None
    deadline = time.time() + 120
    while time.time() < deadline and pids is None:
        line = proc.stdout.readline()
        if line.startswith("workers:"):
            pids = [int(p) for p in line.split("pids ")[1].rstrip(")\n").split(", ")]
    assert pids, "the workers never started"
    while time.time() < deadline and not (run / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.2)
    os.kill(pids[1], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"worker 1 (pid {pids[1]}) died" in lines[0] and "last.ckpt" in lines[0]
    assert "nnc train --resume" in lines[0]
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnc.runtime.cli",
            "train",
            "--resume",
            str(run),
            "--epochs",
            "3",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "model.onnx").exists()


def test_without_ray_the_workers_option_is_one_clear_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = _train(tmp_path, "--workers", "2", "--epochs", "1", "--run-dir", str(tmp_path / "r"))
    err = capsys.readouterr().err
    assert code == 1 and "needs Ray" in err and "pip install 'nnc[ray]'" in err
