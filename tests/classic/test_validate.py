"""What nnc train would refuse, refused when the spec is checked (nnc validate), at the layer
option or field at fault: a non-differentiable threshold a loss cannot read through, and an
input shape that does not fit a built-in (or inline) data set's features."""

from __future__ import annotations

import re

import pytest

from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.cli import main
from nnc.runtime.data.sources.builtin import FEATURE_SHAPES


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


@pytest.mark.parametrize(
    ("data", "shape", "message"),
    [
        (
            "{builtin: wine}",
            "[12]",
            r"input\.shape: builtin wine has 13 features per sample \(shape \[13\]\) but "
            r"input\.shape \[12\] takes 12; set input\.shape to \[13\]",
        ),
        (
            "{builtin: sine}",
            "[19, 1]",
            r"builtin sine has 20 features .* set input\.shape to \[20, 1\] or another shape "
            "of 20 values",
        ),
        ("{inline: {x: [[1, 2, 3]], y: [1]}}", "[2]", "the inline data has 3 features"),
    ],
)
def test_input_shape_against_features_known_without_loading(data, shape, message):
    text = f"input: {{shape: {shape}}}\nlayers:\n  - {{type: dense, units: 1}}\ndata: {data}\n"
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize("shape", ["[13]", "[13, 1]"])
def test_any_input_shape_with_as_many_values_passes(shape):
    parse_spec(
        f"input: {{shape: {shape}}}\nlayers:\n  - {{type: flatten}}\ndata: {{builtin: wine}}\n"
    )


def test_nnc_validate_names_the_input_shape(capsys, spec_file):
    p = spec_file(
        "nnc: 1\nname: t\ninput: {shape: [4]}\nlayers:\n  - {type: dense, units: 3}\n"
        "loss: cross_entropy\ndata: {builtin: wine}\n"
    )
    assert main(["validate", str(p)]) == 1
    err = capsys.readouterr().err
    assert f"{p}:3:16: input.shape: builtin wine has 13 features per sample" in err


def test_every_builtin_has_a_known_feature_shape():
    from nnc.runtime.data.sources.builtin import BUILTIN_NAMES

    assert set(FEATURE_SHAPES) == set(BUILTIN_NAMES)
