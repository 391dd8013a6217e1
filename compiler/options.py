"""Typed options with defaults, bounds and descriptions; the JSON Schema is made from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REQUIRED: Any = object()


@dataclass(frozen=True)
class Option:
    schema: Mapping[str, Any]
    description: str
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def to_schema(self) -> dict:
        out = dict(self.schema)
        out["description"] = self.description
        if not self.required and self.default is not None:
            out["default"] = self.default
        return out


def _bounds(minimum=None, maximum=None, exclusive_minimum=None, exclusive_maximum=None) -> dict:
    out: dict[str, Any] = {}
    for key, val in (
        ("minimum", minimum),
        ("maximum", maximum),
        ("exclusiveMinimum", exclusive_minimum),
        ("exclusiveMaximum", exclusive_maximum),
    ):
        if val is not None:
            out[key] = val
    return out


def integer(description: str, default=REQUIRED, **bounds) -> Option:
    return Option({"type": "integer", **_bounds(**bounds)}, description, default)


def number(description: str, default=REQUIRED, **bounds) -> Option:
    return Option({"type": "number", **_bounds(**bounds)}, description, default)


def boolean(description: str, default=REQUIRED) -> Option:
    return Option({"type": "boolean"}, description, default)


def string(
    description: str, default=REQUIRED, pattern: str | None = None, max_length: int | None = None
) -> Option:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    if max_length is not None:
        schema["maxLength"] = max_length
    return Option(schema, description, default)


def choice(description: str, values, default=REQUIRED) -> Option:
    return Option({"enum": list(values)}, description, default)


def raw(schema: Mapping[str, Any], description: str, default=REQUIRED) -> Option:
    return Option(schema, description, default)


INT_OR_PAIR = {
    "oneOf": [
        {"type": "integer", "minimum": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 2, "maxItems": 2},
    ]
}


def object_schema(kind: str, options: Mapping[str, Option], type_name: str | None = None) -> dict:
    """A closed mapping of `options`; with `type_name`, one member of a family keyed by `type`."""
    props: dict[str, Any] = {}
    if type_name is not None:
        props["type"] = {"const": type_name, "description": f"{kind} type"}
    props.update({k: o.to_schema() for k, o in options.items()})
    out: dict[str, Any] = {"type": "object", "x-kind": kind, "additionalProperties": False}
    out["properties"] = props
    required = ([] if type_name is None else ["type"]) + [
        k for k, o in options.items() if o.required
    ]
    if required:
        out["required"] = required
    return out


def family_schema(kind: str, members: Mapping[str, str]) -> dict:
    """A mapping discriminated by `type:`; `members` maps each type name to its $defs key."""
    names = sorted(members)
    return {
        "type": "object",
        "x-kind": kind,
        "required": ["type"],
        "properties": {"type": {"enum": names, "description": f"{kind} type"}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": n}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{members[n]}"},
            }
            for n in names
        ],
    }


def defaults(options: Mapping[str, Option]) -> dict:
    return {k: o.default for k, o in options.items() if not o.required}


@dataclass(frozen=True)
class Component:
    """Something a spec names by `type:` (a layer, loss, optimizer, schedule, initializer)."""

    name: str
    description: str
    options: Mapping[str, Option] = field(default_factory=dict)


def component_ref(registry, value) -> tuple[str, dict]:
    """`name` or `{type: name, option: value}` -> (name, options with defaults filled)."""
    if isinstance(value, str):
        name, given = value, {}
    else:
        name, given = value["type"], {k: v for k, v in value.items() if k != "type"}
    return name, {**defaults(registry[name].options), **given}


def member_defs(kind: str, registry) -> dict:
    """One closed $defs entry per member of a registry, keyed `<kind>.<name>`."""
    return {f"{kind}.{n}": object_schema(kind, c.options, type_name=n) for n, c in registry.items()}


def family_defs(kind: str, registry) -> dict:
    """Member $defs plus `<kind>`: a mapping discriminated by `type:`."""
    defs = member_defs(kind, registry)
    defs[kind] = family_schema(kind, {n: f"{kind}.{n}" for n in registry.names()})
    return defs


def name_or_mapping(kind: str, registry) -> dict:
    """A value written as a bare name or as `{type: name, options...}`."""
    return {
        "oneOf": [
            {"type": "string", "enum": registry.names(), "x-kind": kind},
            {"$ref": f"#/$defs/{kind}"},
        ]
    }
