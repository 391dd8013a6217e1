"""Gradient checking: the gradient graph against float64 central differences of the loss, both
run on the NumPy interpreter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnc.compiler.network import Network
from nnc.runtime.compiled import Compiled

ATOL = 1e-8


@dataclass
class ParamCheck:
    name: str
    checked: int
    max_abs_error: float
    rel_error: float  # ||analytic - numeric|| / max(||analytic|| + ||numeric||, tiny)

    def ok(self, tol: float, atol: float = ATOL) -> bool:
        # a gradient that is truly zero (a conv bias before batch norm) has pure rounding noise
        # on both sides: judge it by the absolute error, which differences resolve to ~1e-10
        return self.rel_error <= tol or self.max_abs_error <= atol


def random_batch(net: Network, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = net.target()
    x = rng.normal(0.0, 1.0, (n, *net.spec.input_shape))
    if t.kind == "class_index":
        y = rng.integers(0, t.num_classes, n).astype(np.int64)
    elif t.kind in ("binary", "multilabel"):
        y = rng.integers(0, 2, (n, *t.output_shape)).astype(np.float64)
    else:
        y = rng.normal(0.0, 1.0, (n, *t.output_shape))
    return {"x": x, "y": y}


def gradcheck(
    net: Network,
    *,
    samples: int = 4,
    per_param: int = 12,
    eps: float = 1e-6,
    seed: int = 0,
    engine: str = "numpy",
) -> list[ParamCheck]:
    """Check up to `per_param` entries of every trainable parameter's gradient."""
    graphs = Compiled(net, dtype=np.float64).graphs
    model = graphs.gradient
    if engine == "numpy":
        from nnc.runtime.interpreter import Interpreter

        run = Interpreter(model).run
    else:
        from nnc.runtime.engines import OrtEngine

        run = OrtEngine("cpu").session(model)
    rng = np.random.default_rng(seed)
    values = net.initial_values(seed, np.float64)
    # move parameters off exact zeros so biases do not sit on ReLU kinks
    for p in net.params:
        if p.trainable and not p.state:
            values[p.name] = values[p.name] + rng.normal(0.0, 0.05, values[p.name].shape)
    feeds = {**random_batch(net, samples, rng), **values}
    for name, shape in graphs.random_inputs.items():
        feeds[name] = rng.random((samples, *shape))
    grad_names = [f"grad.{p.name}" for p in net.trainable()]
    analytic = dict(zip(grad_names, run(grad_names, feeds)))

    def loss_at(name, value):
        return float(run(["loss"], {**feeds, name: value})[0])

    out = []
    for p in net.trainable():
        g = analytic[f"grad.{p.name}"]
        flat = values[p.name].ravel()
        picks = rng.choice(flat.size, size=min(per_param, flat.size), replace=False)
        num = np.empty(len(picks))
        for j, k in enumerate(picks):
            plus, minus = flat.copy(), flat.copy()
            plus[k] += eps
            minus[k] -= eps
            shape = values[p.name].shape
            num[j] = (
                loss_at(p.name, plus.reshape(shape)) - loss_at(p.name, minus.reshape(shape))
            ) / (2 * eps)
        ana = g.ravel()[picks]
        diff = np.linalg.norm(ana - num)
        rel = diff / max(np.linalg.norm(ana) + np.linalg.norm(num), 1e-12)
        out.append(ParamCheck(p.name, len(picks), float(np.max(np.abs(ana - num))), float(rel)))
    return out
