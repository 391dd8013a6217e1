"""Shared fixtures of the interpreter tests: ONNX's node test cases, collected once and cached.

`onnx.backend.test.case.node.collect_testcases` rebuilds every case (running onnx.reference
on some) and takes about ten seconds, so the cases are pickled into pytest's cache directory,
keyed by the onnx version; a run with `-p no:cacheprovider` or `--cache-clear` rebuilds them.
"""

from __future__ import annotations

import functools
import pickle
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from nnc.runtime.interpreter import Interpreter

_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class NodeCase:
    """One ONNX node test case: a model and (inputs, expected outputs) data sets."""

    name: str
    model_bytes: bytes
    data_sets: list[tuple[list[np.ndarray], list[np.ndarray]]]
    rtol: float
    atol: float

    @property
    def model(self) -> onnx.ModelProto:
        return onnx.load_from_string(self.model_bytes)

    @functools.cached_property
    def op_types(self) -> set[str]:
        """The op types of the graph, `domain::op` for ops outside the default domain."""
        return {
            n.op_type if n.domain in _DEFAULT_DOMAINS else f"{n.domain}::{n.op_type}"
            for n in self.model.graph.node
        }


def _as_array(value):
    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else value


def _collect() -> list[tuple]:
    """Every node case as plain tuples (picklable without this module)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    return [
        (
            case.name,
            case.model.SerializeToString(),
            [
                ([_as_array(v) for v in inputs], [_as_array(v) for v in outputs])
                for inputs, outputs in case.data_sets
            ],
            case.rtol,
            case.atol,
        )
        for case in cases
        if case.kind == "node"
    ]


def all_node_cases(config: pytest.Config) -> list[NodeCase]:
    """Every ONNX node case, from the pytest cache when it holds them for this onnx version."""
    cached = getattr(config, "_nnc_onnx_node_cases", None)
    if cached is not None:
        return cached
    cache = getattr(config, "cache", None)
    path = None
    if cache is not None:
        path = cache.mkdir("nnc-onnx-node-cases") / f"v1-onnx-{onnx.__version__}.pickle"
        if path.exists():
            try:
                with path.open("rb") as handle:
                    cached = pickle.load(handle)
            except Exception:
                cached = None
    if cached is None:
        cached = _collect()
        if path is not None:
            with path.open("wb") as handle:
                pickle.dump(cached, handle, protocol=pickle.HIGHEST_PROTOCOL)
    cases = [NodeCase(*fields) for fields in cached]
    config._nnc_onnx_node_cases = cases
    return cases


def supported_node_cases(config: pytest.Config) -> list[NodeCase]:
    """The node cases whose ops all have a kernel (the rest test ops we do not claim)."""
    supported = set(Interpreter.supported_ops())
    return [case for case in all_node_cases(config) if case.op_types <= supported]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "onnx_node_case" in metafunc.fixturenames:
        cases = supported_node_cases(metafunc.config)
        metafunc.parametrize("onnx_node_case", cases, ids=[case.name for case in cases])


@pytest.fixture(scope="session")
def onnx_node_cases(request: pytest.FixtureRequest) -> list[NodeCase]:
    """The node cases whose ops all have a kernel."""
    return supported_node_cases(request.config)
