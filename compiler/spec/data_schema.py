"""JSON Schema (Draft 2020-12) fragment for a spec's `data:` section.

Each data source's own schema sits next to its reader in the runtime (`nnc.runtime.data.sources`,
one module a source); this module adds what is common to all (preprocess, split, explicit
validation and test parts) and assembles them.

Sub-schemas are plain dicts copied into place rather than `$ref`s: the fragment is embedded in the
whole spec's schema, where a local `#/$defs/...` pointer would resolve against the wrong root.
"""

from __future__ import annotations

import copy
import importlib


def _exactly_one(names: tuple[str, ...]) -> dict:
    return {"oneOf": [{"required": [n]} for n in names]}


# What the messages show as the form of each source ("expected a mapping, ...; for example
# idx: {images: ..., labels: ...}"), as JSON Schema `examples`.
SOURCE_EXAMPLES = {
    "inline": {"x": [[0, 0], [0, 1]], "y": [0, 1]},
    "csv": {"path": "data.csv", "target": "label"},
    "npz": {"path": "data.npz", "x": "x", "y": "y"},
    "idx": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
    "builtin": "iris",
}


def _source_schema(source) -> dict:
    """A source's schema (with an example); one that needs nothing but a path also takes the bare
    path (the shorthand `csv: iris.csv`, see nnc.compiler.spec.shorthands)."""
    schema = copy.deepcopy(source.schema)
    if source.name in SOURCE_EXAMPLES:
        schema["examples"] = [SOURCE_EXAMPLES[source.name]]
    if schema.get("required") != ["path"]:
        return schema
    path = {
        **schema["properties"]["path"],
        "description": "the file: {path: <this>}",
        "examples": [f"data.{source.name}"],
    }
    return {"description": schema.get("description", ""), "oneOf": [path, schema]}


def _explicit_part(part: str, sources: dict) -> dict:
    names = tuple(n for n, s in sources.items() if not s.train_only)
    schema = {
        "type": "object",
        "description": f"explicit {part} data, in any of the forms {', '.join(names)}; "
        f"replaces split.{part}",
        "properties": {n: _source_schema(sources[n]) for n in names},
        "additionalProperties": False,
        "examples": [{"npz": f"{part}.npz"}],
    }
    schema.update(_exactly_one(names))
    return schema


_FRACTION = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}

_X_PREPROCESS = {
    "type": "object",
    "description": "feature preprocessing, fitted on the training split only and baked into the "
    "exported model; at most one of standardize, minmax, scale",
    "properties": {
        "standardize": {
            "type": "boolean",
            "default": False,
            "description": "x' = (x - mean) / std per feature (a feature with std 0 is only "
            "centred)",
        },
        "minmax": {
            "description": "rescale each feature linearly to [min, max] (a constant feature is "
            "moved to min)",
            "oneOf": [
                {"type": "boolean", "description": "true: to [0, 1]; false: no rescaling"},
                {
                    "type": "object",
                    "properties": {
                        "min": {"type": "number", "default": 0, "description": "lower end"},
                        "max": {"type": "number", "default": 1, "description": "upper end"},
                    },
                    "additionalProperties": False,
                    "examples": [{"min": -1, "max": 1}],
                },
            ],
        },
        "scale": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "multiply every feature by this number (e.g. 0.0625 for 0..16 pixels)",
        },
    },
    "maxProperties": 1,
    "additionalProperties": False,
    "examples": [{"standardize": True}],
}

_Y_PREPROCESS = {
    "type": "object",
    "description": "target preprocessing",
    "properties": {
        "one_hot": {
            "type": "boolean",
            "default": False,
            "description": "turn integer class labels into one-hot rows as wide as the output, "
            "for losses on real-valued targets (mse, ...); cross-entropy losses take the "
            "labels as they are",
        },
    },
    "additionalProperties": False,
    "examples": [{"one_hot": True}],
}

_SPLIT = {
    "type": "object",
    "description": "carve test and validation parts out of the data; both are fractions of the "
    "whole set, the test part is taken first; default: no split",
    "properties": {
        "test": {**_FRACTION, "default": 0, "description": "fraction of all samples for testing"},
        "validation": {
            **_FRACTION,
            "default": 0,
            "description": "fraction of all samples for validation",
        },
        "seed": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "seed of the shuffle; the same seed gives the same split",
        },
        "shuffle": {
            "type": "boolean",
            "default": True,
            "description": "shuffle before splitting; if false the parts are contiguous "
            "(train first, then validation, then test) and stratify is ignored",
        },
        "stratify": {
            "type": "boolean",
            "default": True,
            "description": "keep class proportions in every part (class targets only)",
        },
    },
    "additionalProperties": False,
    "examples": [{"test": 0.2, "validation": 0.1}],
}


def _or_name(schema: dict, names: list[str]) -> dict:
    """schema, or one of its options' names alone (`x: standardize` for {standardize: true})."""
    short = {
        "type": "string",
        "enum": names,
        "description": "an option alone: {<this>: true}",
        "examples": [names[0]],
    }
    return {"description": schema["description"], "oneOf": [short, schema]}


def _not_both(part: str) -> dict:
    """Refuses an explicit validation/test source together with a non-zero split fraction for it
    (a zero fraction is the default, so filled-in defaults never trip this)."""
    return {
        "not": {
            "required": [part, "split"],
            "properties": {
                "split": {"required": [part], "properties": {part: {"exclusiveMinimum": 0}}}
            },
        }
    }


def _data_package():
    """The runtime's data package, whose source registry defines every source once. Imported
    when a schema is built, not with this module, and by name: it belongs to the runtime (it
    imports only NumPy and the standard library), and the compiler's type check sees only the
    compiler."""
    return importlib.import_module("nnc.runtime.data")


def data_schema() -> dict:
    """The schema of the `data:` section, its sources taken from the runtime's source registry."""
    sources = _data_package().data_sources()
    names = tuple(sources)
    return {
        "type": "object",
        "description": "where the training data comes from and how it is prepared; exactly "
        "one of " + ", ".join(names),
        "properties": {
            **{n: _source_schema(s) for n, s in sources.items()},
            "preprocess": {
                "type": "object",
                "description": "preprocessing of features (x) and targets (y)",
                "properties": {
                    "x": _or_name(_X_PREPROCESS, ["standardize", "minmax"]),
                    "y": _or_name(_Y_PREPROCESS, ["one_hot"]),
                },
                "additionalProperties": False,
                "examples": [{"x": "standardize"}],
            },
            "reshape": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1},
                "minItems": 1,
                "examples": [[8, 8]],
                "description": "per-sample shape the features take before the model (the "
                "network's input shape), e.g. [8, 8] for 64 flat pixels read as 8 rows of 8; "
                "preprocessing is fitted on the features as read, and the exported model "
                "takes them in that shape",
            },
            "split": copy.deepcopy(_SPLIT),
            "validation": _explicit_part("validation", sources),
            "test": _explicit_part("test", sources),
        },
        "additionalProperties": False,
        "allOf": [_exactly_one(names), _not_both("validation"), _not_both("test")],
        "examples": [{"builtin": "iris", "split": {"test": 0.2}}],
    }


def data_shorthand_schema() -> dict:
    """`data: iris` or `data: train.csv`: a built-in set, or a file whose suffix names its
    source (see nnc.compiler.spec.shorthands)."""
    sources = _data_package().data_sources()
    suffixes = [
        x for s in sources.values() if s.schema.get("required") == ["path"] for x in s.suffixes
    ]
    return {
        "type": "string",
        "minLength": 1,
        "examples": ["iris"],
        "description": "a built-in set's name ({builtin: <this>}) or a file ending in "
        + " or ".join(suffixes)
        + " ({<source>: {path: <this>}})",
    }


def known_feature_shape(data) -> tuple[str, tuple[int, ...]] | None:
    """(source, per-sample feature shape) of a `data:` section whose source knows the shape
    without reading a file (a built-in set, inline data), else None."""
    for name, source in _data_package().data_sources().items():
        value = data.get(name)
        if value is not None and source.feature_shape is not None:
            shape = source.feature_shape(value)
            return (name, tuple(shape)) if shape is not None else None
    return None


def builtin_datasets() -> dict[str, str]:
    """Name -> description of every built-in data set."""
    return dict(_data_package().BUILTIN_DATASETS)


def __getattr__(name: str):
    # DATA_SCHEMA and BUILTIN_DATASETS, built on first use (module attributes of old)
    if name == "DATA_SCHEMA":
        return data_schema()
    if name == "BUILTIN_DATASETS":
        return builtin_datasets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
