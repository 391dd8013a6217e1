"""A network too big to allocate is refused when it is validated, at the layer that makes it big,
with the option that raises the limit; nothing is allocated first."""

import math

import pytest

from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import load_spec, parse_spec
from nnc.runtime.cli import main
from tests.conftest import SPECS

SPEC = """\
nnc: 1
input: {shape: [2]}
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: UNITS}
loss: mse
optimizer: {type: adam, lr: 0.01}
train: {batch_size: 32TRAIN}
"""


def spec_text(units: int, train: str = "") -> str:
    return SPEC.replace("UNITS", str(units)).replace("TRAIN", train)


def test_estimate_counts_parameters_gradients_state_and_a_batch_of_outputs():
    net = Network(parse_spec(spec_text(3)))
    # Adam: parameter, gradient, m and v per trainable value; outputs and their gradients
    dense0 = 4 * ((2 * 8 + 8) * 4 + 2 * 32 * 8)
    dense1 = 4 * ((8 * 3 + 3) * 4 + 2 * 32 * 3)
    assert net.memory_estimate() == {
        "input": 4 * 2 * 32 * 2,
        "dense_0": dense0,
        "dense_1": dense1,
    }


def test_without_a_loss_only_parameters_and_outputs_count():
    net = Network(parse_spec(spec_text(3).replace("loss: mse\n", "")))
    assert net.memory_estimate()["dense_1"] == 4 * ((8 * 3 + 3) + 32 * 3)


def test_a_trillion_units_are_refused_at_the_layer_before_any_allocation():
    with pytest.raises(SpecError) as info:
        Network(parse_spec(spec_text(10**12), "big.yaml"))
    (d,) = info.value.diagnostics
    assert (d.line, d.col, d.path) == (5, 5, "layers[1]")
    assert "the network needs about 400.0 TB of memory to train" in d.message
    assert "this dense layer (9,000,000,000,000 parameters, output [1000000000000]" in d.message
    assert "train: {max_memory_gb: 400001}" in d.message


def test_the_limit_can_be_raised_in_the_spec():
    text = spec_text(10**12, ", max_memory_gb: 400001")
    net = Network(parse_spec(text))  # shapes only: nothing of that size is allocated
    assert sum(net.memory_estimate().values()) <= 400001e9
    with pytest.raises(SpecError, match="max_memory_gb: 1; .*max_memory_gb: 41}"):
        Network(parse_spec(spec_text(10**8, ", max_memory_gb: 1")))


@pytest.mark.parametrize("command", ["validate", "summary", "compile", "train"])
def test_every_command_refuses_it_in_one_line(command, tmp_path, capsys):
    p = tmp_path / "big.yaml"
    p.write_text(spec_text(10**12) + "data: {inline: {x: [[0, 1]], y: [[1]]}}\n")
    extra = {"compile": ["-o", str(tmp_path / "out")], "train": ["--runs", str(tmp_path / "r")]}
    code = main([command, str(p), *extra.get(command, [])])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines()[0].startswith(f"{p}:5:5: layers[1]: the network needs about")
    assert "Traceback" not in err and "MemoryError" not in err
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("r/*/*.onnx")) and not list(tmp_path.glob("r/*/checkpoints/*"))


def test_the_example_specs_fit_the_default_limit():
    for path in sorted(SPECS.glob("*.yaml")):
        net = Network(load_spec(path))
        need = sum(net.memory_estimate().values())
        assert need < net.spec.train["max_memory_gb"] * 1e9, path
    alexnet = Network(load_spec(SPECS / "alexnet.yaml"))
    assert 2e9 < sum(alexnet.memory_estimate().values()) < 4e9
    assert math.prod(alexnet.shapes["input"]) == 3 * 227 * 227


def test_an_input_too_big_is_blamed_on_the_input_shape():
    text = "nnc: 1\ninput: {shape: [10000, 10000]}\nlayers:\n  - {type: flatten}\n"
    with pytest.raises(SpecError) as info:
        Network(parse_spec(text, "big.yaml"))
    (d,) = info.value.diagnostics
    assert (d.line, d.path) == (2, "input.shape")
    assert "to run (float32 parameters and a batch of 32)" in d.message
    assert "the input alone ([10000, 10000] per sample) takes 12.8 GB" in d.message
