"""Shorthands: short ways to write a spec value that mean one obvious long form.

`optimizer: adam` is `optimizer: {type: adam}`; `csv: iris.csv` is `csv: {path: iris.csv}`. They
are expanded before validation, so that validation, the compiler, the runtime and a run's saved
spec.yaml see only the long form (and a saved spec loads to the same document). A value that is
not exactly a shorthand is left as written, for the schema to explain what is wrong with it; the
schema also lists each shorthand as an alternative (for editors that validate against it).

Each entry says where it applies, what it accepts and what it becomes; the spec reference is
generated from the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nnc.compiler.spec.data_schema import _data_package

_PARTS = ((), ("validation",), ("test",))  # where a data source may be named, under data:


@dataclass(frozen=True)
class Shorthand:
    """At `path` (a tuple of keys from the top), a value for which `applies` holds becomes
    `expand(value)`, or is removed when that returns REMOVE; `examples` are (short, long) pairs,
    each a line of YAML, and `note` says what the reference should add."""

    path: tuple[str, ...]
    applies: Callable[[Any], bool]
    expand: Callable[[Any], Any]
    examples: tuple[tuple[str, str], ...]
    note: str = ""


REMOVE: Any = object()


def _is_text(value) -> bool:
    return isinstance(value, str) and value != ""


def _path_sources() -> list[str]:
    """The data sources whose only required key is `path`: a bare string can only be that."""
    sources = _data_package().data_sources()
    return [n for n, s in sources.items() if s.schema.get("required") == ["path"]]


def _data_string(value: str) -> Any:
    """`data: iris` (a built-in set) or `data: file.csv` (a file, its source by its suffix)."""
    package = _data_package()
    if value in package.BUILTIN_NAMES:
        return {"builtin": value}
    for name, source in package.data_sources().items():
        if any(value.lower().endswith(s) for s in source.suffixes) and name in _path_sources():
            return {name: {"path": value}}
    return value


def _is_data_string(value) -> bool:
    return _is_text(value) and _data_string(value) != value


def shorthands() -> list[Shorthand]:
    """Every shorthand, in the order of the reference."""
    table = [
        Shorthand(
            ("optimizer",),
            _is_text,
            lambda v: {"type": v},
            (("optimizer: adam", "optimizer: {type: adam}"),),
        ),
        Shorthand(
            ("input",),
            lambda v: isinstance(v, list),
            lambda v: {"shape": v},
            (("input: [1, 28, 28]", "input: {shape: [1, 28, 28]}"),),
        ),
        Shorthand(
            ("train", "early_stopping"),
            lambda v: isinstance(v, bool),
            lambda v: {} if v else REMOVE,
            (("early_stopping: true", "early_stopping: {}"),),
            "every option at its default; false: no early stopping",
        ),
        Shorthand(
            ("train", "init_from"),
            _is_text,
            lambda v: {"run": v},
            (("init_from: runs/base-1", "init_from: {run: runs/base-1}"),),
        ),
        Shorthand(
            ("data",),
            _is_data_string,
            _data_string,
            (
                ("data: iris", "data: {builtin: iris}"),
                ("data: train.csv", "data: {csv: {path: train.csv}}"),
            ),
            "a built-in set by its name, a file by its suffix",
        ),
    ]
    for source in _path_sources():
        for part in _PARTS:
            table.append(
                Shorthand(
                    ("data", *part, source),
                    _is_text,
                    lambda v: {"path": v},
                    ((f"{source}: file.{source}", f"{source}: {{path: file.{source}}}"),),
                )
            )
    table += [
        Shorthand(
            ("data", "preprocess", "x"),
            lambda v: v in ("standardize", "minmax"),
            lambda v: {"standardize": True} if v == "standardize" else {"minmax": {}},
            (
                ("x: standardize", "x: {standardize: true}"),
                ("x: minmax", "x: {minmax: {}}"),
            ),
            "minmax: to [0, 1]",
        ),
        Shorthand(
            ("data", "preprocess", "x", "minmax"),
            lambda v: isinstance(v, bool),
            lambda v: {} if v else REMOVE,
            (("minmax: true", "minmax: {}"),),
            "min 0, max 1; false: no rescaling",
        ),
        Shorthand(
            ("data", "preprocess", "y"),
            lambda v: v == "one_hot",
            lambda v: {"one_hot": True},
            (("y: one_hot", "y: {one_hot: true}"),),
        ),
    ]
    return table


def expand_shorthands(doc: Any) -> Any:
    """doc with every shorthand written out; doc itself is not changed (changed mappings are
    copies), and a document without shorthands is returned as it is."""
    for shorthand in shorthands():
        doc = _expand_at(doc, shorthand.path, shorthand)
    return doc


def _expand_at(node: Any, path: tuple[str, ...], shorthand: Shorthand) -> Any:
    if not isinstance(node, dict) or path[0] not in node:
        return node
    key, value = path[0], node[path[0]]
    if len(path) > 1:
        new = _expand_at(value, path[1:], shorthand)
    elif shorthand.applies(value):
        new = shorthand.expand(value)
    else:
        return node
    if new is value:
        return node
    out = dict(node)
    if new is REMOVE:
        del out[key]
    else:
        out[key] = new
    return out


def examples() -> Iterator[tuple[list[str], str, str, str]]:
    """(where, short, long, note) of every shorthand, for the reference: where lists the dotted
    paths at which the same shorthand applies (a source under data:, data.validation: ...)."""
    seen: dict[tuple[str, str], tuple[list[str], str]] = {}
    for s in shorthands():
        for i, (short, long) in enumerate(s.examples):
            note = s.note if i == len(s.examples) - 1 else ""
            where, _ = seen.setdefault((short, long), ([], note))
            if ".".join(s.path) not in where:
                where.append(".".join(s.path))
    for (short, long), (where, note) in seen.items():
        yield where, short, long, note


def data_string_problem(value: str) -> str:
    """Why a string under data: is no shorthand (what it could have been)."""
    package = _data_package()
    suffixes = sorted(
        {x for n, s in package.data_sources().items() if n in _path_sources() for x in s.suffixes}
    )
    return (
        f"{value!r} is neither a built-in data set ({', '.join(package.BUILTIN_NAMES)}) nor a file "
        f"ending in {' or '.join(suffixes)}; for example data: iris, data: train.csv or "
        "data: {csv: {path: train.txt}}"
    )
