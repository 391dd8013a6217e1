"""The update graph on its own: a gradient step then an update step equal the fused train step
(parameters, optimizer state, running statistics, grad_norm, lr_used) over several steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnc.compiler.graphs import NEXT, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import load_spec, parse_spec
from nnc.runtime.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED = """
input: {shape: [5]}
layers:
  - {type: dense, units: 4, activation: relu}
  - {type: batch_norm}
  - {type: dense, units: 3}
loss: cross_entropy
regularization: {l2: 0.01, max_norm: 2.0}
optimizer: {type: adamw, lr: 0.01, clip_norm: 0.5, schedule: {type: cosine, decay_steps: 10}}
"""


def _nets():
    yield "xor", Network(load_spec(ROOT / "specs" / "xor.yaml"))
    yield "digits-mlp", Network(load_spec(ROOT / "specs" / "digits-mlp.yaml"))
    yield "digits-cnn", Network(load_spec(ROOT / "specs" / "digits-cnn.yaml"))
    yield "scheduled", Network(parse_spec(SCHEDULED))


@pytest.mark.parametrize("name, net", list(_nets()), ids=lambda v: v if isinstance(v, str) else "")
def test_gradient_then_update_equals_the_train_step(name, net):
    g = training_graphs(net, np.float64)
    step_run, grad_run = Interpreter(g.train_step).run, Interpreter(g.gradient).run
    update_run = Interpreter(g.update).run
    rng = np.random.default_rng(0)
    carried = {**net.initial_values(0, np.float64), **g.initial_state(np.float64)}
    target = net.target()
    for step in range(3):
        n = 5
        x = rng.normal(size=(n, *net.spec.input_shape))
        if target.kind == "class_index":
            y = rng.integers(0, target.num_classes, n)
        else:
            y = rng.integers(0, 2, (n, *net.output_shape)).astype(np.float64)
        feeds = {"x": x, "y": y, "step": np.array(step, np.int64), "lr": np.array(0.05)}
        for k, shape in g.random_inputs.items():
            feeds[k] = rng.random((n, *shape))
        outs = [o.name for o in g.train_step.graph.output]
        fused = dict(zip(outs, step_run(outs, {**feeds, **carried})))

        gouts = [o.name for o in g.gradient.graph.output]
        gins = {i.name for i in g.gradient.graph.input}
        gfeeds = {k: v for k, v in {**feeds, **carried}.items() if k in gins}
        grads = dict(zip(gouts, grad_run(gouts, gfeeds)))
        uins = {i.name for i in g.update.graph.input}
        ufeeds = {k: v for k, v in {**feeds, **carried, **grads}.items() if k in uins}
        uouts = [o.name for o in g.update.graph.output]
        split = {**grads, **dict(zip(uouts, update_run(uouts, ufeeds)))}
        for k in outs:
            np.testing.assert_allclose(split[k], fused[k], rtol=1e-12, atol=1e-15, err_msg=k)
        carried = {k[: -len(NEXT)]: v for k, v in fused.items() if k.endswith(NEXT)}
