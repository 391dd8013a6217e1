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
from nnc.compiler.optim import optimizer_defs
from nnc.compiler.schedules import schedule_defs
from nnc.compiler.spec.data_schema import DATA_SCHEMA

FORMAT_VERSION = 1

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
        o.object_schema("early_stopping", EARLY_STOPPING),
        "stop when a metric stops improving",
        None,
    ),
    "init_from": o.raw(
        o.object_schema("init_from", INIT_FROM),
        "fine-tuning: copy parameters from an earlier run",
        None,
    ),
    "nan_guard": o.boolean(
        "stop at the first non-finite loss or gradient, naming the tensor; false skips such "
        "steps' updates and goes on",
        True,
    ),
    "workers": o.integer(
        "data-parallel workers on Ray (each computes the gradient of its slice of every batch; "
        "needs nnc[ray]); 1: one process",
        1,
        minimum=1,
    ),
}

INPUT = {
    "shape": o.raw(
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
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


def build_schema() -> dict:
    top = {
        "nnc": o.raw(
            {"type": "integer", "enum": [FORMAT_VERSION]}, "spec format version", FORMAT_VERSION
        ),
        "name": o.string("model name", None, pattern=r"^[A-Za-z0-9_.-]+$"),
        "description": o.string("free text", None),
        "input": o.raw(o.object_schema("input", INPUT), "the network input"),
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
            {"$ref": "#/$defs/optimizer"}, "optimizer and learning-rate schedule", None
        ),
        "train": o.raw(o.object_schema("train", TRAIN), "training options", None),
        "data": o.raw(DATA_SCHEMA, "training data and preprocessing", None),
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
    return schema


def schema_text() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"
