"""Spec loading: read -> upgrade -> schema -> typed, frozen Spec -> cross-field checks -> shapes."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nnc.compiler import options as o
from nnc.compiler.layers import LAYERS, all_options
from nnc.compiler.losses import loss_ref
from nnc.compiler.optim import optimizer_options
from nnc.compiler.spec.data_schema import known_feature_shape
from nnc.compiler.spec.errors import Diagnostic, SpecError, format_path
from nnc.compiler.spec.schema import (
    EARLY_STOPPING,
    FORMAT_VERSION,
    INIT_FROM,
    REGULARIZATION,
    TRAIN,
    build_schema,
)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A frozen spec value back to plain dicts and lists (for JSON and YAML)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class LayerSpec:
    index: int
    type: str
    name: str
    inputs: tuple[str, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Spec:
    name: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...]
    loss: tuple[str, Mapping[str, Any]] | None
    regularization: Mapping[str, Any]
    optimizer: Mapping[str, Any]  # defaults filled; plain SGD when the spec names none
    train: Mapping[str, Any]
    data: Mapping[str, Any] | None
    document: Mapping[str, Any]  # the validated document as written (no defaults filled)
    filename: str = "<spec>"
    base_dir: str = "."
    source: Any = field(default=None, compare=False, repr=False)  # SourceMap

    @property
    def hash(self) -> str:
        text = json.dumps(thaw(self.document), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(thaw(self.document), sort_keys=True)

    def where(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        if self.source is None:
            return (None, None)
        return self.source.key_pos(path) if key else self.source.value_pos(path)

    def error(self, path: tuple, message: str, key: bool = False) -> Diagnostic:
        line, col = self.where(path, key)
        return Diagnostic(self.filename, line, col, format_path(path), message)


_SCHEMA: dict | None = None


def schema() -> dict:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = build_schema()
    return _SCHEMA


def _upgrade(doc: dict, filename: str, source) -> dict:
    """Bring an older format to the current one. v1 is the first format: only fill the version."""
    version = doc.get("nnc", FORMAT_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        line, col = source.value_pos(("nnc",)) if source else (None, None)
        raise SpecError(
            [
                Diagnostic(
                    filename,
                    line,
                    col,
                    "nnc",
                    f"format version {version} is newer than this nnc reads ({FORMAT_VERSION}); "
                    "upgrade nnc",
                )
            ]
        )
    return doc


def load_spec(path: str | os.PathLike) -> Spec:
    from nnc.compiler.spec.loader import read_spec_file

    data, source = read_spec_file(path)
    return spec_from_document(data, source, str(path), os.path.dirname(os.path.abspath(path)))


def parse_spec(text: str, filename: str = "<spec>", base_dir: str = ".") -> Spec:
    from nnc.compiler.spec.loader import load_yaml

    data, source = load_yaml(text, filename)
    return spec_from_document(data, source, filename, base_dir)


def spec_from_document(doc, source, filename: str, base_dir: str) -> Spec:
    from nnc.compiler.spec.diagnostics import check_schema

    doc = _upgrade(doc, filename, source)
    diags = check_schema(doc, schema(), source, filename)
    if diags:
        raise SpecError(diags)
    doc = copy.deepcopy(doc)
    layers = []
    for i, raw in enumerate(doc["layers"]):
        cls = LAYERS[raw["type"]]
        opts = {**o.defaults(all_options(cls)), **raw}
        name = opts.pop("name", None) or f"{raw['type']}_{i}"
        inputs = opts.pop("inputs", None)
        opts.pop("type")
        layers.append(
            LayerSpec(i, raw["type"], name, tuple(inputs) if inputs else (), _freeze(opts))
        )
    loss = None
    if doc.get("loss") is not None:
        name, lopts = loss_ref(doc["loss"])
        loss = (name, _freeze(lopts))
    optimizer = doc.get("optimizer")
    train = {**o.defaults(TRAIN), **doc.get("train", {})}
    if train.get("early_stopping") is not None:
        train["early_stopping"] = {**o.defaults(EARLY_STOPPING), **train["early_stopping"]}
    if train.get("init_from") is not None:
        train["init_from"] = {**o.defaults(INIT_FROM), **train["init_from"]}
    spec = Spec(
        name=doc.get("name") or os.path.splitext(os.path.basename(filename))[0] or "model",
        input_shape=tuple(doc["input"]["shape"]),
        layers=tuple(layers),
        loss=loss,
        regularization=_freeze({**o.defaults(REGULARIZATION), **doc.get("regularization", {})}),
        optimizer=_freeze(optimizer_options(optimizer)),
        train=_freeze(train),
        data=_freeze(doc["data"]) if doc.get("data") is not None else None,
        document=_freeze(doc),
        filename=filename,
        base_dir=base_dir,
        source=source,
    )
    _cross_checks(spec)
    return spec


def _check_features(spec: Spec) -> list[Diagnostic]:
    """The input against features whose shape is known without reading them (a built-in set,
    inline data): a mismatch that loading the data would refuse, found at input.shape."""
    if spec.data is None:
        return []
    known = known_feature_shape(spec.data)
    if known is None:
        return []
    source, shape = known
    size, wanted = math.prod(shape), math.prod(spec.input_shape)
    if size == wanted:
        return []
    what = f"builtin {spec.data['builtin']}" if source == "builtin" else f"the {source} data"
    fix = list(shape) if len(shape) == 1 else f"{list(shape)} or another shape of {size} values"
    return [
        spec.error(
            ("input", "shape"),
            f"{what} has {size} features per sample (shape {list(shape)}) but input.shape "
            f"{list(spec.input_shape)} takes {wanted}; set input.shape to {fix}",
        )
    ]


def _cross_checks(spec: Spec) -> None:
    diags: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for ls in spec.layers:
        if ls.name == "input":
            diags.append(
                spec.error(
                    ("layers", ls.index, "name"), "'input' is reserved for the network input"
                )
            )
        elif ls.name in seen:
            diags.append(
                spec.error(
                    ("layers", ls.index, "name"),
                    f"layer name {ls.name!r} is already used by layers[{seen[ls.name]}]",
                )
            )
        else:
            for ref in ls.inputs:
                if ref != "input" and ref not in seen:
                    later = any(x.name == ref for x in spec.layers)
                    why = (
                        "a later layer (layers may only read earlier ones)" if later else "no layer"
                    )
                    diags.append(
                        spec.error(
                            ("layers", ls.index, "inputs"),
                            f"input {ref!r} names {why}; known so far: "
                            + ", ".join(["input", *seen]),
                        )
                    )
            seen[ls.name] = ls.index
        cls = LAYERS[ls.type]
        n_in = len(ls.inputs) if ls.inputs else 1
        if not cls.min_inputs <= n_in <= cls.max_inputs:
            want = (
                f"exactly {cls.min_inputs}"
                if cls.min_inputs == cls.max_inputs
                else f"at least {cls.min_inputs}"
            )
            diags.append(
                spec.error(
                    ("layers", ls.index, "inputs" if ls.inputs else "type"),
                    f"a {ls.type} layer takes {want} input(s), got {n_in}; "
                    "name them with inputs: [...]",
                )
            )
    diags.extend(_check_features(spec))
    reshape = (spec.data or {}).get("reshape")
    if reshape is not None and tuple(reshape) != tuple(spec.input_shape):
        diags.append(
            spec.error(
                ("data", "reshape"),
                f"data.reshape {list(reshape)} must be the network's input shape "
                f"{list(spec.input_shape)} (input.shape): it is what the features become",
            )
        )
    init_from = spec.train.get("init_from")
    if init_from and init_from.get("layers"):
        for i, name in enumerate(init_from["layers"]):
            if name not in seen:
                diags.append(
                    spec.error(
                        ("train", "init_from", "layers", i),
                        f"no layer named {name!r}; layers: {', '.join(seen)}",
                    )
                )
    if diags:
        raise SpecError(diags)
