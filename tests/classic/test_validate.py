"""What nnc train would refuse, refused when the spec is checked (nnc validate), at the layer
option at fault: a non-differentiable threshold a loss cannot read through."""

from __future__ import annotations

import re

import pytest

from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec


def _check(text: str) -> Network:
    return Network(parse_spec(text))


HEAD = "input: {shape: [2]}\nlayers:\n"


@pytest.mark.parametrize(
    ("layers", "loss", "where", "why"),
    [
        (
            "  - {type: dense, units: 3, activation: step}\n  - {type: dense, units: 1}\n",
            "mse",
            r"layers\[0\]\.activation: step",
            "no loss reads through it inside the network",
        ),
        (
            "  - {type: dense, units: 3}\n  - {type: sign}\n  - {type: dense, units: 1}\n",
            "perceptron",
            r"layers\[1\]\.type: sign",
            "no loss reads through it inside the network",
        ),
        (
            "  - {type: highway, activation: step}\n  - {type: dense, units: 1}\n",
            "mse",
            r"layers\[0\]\.activation: step",
            "no loss reads through it",
        ),
        (  # hinge reads a step on one output only; on two it is the multiclass SVM
            "  - {type: dense, units: 2, activation: step}\n",
            "hinge",
            r"layers\[0\]\.activation: step",
            r"\(hinge on one output, perceptron, squared_hinge on one output\), not hinge",
        ),
        (
            "  - {type: dense, units: 1, activation: sign}\n",
            "binary_cross_entropy",
            r"layers\[0\]\.activation: sign",
            "not binary_cross_entropy",
        ),
    ],
)
def test_a_threshold_no_loss_reads_through_is_refused_at_its_option(layers, loss, where, why):
    with pytest.raises(SpecError, match=f"{where} is not differentiable") as e:
        _check(HEAD + layers + f"loss: {loss}\n")
    assert len(e.value.diagnostics) == 1
    assert re.search(why, str(e.value))


@pytest.mark.parametrize(
    "text",
    [
        # read through by the loss: the perceptron and one-output hinges
        HEAD + "  - {type: dense, units: 1, activation: step}\nloss: perceptron\n",
        HEAD + "  - {type: dense, units: 3, activation: sign}\nloss: perceptron\n",
        HEAD + "  - {type: dense, units: 1}\n  - {type: sign}\nloss: hinge\n",
        HEAD + "  - {type: dense, units: 1, activation: step}\nloss: squared_hinge\n",
        # nothing trainable before it: a hand-set threshold layer, then a trained one
        HEAD + "  - {type: dense, units: 2, activation: step, weights: [[1, -1], [1, -1]], "
        "bias: [-1.5, 0.5], trainable: false}\n  - {type: dense, units: 1}\nloss: mse\n",
        # no loss: an inference-only threshold network
        HEAD + "  - {type: dense, units: 1, activation: step}\n",
        # a branch that does not reach the output
        HEAD + "  - {type: dense, units: 2, activation: step, name: dead}\n"
        "  - {type: dense, units: 1, inputs: [input]}\nloss: mse\n",
    ],
)
def test_thresholds_that_train_or_need_no_gradient_pass(text):
    _check(text)
