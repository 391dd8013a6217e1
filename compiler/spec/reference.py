"""The spec reference (docs/spec-reference.md), generated from the registries like the schema.

Regenerate with: python -m nnc.compiler.spec.reference > docs/spec-reference.md
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from nnc.compiler import options as o
from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.init import INITIALIZERS
from nnc.compiler.layers import LAYERS, all_options
from nnc.compiler.losses import LOSSES
from nnc.compiler.optim import OPTIMIZERS
from nnc.compiler.schedules import SCHEDULES
from nnc.compiler.spec.data_schema import BUILTIN_DATASETS
from nnc.compiler.spec.schema import EARLY_STOPPING, INIT_FROM, INPUT, REGULARIZATION, TRAIN


def _type(opt: o.Option) -> str:
    s = opt.schema
    if "enum" in s:
        return " \\| ".join(f"`{v}`" for v in s["enum"])
    if "oneOf" in s:
        if any("x-kind" in b for b in s["oneOf"]):
            return "see below"
        return " \\| ".join(_branch(b) for b in s["oneOf"])
    if "$ref" in s:
        return s["$ref"].rsplit("/", 1)[-1]
    t = s.get("type", "object")
    bounds = []
    for key, sym in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in s:
            bounds.append(f"{sym} {s[key]}")
    return t + (f" ({', '.join(bounds)})" if bounds else "")


def _branch(schema: Mapping) -> str:
    """One alternative of a oneOf: its values, `int`, or a list like `[int, int]`."""
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array" and schema.get("maxItems") == schema.get("minItems"):
        item = _branch(schema.get("items", {}))
        return "[" + ", ".join([item] * int(schema.get("minItems", 1))) + "]"
    return {"integer": "int", "number": "number"}.get(schema.get("type", ""), "value")


def _table(options: Mapping[str, o.Option]) -> list[str]:
    if not options:
        return ["(no options)", ""]
    rows = ["| option | type | default | description |", "|---|---|---|---|"]
    for k, opt in options.items():
        default = (
            "required"
            if opt.required
            else ("—" if opt.default is None else f"`{json.dumps(opt.default)}`")
        )
        rows.append(f"| `{k}` | {_type(opt)} | {default} | {opt.description} |")
    return rows + [""]


def reference() -> str:
    out = [
        "# nnc spec reference (format version 1)",
        "",
        "Generated from nnc's registries by `python -m nnc.compiler.spec.reference`; the JSON",
        "Schema made from the same registries is `specs/schema.json`. Do not edit by hand.",
        "",
        "A spec is a YAML mapping with the keys `nnc` (format version, default 1), `name`,",
        "`description`, `input`, `layers`, `loss`, `regularization`, `optimizer`, `train` and",
        "`data`.",
        "",
        "## input",
        "",
        *_table(INPUT),
        "## layers",
        "",
        "Layers run in order; a layer reads the previous one unless it names `inputs:`. Every",
        "layer takes `name` (default `<type>_<index>`) and `inputs`.",
        "",
    ]
    for name, cls in LAYERS.items():
        opts = {k: v for k, v in all_options(cls).items() if k not in ("name", "inputs")}
        out += [f"### `{name}`", "", cls.description, "", *_table(opts)]
    out += [
        "## activations",
        "",
        "Values of `activation:` (a name, or `{type: name, option: value}`):",
        "",
    ]
    for name, act in ACTIVATIONS.items():
        extra = ", ".join(f"`{k}` (default {v.default})" for k, v in act.options.items())
        out.append(f"- `{name}`: {act.description}" + (f"; options {extra}" if extra else ""))
    out += ["", "## initializers", "", "Values of `init:` / `bias_init:`:", ""]
    for name, ini in INITIALIZERS.items():
        extra = ", ".join(f"`{k}` (default {v.default})" for k, v in ini.options.items())
        out.append(f"- `{name}`: {ini.description}" + (f"; options {extra}" if extra else ""))
    out += ["", "## loss", "", "`loss: name` or `loss: {type: name, ...}`:", ""]
    for name, loss in LOSSES.items():
        extra = ", ".join(f"`{k}` (default {v.default})" for k, v in loss.options.items())
        out.append(f"- `{name}`: {loss.description}" + (f"; options {extra}" if extra else ""))
    out += ["", "## regularization", "", *_table(REGULARIZATION), "## optimizer", ""]
    for name, opt in OPTIMIZERS.items():
        out += [f"### `{name}`", "", opt.description, "", *_table(opt.options)]
    out += [
        "## optimizer.schedule",
        "",
        "Computed inside the train-step graph from the step counter.",
        "",
    ]
    for name, sched in SCHEDULES.items():
        out += [f"### `{name}`", "", sched.description, "", *_table(sched.options)]
    out += ["## train", "", *_table(TRAIN), "### train.early_stopping", "", *_table(EARLY_STOPPING)]
    out += ["### train.init_from", "", *_table(INIT_FROM), "## data", ""]
    out += [
        "Exactly one source (`inline`, `csv`, `npz`, `idx`, `builtin`), optional `preprocess`",
        "(`x: {standardize: true}`, `x: {minmax: {min, max}}`, `x: {scale: s}`,",
        "`y: {one_hot: true}`), `split` (`test`, `validation` fractions, `seed`, `shuffle`,",
        "`stratify`) or explicit `validation:` / `test:` sources. Preprocessing is fitted on the",
        "training split only and baked into the exported model. Built-in data sets:",
        "",
    ]
    out += [f"- `{k}`: {v}" for k, v in BUILTIN_DATASETS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
