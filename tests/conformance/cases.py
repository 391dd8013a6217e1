"""The conformance cases: each spec's inference model and train step, with fixed random data.

The graphs come from the repository's own compiler. Parameters start at the spec's initial
values (seed 0), optimizer state at zero; the batches are random but fixed (seeded), of the
spec's shapes, and cycle over the steps. Dropout's `<layer>.uniform` inputs are drawn once per
batch.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import load_spec

ROOT = Path(__file__).resolve().parents[2]
STEPS = int(os.environ.get("NNC_CONFORMANCE_STEPS", 20))
N_BATCHES = 3
MAX_BATCH = int(os.environ.get("NNC_CONFORMANCE_BATCH", 16))  # a cap on the spec's batch size
SEED = 0
# AlexNet (61M parameters, 227x227 inputs) takes minutes per step on the Python runtimes: only
# on request, e.g. NNC_CONFORMANCE_SPECS=alexnet
HEAVY = {"alexnet"}


def spec_paths() -> dict[str, Path]:
    paths = sorted([*(ROOT / "specs").glob("*.yaml"), *(ROOT / "examples").glob("*.yaml")])
    found = {p.stem: p for p in paths}
    wanted = os.environ.get("NNC_CONFORMANCE_SPECS")
    if wanted:
        return {k: found[k] for k in wanted.split(",")}
    return {k: v for k, v in found.items() if k not in HEAVY}


@dataclass
class Case:
    name: str
    inference: onnx.ModelProto
    infer_feeds: dict[str, np.ndarray]
    train_step: onnx.ModelProto | None = None
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    batches: list[dict[str, np.ndarray]] = field(default_factory=list)
    steps: int = STEPS

    @property
    def trainable(self) -> bool:
        return self.train_step is not None


def _targets(net: Network, rng: np.random.Generator, n: int) -> np.ndarray:
    target = net.target()
    if target.kind == "class_index":
        return rng.integers(0, target.num_classes, n).astype(np.int64)
    shape = (n, *net.output_shape)
    if target.kind in ("binary", "multilabel"):
        return (rng.random(shape) < 0.5).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@functools.cache
def case(name: str) -> Case:
    spec = load_spec(spec_paths()[name])
    net = Network(spec)
    values = net.initial_values(SEED)
    rng = np.random.default_rng(SEED)
    n = min(int(spec.train.get("batch_size") or MAX_BATCH), MAX_BATCH)
    x_shape = (n, *spec.input_shape)
    infer_x = rng.standard_normal(x_shape).astype(np.float32)
    c = Case(name, inference_model(net, values), {"x": infer_x})
    if spec.loss is None or not net.trainable():
        return c
    g = training_graphs(net)
    c.train_step = g.train_step
    c.initial = {
        **values,
        **g.initial_state(),
        "lr": np.array(spec.optimizer["lr"], np.float32),
    }
    for _ in range(N_BATCHES):
        batch = {
            "x": rng.standard_normal(x_shape).astype(np.float32),
            "y": _targets(net, rng, n),
        }
        for rname, shape in g.random_inputs.items():
            batch[rname] = rng.random((n, *shape), dtype=np.float32)
        c.batches.append(batch)
    return c
