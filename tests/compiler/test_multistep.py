"""K train steps in one call (the train step as the body of an ONNX Loop, batches gathered from
the training split inside the graph) equal K single train steps, on onnxruntime and on the
interpreter; recurrent specs' Scans nest inside the Loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nnc.compiler.graphs import NEXT, training_graphs
from nnc.compiler.multistep import multi_step_model
from nnc.compiler.network import Network
from nnc.compiler.spec.model import load_spec
from nnc.runtime.engines import OrtEngine
from nnc.runtime.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
K = 4


@pytest.mark.parametrize("name", ["xor", "digits-mlp", "digits-cnn", "sine-gru"])
def test_k_steps_in_one_call_equal_k_single_steps(name):
    net = Network(load_spec(ROOT / "specs" / f"{name}.yaml"))
    g = training_graphs(net)
    model = multi_step_model(g.train_step, g.random_inputs)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(0)
    d, b = 12, 3
    t = net.target()
    data_x = rng.random((d, *net.spec.input_shape), dtype=np.float32)
    if t.kind == "class_index":
        data_y = rng.integers(0, t.num_classes, d).astype(np.int64)
    else:
        data_y = rng.integers(0, 2, (d, *net.output_shape)).astype(np.float32)
    idx = np.stack([rng.permutation(d)[:b] for _ in range(K)])
    rand = {k: rng.random((K, b, *s), dtype=np.float32) for k, s in g.random_inputs.items()}
    carried = {**net.initial_values(0), **g.initial_state()}
    lr = np.array(0.05, np.float32)
    feeds = {"data.x": data_x, "data.y": data_y, "indices": idx, "step": np.array(7, np.int64)}
    feeds.update({"lr": lr, **rand, **carried})
    outs = [o.name for o in model.graph.output]
    ort_run = OrtEngine("cpu").session(model)
    fused = dict(zip(outs, ort_run(outs, feeds)))
    interp = dict(zip(outs, Interpreter(model).run(outs, feeds)))

    single = OrtEngine("cpu").session(g.train_step)
    souts = [o.name for o in g.train_step.graph.output]
    losses, state = [], dict(carried)
    for k in range(K):
        f = {"x": data_x[idx[k]], "y": data_y[idx[k]], "step": np.array(7 + k, np.int64)}
        f.update({"lr": lr, **{n: v[k] for n, v in rand.items()}, **state})
        res = dict(zip(souts, single(souts, f)))
        losses.append(float(res["loss"]))
        state = {n[: -len(NEXT)]: v for n, v in res.items() if n.endswith(NEXT)}
    assert fused["loss"].shape == (K,)
    np.testing.assert_allclose(fused["loss"], losses, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(interp["loss"], losses, rtol=1e-4, atol=1e-6)
    for n, v in state.items():
        np.testing.assert_allclose(fused[n + NEXT], v, rtol=1e-5, atol=1e-6, err_msg=n)
