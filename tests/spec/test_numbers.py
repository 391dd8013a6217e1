"""Numbers in a spec: integer fields take integers only, number fields finite float32 values,
in the file and through command-line overrides alike."""

import json
import math

import pytest

from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec, schema
from nnc.runtime.cli import main
from nnc.runtime.compiled import apply_overrides

SPEC = """\
nnc: 1
input: {shape: [2]}
layers:
  - {type: dense, units: UNITS, activation: sigmoid}
loss: mse
optimizer: {type: sgd, lr: LR, momentum: MOMENTUM}
train: {epochs: 3, batch_size: 4}
"""


def spec_text(units="4", lr="0.1", momentum="0.9") -> str:
    return SPEC.replace("UNITS", units).replace("LR", lr).replace("MOMENTUM", momentum)


def only_error(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    assert len(info.value.diagnostics) == 1, info.value.diagnostics
    return str(info.value.diagnostics[0])


@pytest.mark.parametrize(
    "units, message",
    [
        ("4.0", "expected an integer, got 4.0, which is read as a float; write 4"),
        ("4.5", "expected an integer, got the number 4.5"),
        ("true", "expected an integer, got the boolean true"),
        ("1e12", "expected an integer, got 1000000000000.0, which is read as a float"),
        ("'4'", "expected an integer, got the string '4'"),
        ("100000000000000000000", "the integer 100000000000000000000 is out of range"),
    ],
)
def test_integer_fields_take_integers_only(units, message):
    error = only_error(spec_text(units=units))
    assert error.startswith(f"spec.yaml:4:26: layers[0].units: {message}"), error


@pytest.mark.parametrize(
    "lr, message",
    [
        (".nan", "expected a finite number, got .nan (not a number)"),
        (".NaN", "expected a finite number, got .nan (not a number)"),
        (".inf", "expected a finite number, got .inf"),
        ("-.inf", "expected a finite number, got -.inf"),
        ("1e400", "the number 1e400 is too large: it overflows to infinity"),
        ("1e39", "1e+39 is too large: the graphs compute in float32"),
        ("!!float .inf", "expected a finite number, got .inf"),
    ],
)
def test_non_finite_numbers_are_refused_where_they_are(lr, message):
    error = only_error(spec_text(lr=lr))
    assert error.startswith("spec.yaml:6:28: optimizer.lr: " + message), error


def test_an_overflowing_literal_is_refused_even_where_a_string_would_do():
    # 1e400 is a float that YAML turns into infinity; the message quotes what was written.
    error = only_error(spec_text() + "description: 1e400\n")
    assert error == (
        "spec.yaml:8:14: description: the number 1e400 is too large: it overflows to infinity; "
        "a spec's numbers must be finite"
    )


def _number_paths(node, path=()):
    """Every place in the schema whose type is "number" (to show the check is not lr's alone)."""
    if isinstance(node, dict):
        if node.get("type") == "number" or (
            isinstance(node.get("type"), list) and "number" in node["type"]
        ):
            yield path
        for k, v in node.items():
            yield from _number_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _number_paths(v, path + (i,))


def test_every_number_field_refuses_non_finite_values():
    """Not only lr: the validator's own "number" is finite, wherever the schema uses it."""
    from nnc.compiler.spec.diagnostics import Validator

    paths = list(_number_paths(schema()))
    assert len(paths) > 30  # the schema has many number fields
    for path in paths:
        node = schema()
        for k in path:
            node = node[k]
        check = Validator(node)
        assert check.is_valid(0.5) or check.is_valid(1.0) or check.is_valid(1e-3), path
        for bad in (math.nan, math.inf, -math.inf, 1e39):
            assert not check.is_valid(bad), (path, bad)


def test_regularization_and_loss_options_refuse_nan_too():
    text = spec_text().replace("loss: mse", "loss: {type: huber, delta: .nan}")
    text += "regularization: {l2: .inf}\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    found = [str(d) for d in info.value.diagnostics]
    assert found == [
        "spec.yaml:5:28: loss.delta: expected a finite number, got .nan (not a number)",
        "spec.yaml:8:22: regularization.l2: expected a finite number, got .inf",
    ]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optimizer.lr": math.nan}, "optimizer.lr: expected a finite number, got .nan"),
        ({"optimizer.lr": math.inf}, "optimizer.lr: expected a finite number, got .inf"),
        ({"train.epochs": 0}, "train.epochs: 0 is less than the minimum of 1"),
    ],
)
def test_overrides_are_validated_and_blamed_on_the_command_line(overrides, message):
    spec = parse_spec(spec_text(), "spec.yaml")
    with pytest.raises(SpecError) as info:
        apply_overrides(spec, overrides)
    (d,) = info.value.diagnostics
    assert (d.line, d.col) == (None, None)  # not the file's line: the file is fine
    assert str(d).startswith(f"spec.yaml: {message}")
    assert str(d).endswith("(given on the command line)")


def test_lr_override_on_a_spec_without_an_optimizer_section():
    text = spec_text().replace("optimizer: {type: sgd, lr: 0.1, momentum: 0.9}\n", "")
    spec = parse_spec(text, "spec.yaml")
    assert apply_overrides(spec, {"optimizer.lr": 0.5}).optimizer["lr"] == 0.5


def test_cli_lr_nan_is_a_spec_error(tmp_path, capsys):
    p = tmp_path / "spec.yaml"
    p.write_text(
        spec_text() + "data:\n  inline: {x: [[0, 0], [1, 1]], y: [[0], [1]]}\n", encoding="utf-8"
    )
    for flag in ("nan", "inf", "-inf"):
        code = main(["train", str(p), f"--lr={flag}", "--runs", str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == 1, err
        assert "optimizer.lr: expected a finite number" in err
        assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made


def test_finite_numbers_still_load():
    spec = parse_spec(spec_text(units="3", lr="1.0e-3", momentum="0"), "spec.yaml")
    assert spec.optimizer["lr"] == 1e-3
    assert spec.layers[0].options["units"] == 3
    assert json.loads(spec.to_json())["optimizer"]["momentum"] == 0
