"""The spec's JSON Schema, generated from the registries (the single source of truth).

A copy is checked in as specs/schema.json; a test asserts that regenerating it changes nothing.
"""

from __future__ import annotations

import json

from nnc.compiler import options as o
from nnc.compiler.activations import activation_defs
from nnc.compiler.init import init_defs
from nnc.compiler.layers import LAYERS, all_options
from nnc.compiler.losses import loss_defs, loss_schema
from nnc.compiler.optim import OPTIMIZERS, optimizer_defs
from nnc.compiler.schedules import schedule_defs
from nnc.compiler.spec.data_schema import data_schema, data_shorthand_schema

FORMAT_VERSION = 1
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
MAX_NAME_CHARS = 100  # with "-<k>", far below the 255 bytes a file system allows in a file name

REGULARIZATION = {
    "l2": o.number(
        "L2 penalty lambda/2 * sum(w^2) over the trainable weights (frozen layers' weights, "
        "biases and batch-norm scales and offsets are not penalised)",
        0.0,
        minimum=0,
    ),
    "l1": o.number(
        "L1 penalty lambda * sum(|w|) over the trainable weights (as l2); gradient 0 at w = 0",
        0.0,
        minimum=0,
    ),
    "max_norm": o.number(
        "after each update, rescale each unit's incoming weight vector to at most this L2 norm",
        None,
        exclusive_minimum=0,
    ),
    "include_bias": o.boolean("also penalise biases (and batch-norm scales/shifts)", False),
}

EARLY_STOPPING = {
    "monitor": o.string("metric to watch, e.g. val_loss, val_accuracy, loss", "val_loss"),
    "patience": o.integer("epochs without improvement before stopping", 5, minimum=0),
    "min_delta": o.number("smallest change that counts as an improvement", 0.0, minimum=0),
    "mode": o.choice(
        "whether the metric should go down or up (auto: by name)", ["auto", "min", "max"], "auto"
    ),
    "restore_best": o.boolean("restore the parameters of the best epoch at the end", True),
}

INIT_FROM = {
    "run": o.string("an earlier run directory (or its checkpoint file)"),
    "layers": o.raw(
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "layers whose parameters are copied (default: every layer whose name and shapes match)",
        None,
    ),
}

TRAIN = {
    "epochs": o.integer("passes over the training data", 10, minimum=1),
    "batch_size": o.integer(
        "samples per step (1: stochastic; >= data size: full batch)", 32, minimum=1
    ),
    "seed": o.integer("seed of initialization, shuffling and dropout", 0, minimum=0),
    "shuffle": o.boolean("reshuffle the training data every epoch", True),
    "validate_every": o.integer(
        "also validate every this many iterations (default: at the end of each epoch)",
        None,
        minimum=1,
    ),
    "checkpoint_every": o.integer(
        "write a checkpoint every this many epochs (default: each epoch, at most every 10 s)",
        None,
        minimum=1,
    ),
    "early_stopping": o.raw(
        {
            "oneOf": [
                {"type": "boolean", "description": "true: every option at its default"},
                o.object_schema("early_stopping", EARLY_STOPPING),
            ]
        },
        "stop when a metric stops improving",
        None,
    ),
    "init_from": o.raw(
        {
            "oneOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "description": "the run: {run: <this>}",
                    "examples": ["runs/base-1"],
                },
                o.object_schema("init_from", INIT_FROM),
            ]
        },
        "fine-tuning: copy parameters from an earlier run",
        None,
    ),
    "max_memory_gb": o.number(
        "refuse a network whose estimated training memory exceeds this many gigabytes (10^9 "
        "bytes): float32 parameters, gradients and optimizer state, plus one batch's layer "
        "outputs and their gradients; raise it for a bigger machine",
        16.0,
        exclusive_minimum=0,
    ),
    "nan_guard": o.boolean(
        "stop at the first non-finite loss or gradient, naming the tensor; false skips such "
        "steps' updates and goes on",
        True,
    ),
    "steps_per_call": o.integer(
        "train steps per onnxruntime call: more than 1 keeps the training split on the device "
        "and runs the steps in an ONNX Loop (on CUDA the split goes to the device anyway); "
        "measured no faster on the CPU",
        1,
        minimum=1,
    ),
    "workers": o.integer(
        "data-parallel workers on Ray (each computes the gradient of its slice of every batch; "
        "needs nnc[ray]); 1: one process",
        1,
        minimum=1,
    ),
}

_SHAPE = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1},
    "minItems": 1,
    "examples": [[64]],
}

INPUT = {
    "shape": o.raw(
        _SHAPE,
        "per-sample shape, channels first for images ([C, H, W]); the batch dimension is implicit",
    ),
}


def layer_defs() -> dict:
    defs = {
        f"layer.{n}": o.object_schema("layer", all_options(cls), type_name=n)
        for n, cls in LAYERS.items()
    }
    defs["layer"] = o.family_schema("layer", {n: f"layer.{n}" for n in LAYERS.names()})
    return defs


# One example of each kind of value, shown by the messages that say what form a value takes
# ("expected a mapping, ...; for example train: {epochs: 10, batch_size: 32}"). JSON Schema's
# `examples` keyword; a test checks that each one is valid where it stands.
KIND_EXAMPLES: dict[str, tuple[str | None, dict]] = {
    # kind: (a bare name, a mapping) for the kinds that are named by `type:`
    "layer": (None, {"type": "dense", "units": 10}),
    "activation": ("relu", {"type": "leaky_relu", "alpha": 0.1}),
    "initializer": ("he_uniform", {"type": "normal", "stddev": 0.01}),
    "loss": ("cross_entropy", {"type": "huber", "delta": 1.0}),
    "optimizer": ("adam", {"type": "adam", "lr": 0.001}),
    "schedule": (None, {"type": "cosine", "decay_steps": 1000}),
    # kind: (None, a mapping) for the options' own mappings
    "input": (None, {"shape": [64]}),
    "regularization": (None, {"l2": 0.0001}),
    "train": (None, {"epochs": 10, "batch_size": 32}),
    "early_stopping": (None, {"monitor": "val_loss", "patience": 5}),
    "init_from": (None, {"run": "runs/base-1"}),
}


def _add_examples(node) -> None:
    """Puts KIND_EXAMPLES into the schema objects of their kinds (in place)."""
    if isinstance(node, list):
        for item in node:
            _add_examples(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("x-kind")
    if kind in KIND_EXAMPLES and "examples" not in node:
        name, mapping = KIND_EXAMPLES[kind]
        if "enum" in node:
            if name is not None:
                node["examples"] = [name]
        elif node.get("type") == "object" and (
            "allOf" in node  # the family: a mapping discriminated by its type
            or "type" not in node.get("properties", {})  # an options mapping, not a member
        ):
            node["examples"] = [mapping]
    for value in node.values():
        _add_examples(value)


def build_schema() -> dict:
    top = {
        "nnc": o.raw(
            {"type": "integer", "enum": [FORMAT_VERSION]}, "spec format version", FORMAT_VERSION
        ),
        "name": o.string(
            "model name; it names the run directories (runs/<name>-<k>), hence its characters "
            "and length (default: the spec file's name)",
            None,
            pattern=NAME_PATTERN,
            max_length=MAX_NAME_CHARS,
        ),
        "description": o.string("free text", None),
        "input": o.raw(
            {
                "oneOf": [
                    {**_SHAPE, "description": "the shape: {shape: <this>}"},
                    o.object_schema("input", INPUT),
                ]
            },
            "the network input",
        ),
        "layers": o.raw(
            {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/layer"}},
            "the layers, in order; sequential unless a layer names its inputs",
        ),
        "loss": o.raw(loss_schema(), "training loss", None),
        "regularization": o.raw(
            o.object_schema("regularization", REGULARIZATION),
            "weight penalties and constraints",
            None,
        ),
        "optimizer": o.raw(
            o.name_or_mapping("optimizer", OPTIMIZERS),
            "optimizer and learning-rate schedule: a name, or {type: name, options...}",
            None,
        ),
        "train": o.raw(o.object_schema("train", TRAIN), "training options", None),
        "data": o.raw(
            {"oneOf": [data_shorthand_schema(), data_schema()]},
            "training data and preprocessing",
            None,
        ),
    }
    schema = o.object_schema("spec", top)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://nnc.dev/schema/spec-v1.json",
        "title": "nnc model spec, format version 1",
        **schema,
        "$defs": {
            **layer_defs(),
            **activation_defs(),
            **init_defs(),
            **loss_defs(),
            **optimizer_defs(),
            **schedule_defs(),
        },
    }
    _add_examples(schema)
    return schema


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"
