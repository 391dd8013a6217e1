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


def _explicit_part(part: str, sources: dict) -> dict:
    names = tuple(n for n, s in sources.items() if not s.train_only)
    schema = {
        "type": "object",
        "description": f"explicit {part} data, in any of the forms {', '.join(names)}; "
        f"replaces split.{part}",
        "properties": {n: copy.deepcopy(sources[n].schema) for n in names},
        "additionalProperties": False,
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
            "type": "object",
            "description": "rescale each feature linearly to [min, max] (a constant feature is "
            "moved to min)",
            "properties": {
                "min": {"type": "number", "default": 0, "description": "lower end"},
                "max": {"type": "number", "default": 1, "description": "upper end"},
            },
            "additionalProperties": False,
        },
        "scale": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "multiply every feature by this number (e.g. 0.0625 for 0..16 pixels)",
        },
    },
    "maxProperties": 1,
    "additionalProperties": False,
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
}


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
    return copy.deepcopy(
        {
            "type": "object",
            "description": "where the training data comes from and how it is prepared; exactly "
            "one of " + ", ".join(names),
            "properties": {
                **{n: copy.deepcopy(s.schema) for n, s in sources.items()},
                "preprocess": {
                    "type": "object",
                    "description": "preprocessing of features (x) and targets (y)",
                    "properties": {"x": _X_PREPROCESS, "y": _Y_PREPROCESS},
                    "additionalProperties": False,
                },
                "reshape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "minItems": 1,
                    "description": "per-sample shape the features take before the model (the "
                    "network's input shape), e.g. [8, 8] for 64 flat pixels read as 8 rows of 8; "
                    "preprocessing is fitted on the features as read, and the exported model "
                    "takes them in that shape",
                },
                "split": _SPLIT,
                "validation": _explicit_part("validation", sources),
                "test": _explicit_part("test", sources),
            },
            "additionalProperties": False,
            "allOf": [_exactly_one(names), _not_both("validation"), _not_both("test")],
        }
    )


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
