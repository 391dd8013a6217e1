"""The conformance cases: each spec's inference model and train step, with fixed random data.

The graphs come from the repository's own compiler. The inference model is what an export
writes: preprocessing baked in (made-up constants, the data is not read), raw features in.
Parameters start at the spec's initial values (seed 0), optimizer state at zero; the batches
are random but fixed (seeded), of the spec's shapes, and cycle over the steps. Dropout's
`<layer>.uniform` inputs are drawn once per batch.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from nnc.compiler.graphs import Preprocess, inference_model, training_graphs
from nnc.compiler.layers.recurrent import _Recurrent
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


def has_recurrent_layers(name: str) -> bool:
    """Whether the graphs of a spec depend on the recurrent lowering."""
    net = Network(load_spec(spec_paths()[name]))
    return any(isinstance(node.layer, _Recurrent) for node in net.nodes)


def _preprocess(spec, rng: np.random.Generator) -> Preprocess | None:
    """Preprocessing as an export bakes it in for a spec with data: an affine map per raw
    feature (made-up constants: the data itself is not read), reshaped to the input shape
    where the spec's data has a reshape (raw features are then flat)."""
    data = spec.data or {}
    affine = bool((data.get("preprocess") or {}).get("x"))
    flat = data.get("reshape") is not None
    if not affine and not flat:
        return None
    features = (int(np.prod(spec.input_shape)),) if flat else tuple(spec.input_shape)
    scale = rng.uniform(0.5, 2.0, features).astype(np.float32) if affine else None
    shift = rng.uniform(-1.0, 1.0, features).astype(np.float32) if affine else None
    return Preprocess(scale, shift, features if flat else None)


@functools.cache
def case(name: str, recurrent: str = "native") -> Case:
    """The spec's case; `recurrent` spells its recurrent layers (the same data either way)."""
    if recurrent != "native" and not has_recurrent_layers(name):
        return case(name)
    spec = load_spec(spec_paths()[name])
    net = Network(spec)
    values = net.initial_values(SEED)
    rng = np.random.default_rng(SEED)
    n = min(int(spec.train.get("batch_size") or MAX_BATCH), MAX_BATCH)
    x_shape = (n, *spec.input_shape)
    pre = _preprocess(spec, rng)
    raw_shape = (n, *(pre.feature_shape or spec.input_shape)) if pre else x_shape
    infer_x = rng.standard_normal(raw_shape).astype(np.float32)
    model = inference_model(net, values, preprocess=pre, recurrent=recurrent)
    c = Case(name, model, {"x": infer_x})
    if spec.loss is None or not net.trainable():
        return c
    g = training_graphs(net, recurrent=recurrent)
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
