"""Every gradient rule against float64 central differences, over the case tables of every
`cases_*.py` module in this folder; plus the coverage of the rule table and the error paths."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from autodiff.harness import Case, check_gradient
from nnc.compiler.autodiff import GRAD_RULES, GradientError, gradients
from nnc.compiler.autodiff.core import REGION_RULES
from nnc.compiler.builder import GraphBuilder


def collect_cases() -> dict[str, list[Case]]:
    """Merge the `CASES` tables of all case modules (one module per family of ops)."""
    merged: dict[str, list[Case]] = {}
    for path in sorted(Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for op_type, cases in module.CASES.items():
            merged.setdefault(op_type, []).extend(cases)
    return merged


CASES = collect_cases()
PARAMS = [
    pytest.param(op_type, case, id=f"{op_type}-{case.id}")
    for op_type, cases in sorted(CASES.items())
    for case in cases
]


@pytest.mark.parametrize(("op_type", "case"), PARAMS)
def test_gradient_matches_central_differences(op_type: str, case: Case):
    result = case.check()
    assert op_type in result.forward_ops, f"the case does not build a {op_type} node"


def test_case_ids_are_unique():
    ids = [p.id for p in PARAMS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_rule_has_a_case():
    ruled = set(GRAD_RULES) | set(REGION_RULES)
    missing = sorted(ruled - {op for op, cases in CASES.items() if cases})
    assert not missing, f"gradient rules without a finite-difference case: {missing}"


def test_every_case_names_a_rule():
    unknown = sorted(set(CASES) - set(GRAD_RULES) - set(REGION_RULES))
    assert not unknown, f"cases for op types that have no gradient rule: {unknown}"


# -- error paths and pruning ------------------------------------------------------------------
def _builder(**shapes: list[int]) -> GraphBuilder:
    b = GraphBuilder("g", np.float64)
    for name, shape in shapes.items():
        b.add_input(name, shape)
    return b


def _sum(b: GraphBuilder, x: str) -> str:
    return b.op("ReduceSum", [x], keepdims=0)


@pytest.mark.parametrize(
    ("op_types", "missing"),
    [(["Floor"], "Floor"), (["Greater", "Cast"], "Greater"), (["Tanh", "Round"], "Round")],
)
def test_op_without_rule_on_the_path_is_named(op_types: list[str], missing: str):
    b = _builder(x=[3, 4])
    h = "x"
    for op_type in op_types:
        if op_type == "Greater":
            h = b.op("Greater", [h, b.scalar(0.0)])
        elif op_type == "Cast":
            h = b.op("Cast", [h], to=11)  # DOUBLE
        else:
            h = b.op(op_type, [h])
    with pytest.raises(GradientError, match=f"'{missing}'"):
        gradients(b, _sum(b, h), ["x"])


def test_op_without_rule_off_the_path_is_fine():
    # Floor only feeds a branch that does not depend on w
    b = _builder(x=[3, 4], w=[3, 4])
    out = b.op("Mul", [b.op("Floor", ["x"]), "w"])
    grads = gradients(b, _sum(b, out), ["w"])
    assert set(grads) == {"w"}


def test_loss_independent_of_a_parameter_is_an_error():
    b = _builder(x=[3, 4], w=[3, 4])
    with pytest.raises(GradientError, match="'w'"):
        gradients(b, _sum(b, b.op("Tanh", ["x"])), ["x", "w"])


def test_inputs_off_the_path_get_no_gradient_work():
    """out = Tanh(x) * w with x constant: dw = dout * Tanh(x) reads neither w nor any Tanh rule."""
    b = _builder(x=[3, 4], w=[3, 4])
    tanh = b.op("Tanh", ["x"])
    grads = gradients(b, _sum(b, b.op("Mul", [tanh, "w"])), ["w"])
    backward = [n for n in b.nodes if n.name.startswith("grad/")]
    assert backward and set(grads) == {"w"}
    assert not [n.name for n in backward if n.name.startswith(f"grad/{tanh}/")]
    assert not [n.name for n in backward if "w" in n.input or "x" in n.input]


def test_integer_labels_get_no_gradient():
    """Only the loss's own rule reads the labels (for its one-hot and its mean)."""
    b = _builder(z=[4, 5])
    b.add_input("labels", [4], dtype=np.int64)
    loss = b.op("SoftmaxCrossEntropyLoss", ["z", "labels"], reduction="mean")
    grads = gradients(b, loss, ["z"])
    assert set(grads) == {"z"}
    readers = [n.name for n in b.nodes if n.name.startswith("grad/") and "labels" in n.input]
    assert readers and all(r.startswith(f"grad/{loss}/") for r in readers), readers


def test_harness_catches_a_wrong_gradient():
    """Guard against a harness that always passes: a deliberately wrong rule must fail."""
    from nnc.compiler.autodiff.core import Rule

    good = GRAD_RULES["Sin"]
    wrong = Rule(lambda g, node, dys: [dys[0]], good.saves, good.nondiff)
    with GRAD_RULES.overridden("Sin", wrong), pytest.raises(AssertionError, match="d loss / d x"):
        check_gradient(lambda b, n: b.op("Sin", [n["x"]]), {"x": np.linspace(-1.0, 1.0, 6)}, ["x"])


@pytest.mark.parametrize("op_type", ["SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"])
def test_loss_rules_refuse_ignore_index(op_type: str):
    """The rules have no masking: a loss with ignore_index must fail loudly, not mis-train."""
    b = _builder(z=[4, 5])
    b.add_input("labels", [4], dtype=np.int64)
    loss = b.op(op_type, ["z", "labels"], reduction="mean", ignore_index=1)
    with pytest.raises(GradientError, match="ignore_index"):
        gradients(b, loss, ["z"])


def test_where_with_a_condition_computed_from_the_parameter():
    # the condition is computed from x but carries no gradient: Greater needs no rule here
    def leaky(b, n):
        x = n["x"]
        slope = b.op("Mul", [x, b.scalar(0.1)])
        return b.op("Where", [b.op("Greater", [x, b.scalar(0.0)]), x, slope])

    check_gradient(leaky, {"x": np.array([[-1.0, -0.5, 0.3], [0.7, -0.2, 1.2]])}, ["x"])
