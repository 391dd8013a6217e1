"""Helpers shared by the CNN tests: small specs from text, and random feeds for any graph."""

from __future__ import annotations

import numpy as np
import onnx

from nnc.compiler.graphs import TrainingGraphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import parse_spec

HEAD = "nnc: 1\nname: t\n"


def net_of(body: str) -> Network:
    """A Network from the spec text after the `nnc:`/`name:` lines."""
    return Network(parse_spec(HEAD + body))


def random_feeds(
    net: Network,
    model: onnx.ModelProto,
    graphs: TrainingGraphs | None = None,
    n: int = 4,
    seed: int = 0,
    dtype=np.float32,
) -> dict[str, np.ndarray]:
    """Values for every input of `model`: random data and labels, the initial parameters moved
    off their exact values, running variances of either side of 1, small optimizer state."""
    rng = np.random.default_rng(seed)
    t = net.target() if net.spec.loss is not None else None
    values = net.initial_values(0, dtype)
    feeds: dict[str, np.ndarray] = {
        "x": rng.normal(size=(n, *net.spec.input_shape)).astype(dtype),
        "step": np.array(3, np.int64),
        "lr": np.array(0.01, dtype),
    }
    if t is not None:
        feeds["y"] = rng.integers(0, t.num_classes, n).astype(np.int64)
    for p in net.params:
        v = values[p.name]
        if p.role == "running_var":
            v = rng.uniform(0.5, 2.0, p.shape)
        elif p.role == "running_mean":
            v = rng.normal(0.0, 0.5, p.shape)
        else:
            v = v + rng.normal(0.0, 0.05, p.shape)
        feeds[p.name] = np.asarray(v, dtype)
    if graphs is not None:
        for s, shape in graphs.state_shapes.items():
            # non-negative: Adam's second moment goes under a square root
            feeds[s] = np.abs(rng.normal(0.0, 0.01, shape)).astype(dtype)
        for name, shape in graphs.random_inputs.items():
            feeds[name] = rng.random((n, *shape)).astype(dtype)
        for p in net.trainable():  # gradients, for the update graph
            feeds[f"grad.{p.name}"] = rng.normal(0.0, 0.1, p.shape).astype(dtype)
    wanted = {i.name for i in model.graph.input}
    return {k: v for k, v in feeds.items() if k in wanted}
