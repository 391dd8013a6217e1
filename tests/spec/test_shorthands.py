"""Shorthands users write mean their obvious long form; what is still refused shows the expected
form with an example."""

import json

import pytest
import yaml

from nnc.compiler.spec.diagnostics import Validator
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import load_spec, parse_spec, schema, thaw
from nnc.compiler.spec.shorthands import shorthands
from nnc.runtime.cli import main

HEAD = """\
nnc: 1
input: {shape: [4]}
layers:
  - {type: dense, units: 3}
loss: cross_entropy
"""


def document(text: str) -> dict:
    return thaw(parse_spec(HEAD + text, "spec.yaml").document)


@pytest.mark.parametrize(
    "short, long",
    [
        # the list
        ("data: {npz: file.npz}", "data: {npz: {path: file.npz}}"),
        ("data: {csv: file.csv}", "data: {csv: {path: file.csv}}"),
        (
            "data: {builtin: iris, preprocess: {x: standardize}}",
            "data: {builtin: iris, preprocess: {x: {standardize: true}}}",
        ),
        (
            "data: {builtin: iris, preprocess: {y: one_hot}}",
            "data: {builtin: iris, preprocess: {y: {one_hot: true}}}",
        ),
        ("optimizer: adam", "optimizer: {type: adam}"),
        (
            "data: {builtin: iris, preprocess: {x: {minmax: true}}}",
            "data: {builtin: iris, preprocess: {x: {minmax: {}}}}",
        ),
        # and the other obvious ones
        (
            "data: {builtin: iris, preprocess: {x: {minmax: false}}}",
            "data: {builtin: iris, preprocess: {x: {}}}",
        ),
        (
            "data: {builtin: iris, preprocess: {x: minmax}}",
            "data: {builtin: iris, preprocess: {x: {minmax: {}}}}",
        ),
        (
            "data: {csv: a.csv, validation: {csv: v.csv}, test: {npz: t.npz}}",
            "data: {csv: {path: a.csv}, validation: {csv: {path: v.csv}}, "
            "test: {npz: {path: t.npz}}}",
        ),
        ("data: iris", "data: {builtin: iris}"),
        ("data: train.csv", "data: {csv: {path: train.csv}}"),
        ("data: sets/train.NPZ", "data: {npz: {path: sets/train.NPZ}}"),
        ("train: {early_stopping: true}", "train: {early_stopping: {}}"),
        ("train: {early_stopping: false}", "train: {}"),
        ("train: {init_from: runs/base-1}", "train: {init_from: {run: runs/base-1}}"),
    ],
)
def test_a_shorthand_is_its_long_form(short, long):
    assert document(short + "\n") == document(long + "\n")


def test_input_shape_as_a_list():
    text = HEAD.replace("input: {shape: [4]}", "input: [4]")
    assert thaw(parse_spec(text).document)["input"] == {"shape": [4]}


def test_the_rest_of_nnc_sees_the_long_form():
    spec = parse_spec(
        HEAD + "optimizer: adam\ntrain: {early_stopping: true}\n"
        "data: {csv: iris.csv, preprocess: {x: standardize}}\n"
    )
    assert spec.optimizer["type"] == "adam" and spec.optimizer["lr"] == 0.001
    assert spec.train["early_stopping"]["patience"] == 5  # defaults filled
    assert thaw(spec.data) == {
        "csv": {"path": "iris.csv"},
        "preprocess": {"x": {"standardize": True}},
    }


def test_a_saved_spec_round_trips():
    """A run saves thaw(document) as YAML: it loads to the same document and hash."""
    text = HEAD + "optimizer: adam\ndata: {npz: d.npz, preprocess: {x: {minmax: true}}}\n"
    spec = parse_spec(text)
    saved = yaml.safe_dump(thaw(spec.document), sort_keys=False)
    again = parse_spec(saved)
    assert thaw(again.document) == thaw(spec.document)
    assert again.hash == spec.hash


def test_nothing_else_is_rewritten():
    long = HEAD + "optimizer: {type: sgd}\ndata: {inline: {x: [[1, 2, 3, 4]], y: [0]}}\n"
    doc = yaml.safe_load(long)
    assert thaw(parse_spec(long).document) == doc


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "data: {builtin: iris, preprocess: {x: standardise}}",
            "data.preprocess.x: unknown value 'standardise'; did you mean 'standardize'?",
        ),
        (
            "data: {csv: 5}",
            "data.csv: expected a string or a mapping, got the integer 5; for example "
            "csv: data.csv or csv: {path: data.csv, target: label}",
        ),
        (
            "optimizer: adamm",
            "optimizer.type: unknown optimizer type 'adamm'; did you mean 'adam'?",
        ),
        (
            "data: {idx: train.idx}",
            "data.idx: expected a mapping, got the string 'train.idx'; for example idx: "
            "{images: train-images-idx3-ubyte.gz, labels: train-labels-idx1-ubyte.gz}",
        ),
        (
            "data: {builtin: iris, split: 0.2}",
            "data.split: expected a mapping, got the number 0.2; for example "
            "split: {test: 0.2, validation: 0.1}",
        ),
        (
            "train: 5",
            "train: expected a mapping, got the integer 5; for example "
            "train: {epochs: 10, batch_size: 32}",
        ),
        (
            "data: nothing",
            "data: 'nothing' is neither a built-in data set (iris, digits, wine, breast_cancer, "
            "diabetes, sine, sphere_field, and, or, nand, nor, xor, xnor) nor a file ending in "
            ".csv or .npz; for example data: iris",
        ),
        (
            "data: {split: {test: 0.2}}",
            "data: needs one of inline, csv, npz, idx, builtin",
        ),
        (
            "data: {builtin: iris, csv: a.csv}",
            "data: has csv and builtin; give only one of inline, csv, npz, idx, builtin",
        ),
    ],
)
def test_what_is_still_refused_says_what_to_write(text, message):
    with pytest.raises(SpecError) as info:
        parse_spec(HEAD + text + "\n", "spec.yaml")
    found = [str(d).split(": ", 1)[1] for d in info.value.diagnostics]
    assert any(f.startswith(message) for f in found), found


def test_layers_written_as_names_get_the_form_of_a_layer():
    text = HEAD.replace("  - {type: dense, units: 3}", "  - dense")
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    assert str(info.value.diagnostics[0]) == (
        "spec.yaml:4:5: layers[0]: expected a mapping, got the string 'dense'; "
        "for example {type: dense, units: 10}"
    )


def _objects(node, path=()):
    """Every mapping schema in the schema that a value can be checked against directly."""
    if isinstance(node, dict):
        props = node.get("properties", {})
        member = isinstance(props.get("type"), dict) and "const" in props["type"]
        if node.get("type") == "object" and not member and path:
            yield path, node
        for k, v in node.items():
            yield from _objects(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _objects(v, path + (i,))


def test_every_mapping_of_the_schema_has_an_example_that_is_valid_where_it_stands():
    root = schema()
    checker = Validator(root)
    found = list(_objects(root))
    assert len(found) > 20
    for path, node in found:
        assert node.get("examples"), "/".join(map(str, path))
    every = [(p, n) for p, n in _all_nodes(root) if "examples" in n]
    for path, node in every:
        for example in node["examples"]:
            errors = list(checker.evolve(schema=node).iter_errors(example))
            assert not errors, (path, example, errors[0].message)


def _all_nodes(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _all_nodes(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _all_nodes(v, path + (i,))


def test_every_shorthand_is_one_the_schema_lists():
    """The schema (which editors check specs against) takes each shorthand as written."""
    checker = Validator(schema())
    for s in shorthands():
        for short, _ in s.examples:
            key, text = short.split(": ", 1)
            value = {key: yaml.safe_load(text)}
            for parent in reversed(s.path[:-1]):  # wrap it in the mappings it belongs to
                value = {parent: value}
            doc = {"nnc": 1, "input": {"shape": [4]}, "layers": [{"type": "dense", "units": 1}]}
            doc.update(value)
            if isinstance(doc.get("data"), dict) and not set(doc["data"]) & {"csv", "npz"}:
                doc["data"]["builtin"] = "iris"  # a data section names a source
            errors = [e.message for e in checker.iter_errors(doc)]
            assert not errors, (short, json.dumps(doc), errors)


def test_a_shorthand_spec_trains_and_resumes(tmp_path, capsys):
    (tmp_path / "xor.csv").write_text("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    spec = tmp_path / "xor.yaml"
    spec.write_text(
        "nnc: 1\nname: xor\ninput: [2]\nlayers:\n"
        "  - {type: dense, units: 4, activation: tanh}\n  - {type: dense, units: 1}\n"
        "loss: binary_cross_entropy\noptimizer: adam\n"
        "train: {epochs: 2, batch_size: 4, early_stopping: true}\n"
        "data: {csv: xor.csv, preprocess: {x: {minmax: true}}}\n"
    )
    run = tmp_path / "run"
    assert main(["train", str(spec), "--run-dir", str(run)]) == 0, capsys.readouterr().err
    saved = load_spec(run / "spec.yaml")
    assert saved.hash == load_spec(spec).hash
    code = main(["train", "--resume", str(run), "--epochs", "3"])
    assert code == 0, capsys.readouterr().err
