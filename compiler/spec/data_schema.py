"""JSON Schema (Draft 2020-12) fragment for a spec's `data:` section, and the built-in data sets.

Sub-schemas are plain dicts copied into place rather than `$ref`s: the fragment is embedded in the
whole spec's schema, where a local `#/$defs/...` pointer would resolve against the wrong root.
"""

from __future__ import annotations

import copy

BUILTIN_DATASETS: dict[str, str] = {
    "iris": "scikit-learn iris: 150 samples, 4 features, 3 classes",
    "digits": "scikit-learn digits: 1797 8x8 images as 64 features (0..16), 10 classes",
    "wine": "scikit-learn wine: 178 samples, 13 features, 3 classes",
    "breast_cancer": "scikit-learn breast cancer: 569 samples, 30 features, binary "
    "(0 = malignant, 1 = benign)",
    "diabetes": "scikit-learn diabetes: 442 samples, 10 features, real-valued target",
    "and": "truth table of AND: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
    "or": "truth table of OR: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
    "nand": "truth table of NAND: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
    "nor": "truth table of NOR: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
    "xor": "truth table of XOR: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
    "xnor": "truth table of XNOR: 4 samples of 2 inputs in {0,1} (rows 00, 01, 10, 11), 1 target",
}

# Sources that can supply any of the train / validation / test parts; `builtin` is train-only
# because a built-in set is a whole data set, split with `split:`.
FILE_SOURCES = ("inline", "csv", "npz", "idx")
SOURCES = (*FILE_SOURCES, "builtin")

_PATH = {"type": "string", "minLength": 1}
_COLUMN = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "column name (needs a header row)"},
        {"type": "integer", "description": "0-based column index; negative counts from the end"},
    ]
}
_NESTED = {
    "type": "array",
    "minItems": 1,
    "description": "one entry per sample; an entry is a number, a string label, or a nested list",
}

_INLINE = {
    "type": "object",
    "description": "data written in the spec itself",
    "properties": {
        "x": {**_NESTED, "description": "features: one list (or nested list) per sample"},
        "y": {**_NESTED, "description": "targets: one label, number or list per sample"},
    },
    "required": ["x", "y"],
    "additionalProperties": False,
}

_CSV = {
    "type": "object",
    "description": "a delimited text file with one sample per row",
    "properties": {
        "path": {**_PATH, "description": "CSV file, relative to the spec's folder"},
        "target": {
            "description": "target column(s): a name or 0-based index, or a list of them for "
            "several targets; default: the last column",
            "oneOf": [
                _COLUMN,
                {"type": "array", "items": _COLUMN, "minItems": 1, "uniqueItems": True},
            ],
        },
        "features": {
            "type": "array",
            "items": _COLUMN,
            "minItems": 1,
            "uniqueItems": True,
            "description": "feature columns in order; default: every column but the target(s)",
        },
        "header": {
            "type": "boolean",
            "default": True,
            "description": "whether the first row holds column names",
        },
        "delimiter": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1,
            "default": ",",
            "description": "field separator, one character",
        },
    },
    "required": ["path"],
    "additionalProperties": False,
}

_NPZ = {
    "type": "object",
    "description": "a NumPy .npz archive holding a feature array and a target array",
    "properties": {
        "path": {**_PATH, "description": ".npz file, relative to the spec's folder"},
        "x": {"type": "string", "minLength": 1, "default": "x", "description": "feature key"},
        "y": {"type": "string", "minLength": 1, "default": "y", "description": "target key"},
    },
    "required": ["path"],
    "additionalProperties": False,
}

_IDX = {
    "type": "object",
    "description": "a pair of IDX files (the MNIST format), gzipped or not",
    "properties": {
        "images": {**_PATH, "description": "IDX file of samples, e.g. train-images-idx3-ubyte.gz"},
        "labels": {**_PATH, "description": "IDX file of targets, e.g. train-labels-idx1-ubyte.gz"},
    },
    "required": ["images", "labels"],
    "additionalProperties": False,
}

_BUILTIN = {
    "type": "string",
    "enum": list(BUILTIN_DATASETS),
    "description": "a data set that needs no file: "
    + "; ".join(f"{k} ({v})" for k, v in BUILTIN_DATASETS.items()),
}

_SOURCE_SCHEMAS = {"inline": _INLINE, "csv": _CSV, "npz": _NPZ, "idx": _IDX, "builtin": _BUILTIN}


def _exactly_one(names: tuple[str, ...]) -> dict:
    return {"oneOf": [{"required": [n]} for n in names]}


def _explicit_part(part: str) -> dict:
    schema = {
        "type": "object",
        "description": f"explicit {part} data, in any of the forms {', '.join(FILE_SOURCES)}; "
        f"replaces split.{part}",
        "properties": {n: copy.deepcopy(_SOURCE_SCHEMAS[n]) for n in FILE_SOURCES},
        "additionalProperties": False,
    }
    schema.update(_exactly_one(FILE_SOURCES))
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


DATA_SCHEMA: dict = copy.deepcopy(
    {
        "type": "object",
        "description": "where the training data comes from and how it is prepared; exactly one of "
        + ", ".join(SOURCES),
        "properties": {
            **{n: copy.deepcopy(s) for n, s in _SOURCE_SCHEMAS.items()},
            "preprocess": {
                "type": "object",
                "description": "preprocessing of features (x) and targets (y)",
                "properties": {"x": _X_PREPROCESS, "y": _Y_PREPROCESS},
                "additionalProperties": False,
            },
            "split": _SPLIT,
            "validation": _explicit_part("validation"),
            "test": _explicit_part("test"),
        },
        "additionalProperties": False,
        "allOf": [_exactly_one(SOURCES), _not_both("validation"), _not_both("test")],
    }
)
