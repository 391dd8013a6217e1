"""Every bad input gets one clear message at file:line:col and the documented exit code."""

import pytest

from nnc.runtime.cli import main

GOOD_HEAD = "nnc: 1\nname: t\ninput: {shape: [2]}\nlayers:\n"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_valid_spec(capsys, spec_file):
    p = spec_file(GOOD_HEAD + "  - {type: dense, units: 1, activation: sigmoid}\n")
    code, out, _ = run(capsys, "validate", p)
    assert code == 0 and "ok" in out


def test_all_schema_errors_reported_with_positions(capsys, spec_file):
    p = spec_file(
        GOOD_HEAD
        + "  - {type: dense, units: 4}\n"
        + "  - {type: dense, units: -3}\n"
        + "  - {type: dens, units: 2}\n"
        + "  - {type: dense, unitz: 2}\n"
        + "  - {type: dense, units: 2, trainable: yes}\n"
    )
    code, _, err = run(capsys, "validate", p)
    assert code == 1
    lines = err.strip().splitlines()
    assert f"{p}:6:26: layers[1].units: -3 is less than the minimum of 1" in lines
    assert any(
        line.startswith(
            f"{p}:7:12: layers[2].type: unknown layer type 'dens'; did you mean 'dense'?"
        )
        and "Known layer types: " in line
        and "dropout" in line
        for line in lines
    )
    assert f"{p}:8:19: layers[3].unitz: unknown key 'unitz'; did you mean 'units'?" in lines
    assert any(
        "layers[4].trainable: expected true or false, got the string 'yes'" in x for x in lines
    )
    assert lines[-1] == "5 errors"


def test_duplicate_keys_name_both_lines(capsys, spec_file):
    p = spec_file(
        "input: {shape: [2]}\ninput: {shape: [3]}\nlayers:\n  - {type: dense, units: 4}\n"
    )
    code, _, err = run(capsys, "validate", p)
    assert code == 1
    assert f"{p}:2:1: input: duplicate key 'input' (first defined at line 1)" in err


def test_yaml_1_1_numbers_and_strings(capsys, spec_file):
    p = spec_file(
        GOOD_HEAD
        + "  - {type: dense, units: 1, activation: sigmoid}\n"
        + "loss: mse\noptimizer: {type: adam, lr: 1e-3}\n"
    )
    assert run(capsys, "validate", p)[0] == 0
    from nnc.compiler.spec.model import load_spec

    assert load_spec(p).optimizer["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "layers, where, message",
    [
        (
            "  - {type: dense, units: 4, weights: [[1, 2, 3]]}\n",
            "5:38: layers[0].weights",
            "weights has shape [1, 3] but this layer needs [2, 4]",
        ),
        (
            "  - {type: dense, units: 1}\n  - {type: softmax}\n",
            "6:12: layers[1].type",
            "softmax over a single value is constant",
        ),
        (
            "  - {type: dense, units: 4}\n  - {type: reshape, shape: [3]}\n",
            "6:28: layers[1].shape",
            "cannot reshape [4] (4 values) to [3]",
        ),
        (
            "  - {type: dense, units: 4, name: a}\n  - {type: dense, units: 4, name: a}\n",
            "6:35: layers[1].name",
            "layer name 'a' is already used by layers[0]",
        ),
        (
            "  - {type: dense, units: 4, inputs: [nope]}\n",
            "5:37: layers[0].inputs",
            "input 'nope' names no layer",
        ),
    ],
)
def test_cross_field_and_shape_errors_point_at_the_layer(capsys, spec_file, layers, where, message):
    p = spec_file(GOOD_HEAD + layers)
    code, _, err = run(capsys, "validate", p)
    assert code == 1
    assert f"{p}:{where}: {message}" in err


def test_several_shape_errors_in_one_run(capsys, spec_file):
    p = spec_file(
        GOOD_HEAD
        + "  - {type: dense, units: 4, weights: [[1, 2, 3]]}\n"
        + "  - {type: dense, units: 1}\n  - {type: softmax}\n"
    )
    code, _, err = run(capsys, "validate", p)
    assert code == 1 and "2 errors" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"# only a comment\n", "file is empty"),
        (b"name: \xff\xfe\n", "file is not valid UTF-8: byte 0xff at offset 6 (line 1)"),
        (b"- just\n- a list\n", "mapping"),
        (b"layers: [\n", ":2:1: invalid YAML"),
        (b"x: !!python/object:os.system {}\n", "python/object"),
    ],
)
def test_unusable_files_get_one_clear_error(capsys, spec_file, content, message):
    p = spec_file(content)
    code, _, err = run(capsys, "validate", p)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_oversized_file(capsys, spec_file):
    from nnc.compiler.spec.loader import MAX_SPEC_BYTES

    p = spec_file(b"#" * (MAX_SPEC_BYTES + 10) + b"\n")
    code, _, err = run(capsys, "validate", p)
    assert code == 1 and "too large" in err.lower() or "larger" in err.lower()


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "validate", tmp_path / "nope.yaml")
    assert code == 1 and "not found" in err


def test_newer_format_version(capsys, spec_file):
    p = spec_file("nnc: 7\n" + GOOD_HEAD[7:] + "  - {type: dense, units: 1}\n")
    code, _, err = run(capsys, "validate", p)
    assert code == 1 and "format version 7 is newer" in err


@pytest.mark.parametrize("argv", [["frobnicate"], [], ["validate"], ["train", "--epochs", "x"]])
def test_usage_errors_exit_2(capsys, argv):
    assert main(argv) == 2


@pytest.mark.parametrize("command", ["validate", "summary", "compile", "train"])
def test_a_trainable_step_that_mse_cannot_read_through_is_refused_by_every_command(
    capsys, spec_file, command
):
    """nnc validate refuses what nnc train would, for the same reason, at the layer's option
    (not as a gradient error once training starts)."""
    p = spec_file(
        GOOD_HEAD
        + "  - {type: dense, units: 1, activation: step}\nloss: mse\n"
        + "data: {builtin: and}\n"
    )
    extra = {"compile": ["-o", p.parent / "out"], "train": ["--run-dir", p.parent / "run"]}
    code, _, err = run(capsys, command, p, *extra.get(command, []))
    assert code == 1
    assert f"{p}:5:41: layers[0].activation: step is not differentiable" in err
    assert "(hinge on one output, perceptron, squared_hinge on one output), not mse" in err
    assert "Traceback" not in err


def test_every_failure_class_has_its_exit_code(capsys):
    from nnc.compiler.autodiff import GradientError
    from nnc.compiler.spec.errors import Diagnostic, SpecError
    from nnc.runtime.checkpoint import CheckpointError
    from nnc.runtime.cli import exit_code
    from nnc.runtime.data import DataError
    from nnc.runtime.engines import EngineError
    from nnc.runtime.errors import RunError, RunInUse, UsageError
    from nnc.runtime.interpreter.errors import UnsupportedOpError

    cases = [
        (KeyboardInterrupt(), 130, "interrupted"),
        (SpecError([Diagnostic("s.yaml", 1, 2, "a", "bad")]), 1, "s.yaml:1:2: a: bad"),
        (UsageError("give a SPEC"), 2, "give a SPEC"),
        (RunInUse("r is in use"), 1, "error: r is in use"),
        (RunError("x"), 1, "error: x"),
        (DataError("x"), 1, "error: x"),
        (CheckpointError("x"), 1, "error: x"),
        (EngineError("x"), 1, "error: x"),
        (GradientError("x"), 1, "error: x"),
        (UnsupportedOpError("x", ["Foo"], ["n"]), 1, "error: x"),
        (FileNotFoundError("x"), 1, "error: x"),
    ]
    for e, code, first in cases:
        assert exit_code(e) == code, e
        assert capsys.readouterr().err.splitlines()[0] == first
    assert exit_code(RuntimeError("a bug")) is None
