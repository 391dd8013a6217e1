"""Every spec in specs/ validates, compiles to checker-clean standard-op ONNX, and runs the same
on onnxruntime and on the NumPy interpreter."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.opset import IR_VERSION, OPSET
from nnc.compiler.spec.model import load_spec
from nnc.runtime.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"

ALL_SPECS = sorted(p.name for p in SPECS.glob("*.yaml")) + sorted(
    f"../examples/{p.name}" for p in (ROOT / "examples").glob("*.yaml")
)
ISSUE_SPECS = sorted((ROOT / "tests" / "fixtures" / "issue2").glob("*.yaml"))
TRUTH = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def _net(name):
    return Network(load_spec(SPECS / name))


def _standard_only(model: onnx.ModelProto):
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert model.ir_version == IR_VERSION


@pytest.mark.parametrize("name", ALL_SPECS)
def test_inference_graph_agrees_across_engines(name):
    net = _net(name)
    if np.prod(net.spec.input_shape) > 100_000:
        pytest.skip("large input: covered by the CNN tests")
    model = inference_model(net, net.initial_values(0))
    onnx.checker.check_model(model, full_check=True)
    _standard_only(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["nnc_version"] and '"layers"' in meta["spec"]
    x = np.random.default_rng(1).normal(size=(5, *net.spec.input_shape)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expect = sess.run(None, {"x": x})
    got = Interpreter(model).run(None, {"x": x})
    for e, g in zip(expect, got):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL_SPECS)
def test_training_graphs_are_standard_onnx(name):
    net = _net(name)
    if net.spec.loss is None or np.prod(net.spec.input_shape) > 100_000:
        pytest.skip("no loss, or large (covered elsewhere)")
    for kind, model in training_graphs(net).models().items():
        onnx.checker.check_model(model, full_check=True)
        _standard_only(model)
        if kind != "update":  # the update graph has no batch: parameters and gradients only
            assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N", kind


@pytest.mark.parametrize("path", ISSUE_SPECS, ids=lambda p: p.name)
def test_issue_specs_validate_and_compile_as_written(path):
    net = Network(load_spec(path))
    onnx.checker.check_model(inference_model(net, net.initial_values(0)), full_check=True)


def test_digits_mlp_has_4810_parameters():
    net = _net("digits-mlp.yaml")
    assert sum(int(np.prod(p.shape)) for p in net.params) == 4810
    assert "Total parameters:     4,810" in net.summary()


@pytest.mark.parametrize(
    "name, truth",
    [("and-gate.yaml", [0, 0, 0, 1]), ("xnor.yaml", [1, 0, 0, 1])],
)
@pytest.mark.parametrize("engine", ["ort", "numpy"])
def test_hand_set_networks_predict_their_truth_table(name, truth, engine):
    net = _net(name)
    model = inference_model(net, net.initial_values(0))
    if engine == "ort":
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        y = sess.run(["y"], {"x": TRUTH})[0]
    else:
        y = Interpreter(model).run(["y"], {"x": TRUTH})[0]
    assert (y.ravel() > 0.5).astype(int).tolist() == truth
    # threshold units saturate: far from 0.5 on every row
    assert np.all(np.abs(y - 0.5) > 0.49)


def test_float64_compilation():
    net = _net("digits-mlp.yaml")
    model = inference_model(net, net.initial_values(0, np.float64), np.float64)
    x = np.random.default_rng(0).random((3, 64))
    y = Interpreter(model).run(["y"], {"x": x})[0]
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
