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
from nnc.compiler.spec.data_schema import BUILTIN_DATASETS, data_schema
from nnc.compiler.spec.schema import EARLY_STOPPING, INIT_FROM, INPUT, REGULARIZATION, TRAIN
from nnc.compiler.spec.shorthands import examples as shorthand_examples


def _type(opt: o.Option) -> str:
    return _schema_type(opt.schema)


def _schema_type(s) -> str:
    r"""A schema's type in a table cell: `a` \| `b` for a choice, bounds for numbers, the forms
    of alternatives joined by 'or' ('see below' where one of them is a kind of thing with its
    own section: activations, initializers)."""
    if "enum" in s:
        return " \\| ".join(f"`{v}`" for v in s["enum"])
    if "const" in s:
        return f"`{json.dumps(s['const'])}`"
    alternatives = s.get("oneOf") or s.get("anyOf")
    if alternatives:
        if any("x-kind" in b for b in alternatives):
            return "see below"
        if s.get("oneOf") == o.INT_OR_PAIR["oneOf"]:
            return "int or [int, int]"
        words: list[str] = []
        for branch in alternatives:
            word = _schema_type(branch)
            if word not in words:
                words.append(word)
        return " or ".join(words)
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _schema_table(schema: Mapping) -> list[str]:
    """A table of a JSON Schema mapping's keys, like the options' tables."""
    props = schema.get("properties", {})
    if not props:
        return ["(no options)", ""]
    required = set(schema.get("required", []))
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for k, sub in props.items():
        if k in required:
            default = "required"
        elif "default" in sub:
            default = f"`{json.dumps(sub['default'])}`"
        else:
            default = "—"
        rows.append(
            f"| `{k}` | {_schema_type(sub)} | {default} | {_cell(sub.get('description', ''))} |"
        )
    return rows + [""]


def _mapping_of(schema: Mapping) -> Mapping:
    """The mapping form among a schema's alternatives (a shorthand's long form)."""
    for branch in schema.get("oneOf", []):
        if branch.get("type") == "object":
            return branch
    return schema


def _example(schema: Mapping, key: str) -> list[str]:
    examples = schema.get("examples") or _mapping_of(schema).get("examples")
    if not examples:
        return []
    return [f"For example `{key}: {_flow(examples[0])}`.", ""]


def _flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _data_section() -> list[str]:
    """The data: section, from the same schema that validates it (the sources' own schemas
    come from the runtime's source registry)."""
    data = data_schema()
    props = data["properties"]
    sources = [k for k in props if k not in _DATA_PARTS]
    out = [
        "## data",
        "",
        _cell(data["description"]) + ". Preprocessing is fitted on the training split only "
        "and baked into the exported model.",
        "",
        *_example(data, "data"),
        "### data sources",
        "",
    ]
    for name in sources:
        schema = props[name]
        if name == "builtin":
            out += [f"#### `data.{name}`", "", "a data set that needs no file, by its name:", ""]
            out += [f"- `{k}`: {v}" for k, v in BUILTIN_DATASETS.items()] + [""]
            continue
        out += [f"#### `data.{name}`", "", schema.get("description", ""), ""]
        mapping = _mapping_of(schema)
        if mapping is not schema:
            out += [f"A bare path is the shorthand of `{name}: {{path: ...}}`.", ""]
        out += [*_schema_table(mapping), *_example(mapping, name)]
    pre = props["preprocess"]
    out += ["### data.preprocess", "", pre["description"], ""]
    for part in ("x", "y"):
        schema = pre["properties"][part]
        mapping = _mapping_of(schema)
        out += [f"#### `data.preprocess.{part}`", "", mapping.get("description", ""), ""]
        out += [*_schema_table(mapping), *_example(mapping, part)]
    minmax = _mapping_of(pre["properties"]["x"])["properties"]["minmax"]
    out += ["#### `data.preprocess.x.minmax`", "", minmax["description"], ""]
    out += [*_schema_table(_mapping_of(minmax)), *_example(_mapping_of(minmax), "minmax")]
    split = props["split"]
    out += ["### data.split", "", split["description"], "", *_schema_table(split)]
    out += [*_example(split, "split")]
    reshape = props["reshape"]
    out += ["### data.reshape", "", f"{_schema_type(reshape)}: {reshape['description']}", ""]
    for part in ("validation", "test"):
        schema = props[part]
        out += [f"### data.{part}", "", schema["description"], ""]
        out += [*_schema_table(schema), *_example(schema, part)]
    return out


_DATA_PARTS = ("preprocess", "reshape", "split", "validation", "test")


def _shorthands_section() -> list[str]:
    out = [
        "## shorthands",
        "",
        "A shorter way to write a value means its long form, which is what validation, the",
        "compiler and a run's saved `spec.yaml` see:",
        "",
        "| where | shorthand | means | note |",
        "|---|---|---|---|",
    ]
    for where, short, long, note in shorthand_examples():
        places = ", ".join(f"`{w}`" for w in where)
        out.append(f"| {places} | `{short}` | `{long}` | {_cell(note)} |")
    return out + [""]


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
        rows.append(f"| `{k}` | {_type(opt)} | {default} | {_cell(opt.description)} |")
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
        if loss.options:
            out += [f"### `{name}`", "", loss.description, "", *_table(loss.options)]
        else:
            out += [f"### `{name}`", "", loss.description, ""]
    out += ["## regularization", "", *_table(REGULARIZATION), "## optimizer", ""]
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
    out += ["### train.init_from", "", *_table(INIT_FROM)]
    out += _data_section()
    out += _shorthands_section()
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
