"""Float64 finite-difference checks of the gradient rules, run on the NumPy interpreter.

A case builds the op(s) under test on a float64 GraphBuilder; the harness turns the output into
the scalar loss `ReduceSum(Mul(out, R))`, with R a fixed random weight fed as an extra input (so
every output element matters and the incoming gradient is not all ones), asks `gradients()` for
the backward pass, and compares it with central differences of the same loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from nnc.compiler.autodiff import gradients
from nnc.compiler.builder import GraphBuilder
from nnc.runtime.interpreter import Interpreter

Build = Callable[[GraphBuilder, dict[str, str]], str]

STANDARD_DOMAINS = ("", "ai.onnx")
WEIGHT = "R"  # the graph input holding the random weight of the loss


@dataclass(frozen=True)
class Case:
    """One gradient check: `build(b, names) -> output name`, on graph inputs like `inputs`."""

    id: str
    build: Build
    inputs: dict[str, np.ndarray]
    wrt: tuple[str, ...]
    rtol: float = 1e-6
    atol: float = 1e-8
    eps: float = 1e-6

    def check(self) -> GradCheck:
        return check_gradient(
            self.build, self.inputs, list(self.wrt), rtol=self.rtol, atol=self.atol, eps=self.eps
        )


@dataclass
class GradCheck:
    """What a passing check saw: the emitted model and the op types of the forward part."""

    model: onnx.ModelProto
    forward_ops: set[str]
    checked: dict[str, int] = field(default_factory=dict)  # entries compared per input


def check_gradient(
    build: Build,
    inputs: dict[str, np.ndarray],
    wrt: Sequence[str],
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    eps: float = 1e-6,
    max_entries: int = 64,
    seed: int = 0,
) -> GradCheck:
    """Assert that the analytic gradients of the loss w.r.t. `wrt` match central differences."""
    for name in wrt:
        if inputs[name].dtype != np.float64:
            raise TypeError(f"input {name!r} in wrt must be float64, got {inputs[name].dtype}")
    rng = np.random.default_rng(seed)
    b = GraphBuilder("gradcheck", np.float64)
    names = {
        name: b.add_input(name, value.shape, dtype=value.dtype) for name, value in inputs.items()
    }
    out = build(b, names)
    # a region (a layer's composite marked for one hand-derived rule) counts as its kind
    forward_ops = {n.op_type for n in b.nodes} | {r.kind for r in b.regions}

    # the output's shape, from the interpreter, to shape the weight R
    value = Interpreter(b.model()).run([out], inputs)[0]
    if value.dtype != np.float64:
        raise TypeError(f"the output {out!r} is {value.dtype}, the loss needs float64")
    weight = rng.uniform(0.5, 1.5, value.shape) * rng.choice([-1.0, 1.0], value.shape)
    feeds = {**inputs, WEIGHT: weight}
    b.add_input(WEIGHT, value.shape)
    loss = b.op("ReduceSum", [b.op("Mul", [out, WEIGHT])], keepdims=0)
    b.add_output(loss, [])
    run_loss = Interpreter(b.model()).run

    grads = gradients(b, loss, list(wrt))
    grad_outputs = {}
    for name in wrt:
        grad_outputs[name] = b.rename(grads[name], f"grad.{name}")
        b.add_output(grad_outputs[name], inputs[name].shape)
    model = b.model()
    onnx.checker.check_model(model, full_check=True)
    foreign = {(n.domain, n.op_type) for n in model.graph.node if n.domain not in STANDARD_DOMAINS}
    assert not foreign, f"nodes outside the standard ONNX domain: {sorted(foreign)}"
    assert {o.domain for o in model.opset_import} <= set(STANDARD_DOMAINS)

    values = Interpreter(model).run([grad_outputs[n] for n in wrt], feeds)
    analytic = dict(zip(wrt, values, strict=True))

    def loss_at(name: str, x: np.ndarray) -> float:
        return float(run_loss([loss], {**feeds, name: x})[0])

    checked = {}
    for name in wrt:
        x = inputs[name]
        got = analytic[name]
        assert got.shape == x.shape, f"d loss / d {name}: shape {got.shape}, expected {x.shape}"
        assert got.dtype == np.float64, f"d loss / d {name}: dtype {got.dtype}"
        flat = x.ravel()
        picks = np.arange(flat.size)
        if flat.size > max_entries:
            picks = np.sort(rng.choice(flat.size, size=max_entries, replace=False))
        numeric = np.empty(len(picks))
        for j, k in enumerate(picks):
            plus, minus = flat.copy(), flat.copy()
            plus[k] += eps
            minus[k] -= eps
            up, down = loss_at(name, plus.reshape(x.shape)), loss_at(name, minus.reshape(x.shape))
            numeric[j] = (up - down) / (2 * eps)
        np.testing.assert_allclose(
            got.ravel()[picks],
            numeric,
            rtol=rtol,
            atol=atol,
            err_msg=f"d loss / d {name}: analytic (actual) vs central differences (desired)",
        )
        checked[name] = len(picks)
    return GradCheck(model, forward_ops, checked)


# -- sampling inputs away from kinks and ties ---------------------------------------------------
def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, shape)


def away_from_zero(rng: np.random.Generator, *shape: int, gap: float = 0.05) -> np.ndarray:
    """Values of either sign with |x| in [gap + 0.1, 1.5]."""
    return rng.uniform(gap + 0.1, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def positive(rng: np.random.Generator, *shape: int, low: float = 0.5, high: float = 2.0):
    return rng.uniform(low, high, shape)


def apart(rng: np.random.Generator, *shapes: Sequence[int], gap: float = 0.05) -> list[np.ndarray]:
    """Normal samples of `shapes` whose broadcast pairs all differ by more than `gap`."""
    for _ in range(1000):
        xs = [rng.normal(0.0, 1.0, tuple(s)) for s in shapes]
        close = any(np.min(np.abs(a - c)) <= gap for i, a in enumerate(xs) for c in xs[i + 1 :])
        if not close:
            return xs
    raise ValueError(f"could not sample {shapes} with pairwise gaps above {gap}")
