"""Schema errors become one plain message each, at the line and column of what is wrong."""

import copy

import pytest

from nnc.compiler.spec.diagnostics import check_schema, did_you_mean, fill_defaults
from nnc.compiler.spec.loader import load_yaml


def _family(kind_defs: str, names: list[str], **extra) -> dict:
    """A mapping discriminated by `type:`, each type's options in `$defs/<kind_defs>.<type>`."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": names}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": n}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{kind_defs}.{n}"},
            }
            for n in names
        ],
        **extra,
    }


def _member(type_name: str, properties: dict, required=()) -> dict:
    out = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"type": {"const": type_name}, **properties},
    }
    if required:
        out["required"] = list(required)
    return out


LOSSES = ["mse", "mae", "cross_entropy"]

# Shaped like the schema nnc generates from its registries. The layer family has no "x-kind"
# (its noun comes from the $defs name); the optimizer family has one.
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["input", "layers"],
    "properties": {
        "nnc": {"type": "integer", "enum": [1], "description": "spec format version"},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "input": {
            "type": "object",
            "additionalProperties": False,
            "required": ["shape"],
            "properties": {
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "maxItems": 4,
                }
            },
        },
        "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}},
        "loss": {"oneOf": [{"type": "string", "enum": LOSSES}, {"$ref": "#/$defs/loss"}]},
        "optimizer": {"$ref": "#/$defs/optimizer"},
        "kernel": {
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 2,
                    "maxItems": 2,
                },
            ]
        },
        "train": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "epochs": {"type": "integer", "minimum": 1, "default": 10},
                "shuffle": {"type": "boolean", "default": True},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "early_stopping": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "patience": {"type": "integer", "minimum": 0, "default": 5},
                        "mode": {"enum": ["auto", "min", "max"], "default": "auto"},
                    },
                },
            },
        },
    },
    "$defs": {
        "layer": _family("layer", ["dense", "dropout", "relu"]),
        "layer.dense": _member(
            "dense",
            {
                "name": {"type": "string"},
                "units": {"type": "integer", "minimum": 1, "description": "output units"},
                "activation": {"enum": ["linear", "sigmoid", "relu"], "default": "linear"},
                "bias": {"type": "boolean", "default": True},
                "weights": {"type": "array"},
                "trainable": {"type": "boolean", "default": True},
            },
            required=["units"],
        ),
        "layer.dropout": _member(
            "dropout",
            {"rate": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.5}},
        ),
        "layer.relu": _member("relu", {}),
        "loss": _family("loss", LOSSES),
        "loss.mse": _member("mse", {}),
        "loss.mae": _member("mae", {}),
        "loss.cross_entropy": _member(
            "cross_entropy",
            {"label_smoothing": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0}},
        ),
        "optimizer": _family("opt", ["sgd", "adam"], **{"x-kind": "optimizer"}),
        "opt.sgd": _member(
            "sgd",
            {
                "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.01},
                "momentum": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.0},
                "nesterov": {"type": "boolean", "default": False},
            },
        ),
        "opt.adam": _member(
            "adam",
            {
                "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.001},
                "betas": {
                    "type": "array",
                    "items": {"type": "number", "exclusiveMaximum": 1},
                    "minItems": 2,
                    "maxItems": 2,
                    "default": [0.9, 0.999],
                },
            },
        ),
    },
}

GOOD = """\
nnc: 1
input: {shape: [4]}
layers:
  - type: dense
    units: 8
    activation: relu
  - type: dropout
  - type: dense
    units: 1
loss: mse
"""


def check(text: str, schema=SCHEMA) -> list[str]:
    data, source = load_yaml(text, "spec.yaml")
    return [str(d) for d in check_schema(data, schema, source, "spec.yaml")]


def only(text: str, schema=SCHEMA) -> str:
    found = check(text, schema)
    assert len(found) == 1, found
    return found[0]


def test_a_good_spec_has_no_diagnostics():
    assert check(GOOD) == []


# --- bounds -----------------------------------------------------------------------------------


def test_minimum_inside_a_discriminated_layer_keeps_its_path():
    text = "input: {shape: [4]}\nlayers:\n  - type: relu\n  - type: dense\n    units: -3\n"
    assert only(text) == "spec.yaml:5:12: layers[1].units: -3 is less than the minimum of 1"


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "loss: {type: cross_entropy, label_smoothing: 1.5}",
            "1.5 is greater than the maximum of 1",
        ),
        ("optimizer: {type: sgd, lr: 0}", "0 must be greater than 0"),
        ("optimizer: {type: adam, betas: [0.9, 1]}", "1 must be less than 1"),
        ("input: {shape: []}", "has 0 items; at least 1 required"),
        ("input: {shape: [1, 2, 3, 4, 5]}", "has 5 items; at most 4 allowed"),
        ("optimizer: {type: adam, betas: [0.9]}", "has 1 item; at least 2 required"),
        ("name: 'my net'", "'my net' does not match the pattern ^[A-Za-z0-9_.-]+$"),
        ("train: {tags: [a, b, a]}", "items must be unique; 'a' appears twice"),
    ],
)
def test_plain_wording_for_bounds(line, expected):
    base = "layers: [{type: relu}]\n" + (
        "" if line.startswith("input") else "input: {shape: [4]}\n"
    )
    message = only(base + line + "\n")
    assert message.split(": ", 2)[2] == expected, message


# --- unknown keys -----------------------------------------------------------------------------


def test_unknown_key_suggests_the_close_one_at_the_key():
    text = "input: {shape: [4]}\nlayers:\n  - type: dense\n    unitz: 3\n"
    assert check(text) == [
        "spec.yaml:3:5: layers[0]: missing required key 'units'",
        "spec.yaml:4:5: layers[0].unitz: unknown key 'unitz'; did you mean 'units'?",
    ]


def test_unknown_key_without_a_close_match_lists_the_known_keys():
    text = "input: {shape: [4]}\nlayers:\n  - type: dense\n    units: 3\n    foo: 1\n"
    assert only(text) == (
        "spec.yaml:5:5: layers[0].foo: unknown key 'foo'; "
        "known keys: activation, bias, name, trainable, type, units, weights"
    )


def test_unknown_top_level_keys_each_reported():
    text = "input: {shape: [4]}\nlayer: []\nlayers: [{type: relu}]\noptimiser: {type: sgd}\n"
    assert check(text) == [
        "spec.yaml:2:1: layer: unknown key 'layer'; did you mean 'layers'?",
        "spec.yaml:4:1: optimiser: unknown key 'optimiser'; did you mean 'optimizer'?",
    ]


# --- unknown types and enum values ------------------------------------------------------------


def test_unknown_layer_type_names_the_kind_and_lists_the_types():
    text = "input: {shape: [4]}\nlayers:\n  - type: dens\n    units: 3\n"
    assert only(text) == (
        "spec.yaml:3:11: layers[0].type: unknown layer type 'dens'; did you mean 'dense'? "
        "Known layer types: dense, dropout, relu"
    )


def test_unknown_type_with_no_close_match():
    text = "input: {shape: [4]}\nlayers: [{type: conv3d}]\n"
    assert only(text) == (
        "spec.yaml:2:17: layers[0].type: unknown layer type 'conv3d'; "
        "known layer types: dense, dropout, relu"
    )


def test_optimizer_noun_comes_from_x_kind():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\noptimizer:\n  type: adamw\n"
    assert only(text) == (
        "spec.yaml:4:9: optimizer.type: unknown optimizer type 'adamw'; did you mean 'adam'? "
        "Known optimizer types: sgd, adam"
    )


def test_any_enum_gets_a_suggestion_and_the_allowed_values():
    text = "input: {shape: [4]}\nlayers:\n  - {type: dense, units: 2, activation: rleu}\n"
    assert only(text) == (
        "spec.yaml:3:41: layers[0].activation: unknown value 'rleu'; did you mean 'relu'? "
        "Allowed values: linear, sigmoid, relu"
    )


def test_single_value_enum_says_what_it_expects():
    assert only("nnc: 2\ninput: {shape: [4]}\nlayers: [{type: relu}]\n") == (
        "spec.yaml:1:6: nnc: expected 1, got 2"
    )


def test_x_kind_on_an_enum_names_it():
    schema = copy.deepcopy(SCHEMA)
    activation = schema["$defs"]["layer.dense"]["properties"]["activation"]
    activation["x-kind"] = "activation"
    text = "input: {shape: [4]}\nlayers:\n  - {type: dense, units: 2, activation: sigmoyd}\n"
    assert only(text, schema) == (
        "spec.yaml:3:41: layers[0].activation: unknown activation 'sigmoyd'; "
        "did you mean 'sigmoid'? Known activations: linear, sigmoid, relu"
    )


# --- wrong types ------------------------------------------------------------------------------


def test_wrong_type_says_what_was_expected_and_what_came():
    text = "input: {shape: [4]}\nlayers:\n  - type: dropout\n    rate: 1e-3x\n"
    assert only(text) == (
        "spec.yaml:4:11: layers[0].rate: expected a number, got the string '1e-3x'"
    )


def test_exponent_without_a_dot_is_a_number():
    assert check("input: {shape: [4]}\nlayers:\n  - type: dropout\n    rate: 1e-3\n") == []


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "y"])
def test_yaml_11_booleans_get_a_hint(word):
    base = "input: {shape: [4]}\nlayers: [{type: relu}]\n"
    text = f"{base}optimizer:\n  type: sgd\n  nesterov: {word}\n"
    assert only(text) == (
        f"spec.yaml:5:13: optimizer.nesterov: expected true or false, got the string '{word}' "
        "(YAML 'yes'/'no' are strings here; write true or false)"
    )


@pytest.mark.parametrize(
    "value, described",
    [
        ("2.5", "expected an integer, got the number 2.5"),
        ("true", "expected an integer, got the boolean true"),
        ("", "expected an integer, got an empty value (null)"),
        ("[1]", "expected an integer, got a list"),
        ("{a: 1}", "expected an integer, got a mapping"),
    ],
)
def test_describes_what_came(value, described):
    text = f"input: {{shape: [4]}}\nlayers: [{{type: relu}}]\ntrain:\n  epochs: {value}\n"
    assert only(text).endswith(f"train.epochs: {described}")


def test_wrong_type_is_not_also_reported_as_a_bad_value():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\nloss: {type: 3}\n"
    assert only(text) == (
        "spec.yaml:3:14: loss.type: unknown loss type 3; known loss types: mse, mae, cross_entropy"
    )
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["name"]["enum"] = ["a", "b"]
    assert only("input: {shape: [4]}\nlayers: [{type: relu}]\nname: 5\n", schema) == (
        "spec.yaml:3:7: name: expected a string, got the integer 5"
    )


# --- missing keys -----------------------------------------------------------------------------


def test_missing_required_key_points_at_the_parent():
    text = "input: {shape: [4]}\nlayers:\n  - type: relu\n  - type: dense\n    name: out\n"
    assert only(text) == "spec.yaml:4:5: layers[1]: missing required key 'units'"


def test_missing_top_level_keys():
    assert check("name: net\n") == [
        "spec.yaml:1:1: missing required key 'input'",
        "spec.yaml:1:1: missing required key 'layers'",
    ]


def test_missing_type_is_reported_once():
    assert only("input: {shape: [4]}\nlayers:\n  - units: 3\n") == (
        "spec.yaml:3:5: layers[0]: missing required key 'type'"
    )


# --- oneOf / anyOf ----------------------------------------------------------------------------


def test_string_shorthand_gets_the_string_branch_error():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\nloss: mse2\n"
    assert only(text) == (
        "spec.yaml:3:7: loss: unknown loss type 'mse2'; did you mean 'mse'? "
        "Known loss types: mse, mae, cross_entropy"
    )


def test_mapping_form_gets_every_error_of_the_mapping_branch():
    text = (
        "input: {shape: [4]}\nlayers: [{type: relu}]\n"
        "loss:\n  type: cross_entropy\n  label_smoothing: -1\n  smoothing: 0.1\n"
    )
    assert check(text) == [
        "spec.yaml:5:20: loss.label_smoothing: -1 is less than the minimum of 0",
        "spec.yaml:6:3: loss.smoothing: unknown key 'smoothing'; did you mean 'label_smoothing'?",
    ]


def test_mapping_form_with_an_unknown_type():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\nloss: {type: crossentropy}\n"
    assert only(text) == (
        "spec.yaml:3:14: loss.type: unknown loss type 'crossentropy'; did you mean "
        "'cross_entropy'? Known loss types: mse, mae, cross_entropy"
    )


def test_value_fitting_no_branch_lists_the_accepted_forms():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\nloss: 3\n"
    assert only(text) == "spec.yaml:3:7: loss: expected a string or a mapping, got the integer 3"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0", "kernel: 0 is less than the minimum of 1"),
        ("[3]", "kernel: has 1 item; at least 2 required"),
        ("[3, 0]", "kernel[1]: 0 is less than the minimum of 1"),
        ("'3'", "kernel: expected an integer or a list, got the string '3'"),
    ],
)
def test_int_or_pair(value, expected):
    text = f"input: {{shape: [4]}}\nlayers: [{{type: relu}}]\nkernel: {value}\n"
    assert only(text).split(": ", 1)[1] == expected


def test_never_dumps_the_raw_one_of_message():
    text = "input: {shape: [4]}\nlayers: [{type: relu}]\nloss: [mse]\nkernel: {a: 1}\n"
    found = check(text)
    assert len(found) == 2
    assert not any("valid under" in f for f in found)


def test_family_written_as_one_of_with_const_discriminators():
    schema = {
        "type": "object",
        "properties": {
            "opt": {
                "oneOf": [{"$ref": "#/$defs/optimizer.sgd"}, {"$ref": "#/$defs/optimizer.adam"}]
            }
        },
        "$defs": {
            "optimizer.sgd": _member("sgd", {"lr": {"type": "number"}}, required=["type"]),
            "optimizer.adam": _member("adam", {"lr": {"type": "number"}}, required=["type"]),
        },
    }
    assert only("opt: {type: adan, lr: 0.1}\n", schema) == (
        "spec.yaml:1:13: opt.type: unknown optimizer type 'adan'; did you mean 'adam'? "
        "Known optimizer types: sgd, adam"
    )
    assert only("opt: {type: adam, lr: fast}\n", schema) == (
        "spec.yaml:1:23: opt.lr: expected a number, got the string 'fast'"
    )


def test_inline_family_with_kinded_shorthand():
    """The generator's own layout: a named shorthand enum and an inline family, both kinded."""
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["loss"] = {
        "oneOf": [
            {"type": "string", "enum": LOSSES, "x-kind": "loss"},
            _family("loss", LOSSES, **{"x-kind": "loss"}),
        ]
    }
    base = "input: {shape: [4]}\nlayers: [{type: relu}]\n"
    assert only(base + "loss: maw\n", schema) == (
        "spec.yaml:3:7: loss: unknown loss 'maw'; did you mean 'mae'? "
        "Known losses: mse, mae, cross_entropy"
    )
    assert only(base + "loss: {type: maw}\n", schema).startswith(
        "spec.yaml:3:14: loss.type: unknown loss type 'maw'; did you mean 'mae'?"
    )
    # A family that lists only the types with options: point at the shorthand.
    schema["properties"]["loss"]["oneOf"][1] = _family("loss", ["cross_entropy"])
    assert only(base + "loss: {type: mse}\n", schema) == (
        "spec.yaml:3:14: loss.type: loss type 'mse' takes no options; "
        "write it as a plain name (loss: mse)"
    )


# --- many errors ------------------------------------------------------------------------------


def test_every_problem_once_in_file_order():
    text = """\
nnc: 1
name: my net
input:
  shape: [0, 3]
layers:
  - type: dens
  - type: dense
    unitz: 4
    units: -3
  - type: dropout
    rate: 1
loss: mse2
optimizer:
  type: sgd
  nesterov: yes
colour: blue
"""
    assert check(text) == [
        "spec.yaml:2:7: name: 'my net' does not match the pattern ^[A-Za-z0-9_.-]+$",
        "spec.yaml:4:11: input.shape[0]: 0 is less than the minimum of 1",
        "spec.yaml:6:11: layers[0].type: unknown layer type 'dens'; did you mean 'dense'? "
        "Known layer types: dense, dropout, relu",
        "spec.yaml:8:5: layers[1].unitz: unknown key 'unitz'; did you mean 'units'?",
        "spec.yaml:9:12: layers[1].units: -3 is less than the minimum of 1",
        "spec.yaml:11:11: layers[2].rate: 1 must be less than 1",
        "spec.yaml:12:7: loss: unknown loss type 'mse2'; did you mean 'mse'? "
        "Known loss types: mse, mae, cross_entropy",
        "spec.yaml:15:13: optimizer.nesterov: expected true or false, got the string 'yes' "
        "(YAML 'yes'/'no' are strings here; write true or false)",
        "spec.yaml:16:1: colour: unknown key 'colour'; "
        "known keys: input, kernel, layers, loss, name, nnc, optimizer, train",
    ]


def test_the_same_problem_from_two_subschemas_is_reported_once():
    schema = {
        "type": "object",
        "allOf": [
            {"required": ["units"], "additionalProperties": False, "properties": {"a": {}}},
            {"required": ["units"], "additionalProperties": False, "properties": {"a": {}}},
        ],
    }
    assert check("a: 1\nb: 2\n", schema) == [
        "spec.yaml:1:1: missing required key 'units'",
        "spec.yaml:2:1: b: unknown key 'b'; known keys: a",
    ]


def test_aliased_values_point_at_the_alias():
    text = "input: {shape: [4]}\nbad: &bad {type: relu, x: 1}\nlayers:\n  - *bad\n"
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["bad"] = {}
    schema["$defs"]["layer.relu"]["properties"]["x"] = {"type": "string"}
    assert only(text, schema) == "spec.yaml:2:27: layers[0].x: expected a string, got the integer 1"
    assert only("input: {shape: [4]}\nbad: &x 3\nlayers:\n  - *x\n", schema) == (
        "spec.yaml:4:5: layers[0]: expected a mapping, got the integer 3"
    )


# --- did you mean -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word, choices, expected",
    [
        ("dens", ["dense", "dropout"], "dense"),
        ("Dense", ["dense", "dropout"], "dense"),
        ("unitz", ["units", "activation"], "units"),
        ("xyzzy", ["dense", "dropout"], None),
        ("anything", [], None),
        ("lr", ["lr", "momentum"], "lr"),
    ],
)
def test_did_you_mean(word, choices, expected):
    assert did_you_mean(word, choices) == expected


# --- defaults ---------------------------------------------------------------------------------


def test_fill_defaults_follows_the_discriminator():
    data, _ = load_yaml(
        GOOD + "optimizer: {type: adam}\ntrain: {early_stopping: {}}\n", "spec.yaml"
    )
    before = copy.deepcopy(data)
    filled = fill_defaults(data, SCHEMA)
    assert data == before  # a copy, not an edit
    assert filled["layers"] == [
        {"type": "dense", "units": 8, "activation": "relu", "bias": True, "trainable": True},
        {"type": "dropout", "rate": 0.5},
        {"type": "dense", "units": 1, "activation": "linear", "bias": True, "trainable": True},
    ]
    assert filled["optimizer"] == {"type": "adam", "lr": 0.001, "betas": [0.9, 0.999]}
    assert filled["loss"] == "mse"
    assert filled["train"] == {
        "epochs": 10,
        "shuffle": True,
        "early_stopping": {"patience": 5, "mode": "auto"},
    }
    assert (
        filled["optimizer"]["betas"]
        is not SCHEMA["$defs"]["opt.adam"]["properties"]["betas"]["default"]
    )


def test_fill_defaults_in_the_mapping_branch_of_one_of():
    data = {"loss": {"type": "cross_entropy"}, "layers": [{"type": "relu"}]}
    assert fill_defaults(data, SCHEMA)["loss"] == {"type": "cross_entropy", "label_smoothing": 0.0}


def test_fill_defaults_with_a_defaulted_discriminator():
    schema = {
        "type": "object",
        "properties": {"opt": _family("opt", ["sgd", "adam"])},
        "$defs": copy.deepcopy(SCHEMA["$defs"]),
    }
    schema["properties"]["opt"]["properties"]["type"]["default"] = "sgd"
    assert fill_defaults({"opt": {}}, schema) == {
        "opt": {"type": "sgd", "lr": 0.01, "momentum": 0.0, "nesterov": False}
    }
