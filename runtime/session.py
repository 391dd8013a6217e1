"""Compiling a spec for a run: the network, its data, its graphs and its initial values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnc.compiler.graphs import Preprocess, TrainingGraphs, inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import Spec
from nnc.runtime.data import Dataset, TargetSpec, load_data


class RunError(Exception):
    """A run that cannot go on; the message says why and what to do."""


def target_spec(net: Network) -> TargetSpec:
    t = net.target()
    return TargetSpec(t.kind, t.num_classes, t.output_shape)


def load_dataset(spec: Spec, net: Network) -> Dataset:
    if spec.data is None:
        raise RunError(f"{spec.filename}: the spec has no data: section to train on")
    from nnc.compiler.spec.model import thaw

    return load_data(
        thaw(spec.data),
        input_shape=spec.input_shape,
        target=target_spec(net),
        base_dir=Path(spec.base_dir),
    )


@dataclass
class Compiled:
    net: Network
    graphs: TrainingGraphs
    steps_per_epoch: int
    batch_size: int


def compile_training(spec: Spec, net: Network, n_train: int, dtype=np.float32) -> Compiled:
    batch = min(int(spec.train["batch_size"]), n_train)
    steps = math.ceil(n_train / batch)
    return Compiled(net, training_graphs(net, dtype, steps), steps, batch)


def export_model(
    net: Network, values: dict[str, np.ndarray], data: Dataset | None, opset: int | None = None
):
    pre = None
    names = None
    if data is not None:
        if data.preprocess is not None:
            pre = Preprocess(data.preprocess.scale, data.preprocess.shift)
        names = data.class_names
    model = inference_model(net, values, np.float32, pre, names)
    if opset is not None and opset != model.opset_import[0].version:
        from onnx import version_converter

        model = version_converter.convert_version(model, opset)
    return model
