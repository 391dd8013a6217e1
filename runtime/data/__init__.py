"""Training data: reading the sources a spec's `data:` section names, checking, splitting and
preprocessing them into arrays the engines take.

Every problem is a DataError whose message says where it is: the file (resolved path), the key or
column, and the sample index (0-based; CSV messages also give the 1-based line).

Layout: `base` (the types and the source registry), `sources/` (one module per source, each
registering a SourceDef with its JSON Schema next to its reader), `targets`, `split`,
`preprocess`, and `load` (the entry points). Only NumPy and the standard library are imported at
module level, so the compiler can build the `data:` schema from the registry cheaply.
"""

from __future__ import annotations

import nnc.runtime.data.sources  # noqa: F401 - registers the sources
from nnc.runtime.data.base import (
    TARGET_KINDS,
    Affine,
    DataError,
    Dataset,
    Fitted,
    RawData,
    SourceDef,
    Split,
    TargetSpec,
    data_sources,
    register_source,
)
from nnc.runtime.data.fingerprint import data_fingerprint, fingerprint_changes
from nnc.runtime.data.load import load_data, read_features, read_source
from nnc.runtime.data.preprocess import fit_preprocess
from nnc.runtime.data.sources.builtin import BUILTIN_DATASETS, BUILTIN_NAMES
from nnc.runtime.data.sources.idx import read_idx, write_idx
from nnc.runtime.data.split import split_indices

__all__ = [
    "BUILTIN_DATASETS",
    "BUILTIN_NAMES",
    "TARGET_KINDS",
    "Affine",
    "DataError",
    "Dataset",
    "Fitted",
    "RawData",
    "SourceDef",
    "Split",
    "TargetSpec",
    "data_fingerprint",
    "fingerprint_changes",
    "fit_preprocess",
    "load_data",
    "read_features",
    "read_idx",
    "read_source",
    "register_source",
    "data_sources",
    "split_indices",
    "write_idx",
]
