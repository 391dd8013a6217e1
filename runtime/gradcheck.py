"""Gradient checking: the gradient graph against float64 central differences of the loss, both
run on the NumPy interpreter, at two points: the spec's own initial values (where a network
starts, zeros included: a rule that is wrong only there, like BCE's at a zero logit, shows up)
and those values moved off by small noise (off the exact zeros, so that most entries sit away
from ReLU-like corners)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnc.compiler.network import Network
from nnc.runtime.compiled import Compiled

ATOL = 1e-8
EPS = 1e-6
POINTS = ("initial", "moved")  # the spec's initial values, and moved off them
MOVE_STD = 0.05


@dataclass
class ParamCheck:
    name: str
    checked: int
    max_abs_error: float
    rel_error: float  # ||analytic - numeric|| / max(||analytic|| + ||numeric||, tiny)
    point: str = "moved"  # where: "initial" (the spec's values) or "moved" (off them)
    corners: int = 0  # entries at a corner of the loss, checked against its one-sided slopes

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
    eps: float = EPS,
    seed: int = 0,
    engine: str = "numpy",
    points: tuple[str, ...] = POINTS,
) -> list[ParamCheck]:
    """Check up to `per_param` entries of every trainable parameter's gradient at each point.

    An entry where the loss has a corner (its one-sided slopes differ by an amount that does not
    shrink with the step, as for ReLU at exactly 0) has no gradient to compare with the central
    difference: there the analytic value passes if it lies between the one-sided slopes (a
    subgradient), and is replaced by the nearest of them for the error."""
    unknown = [p for p in points if p not in POINTS]
    if unknown:
        raise ValueError(f"unknown gradcheck point {unknown[0]!r}; known: {', '.join(POINTS)}")
    graphs = Compiled(net, dtype=np.float64).graphs
    model = graphs.gradient
    if engine == "numpy":
        from nnc.runtime.interpreter import Interpreter

        run = Interpreter(model).run
    else:
        from nnc.runtime.engines import OrtEngine

        run = OrtEngine("cpu").session(model)
    rng = np.random.default_rng(seed)
    initial = net.initial_values(seed, np.float64)
    batch = random_batch(net, samples, rng)
    for name, shape in graphs.random_inputs.items():
        batch[name] = rng.random((samples, *shape))
    trainable = net.trainable()
    grad_names = [f"grad.{p.name}" for p in trainable]
    out = []
    for point in POINTS:
        values = dict(initial)
        if point == "moved":  # drawn even when not checked: the same entries either way
            for p in net.params:
                if p.trainable and not p.state:
                    noise = rng.normal(0.0, MOVE_STD, values[p.name].shape)
                    values[p.name] = values[p.name] + noise
        picks = {
            p.name: rng.choice(
                values[p.name].size, size=min(per_param, values[p.name].size), replace=False
            )
            for p in trainable
        }
        if point not in points:
            continue
        feeds = {**batch, **values}
        analytic = dict(zip(grad_names, run(grad_names, feeds)))

        def loss_at(name, flat, shape, feeds=feeds):
            return float(run(["loss"], {**feeds, name: flat.reshape(shape)})[0])

        for p in trainable:
            g = analytic[f"grad.{p.name}"].ravel()
            shape = values[p.name].shape
            flat = values[p.name].ravel()
            f0 = None
            ana = g[picks[p.name]].copy()
            num = np.empty(len(ana))
            corners = 0
            for j, k in enumerate(picks[p.name]):
                f = _shifted(loss_at, p.name, flat, shape, k)
                plus, minus = f(eps), f(-eps)
                num[j] = (plus - minus) / (2 * eps)
                if abs(ana[j] - num[j]) <= max(ATOL, 1e-6 * (abs(ana[j]) + abs(num[j]))):
                    continue
                if f0 is None:
                    f0 = loss_at(p.name, flat, shape)
                slopes = _corner(f, f0, plus, minus, eps)
                if slopes is not None:  # no gradient here: any value between the slopes is one
                    corners += 1
                    lo, hi = min(slopes), max(slopes)
                    slack = ATOL + 1e-6 * (abs(lo) + abs(hi))
                    if lo - slack <= ana[j] <= hi + slack:
                        num[j] = ana[j]
                    else:
                        num[j] = lo if abs(ana[j] - lo) < abs(ana[j] - hi) else hi
            diff = np.linalg.norm(ana - num)
            rel = diff / max(np.linalg.norm(ana) + np.linalg.norm(num), 1e-12)
            out.append(
                ParamCheck(
                    p.name,
                    len(ana),
                    float(np.max(np.abs(ana - num))),
                    float(rel),
                    point,
                    corners,
                )
            )
    return out


def _shifted(loss_at, name, flat, shape, k):
    """h -> the loss with entry k of the parameter moved by h."""

    def f(h: float) -> float:
        moved = flat.copy()
        moved[k] += h
        return loss_at(name, moved, shape)

    return f


def _corner(f, f0: float, plus: float, minus: float, eps: float) -> tuple[float, float] | None:
    """The one-sided slopes (left, right) when the loss has a corner at the point, else None:
    for a smooth loss they differ by about eps * f'', which shrinks tenfold with the step; at a
    corner the jump stays."""
    left, right = (f0 - minus) / eps, (plus - f0) / eps
    jump = right - left
    rounding = 4e-16 * (1.0 + abs(f0)) / eps  # the noise of one one-sided slope
    if abs(jump) <= 100 * rounding:
        return None
    small = eps / 10
    left2, right2 = (f0 - f(-small)) / small, (f(small) - f0) / small
    if abs(right2 - left2) < 0.5 * abs(jump):
        return None
    return left2, right2
