"""`inline: {x: [...], y: [...]}`: data written in the spec itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnc.runtime.data.base import DataError, RawData, SourceDef, register_source

_NESTED = {
    "type": "array",
    "minItems": 1,
    "description": "one entry per sample; an entry is a number, a string label, or a nested list",
}

SCHEMA = {
    "type": "object",
    "description": "data written in the spec itself",
    "properties": {
        "x": {**_NESTED, "description": "features: one list (or nested list) per sample"},
        "y": {**_NESTED, "description": "targets: one label, number or list per sample"},
    },
    "required": ["x", "y"],
    "additionalProperties": False,
}


def read(src: dict, where: str, base_dir: Path) -> RawData:
    arrays = []
    for key in ("x", "y"):
        if key not in src:
            raise DataError(f"{where}: missing '{key}'")
        try:
            arrays.append(np.asarray(src[key]))
        except ValueError as e:
            raise DataError(f"{where}.{key}: rows of different lengths ({e})") from None
    x, y = arrays
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}.x: features must be numbers, not {x.dtype} values")
    return RawData(x, y, where, None, f"inline ({len(x)} samples)")


def feature_shape(src: object) -> tuple[int, ...] | None:
    try:
        x = np.asarray(src["x"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None  # ragged or missing: read() says what is wrong
    return tuple(x.shape[1:]) if x.dtype.kind in "biuf" and x.ndim >= 1 else None


register_source(SourceDef("inline", SCHEMA, read, feature_shape=feature_shape))
