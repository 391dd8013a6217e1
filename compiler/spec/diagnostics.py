"""JSON Schema validation whose every error is one plain-worded Diagnostic at its line.

jsonschema finds the errors; this module decides what a person needs to read: which branch of a
``oneOf`` the value was meant for, which key was misspelt and what it was probably meant to be,
what kind of thing (layer, optimizer, loss) an unknown ``type:`` names. The nouns come from the
schema: a ``$defs`` entry named ``layer`` or ``layer.dense`` is about layers, and any schema object
may say so itself with the hint key ``"x-kind"``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, relevance

from nnc.compiler.names import did_you_mean
from nnc.compiler.spec.errors import Diagnostic, format_path
from nnc.compiler.spec.foreign import foreign_key, foreign_value
from nnc.compiler.spec.loader import SourceMap

KIND_KEY = "x-kind"
_MAX_SHOWN = 60  # characters of a user's value quoted back in a message
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_DISCRIMINATOR = "type"
_NO_EXAMPLE = object()

# The graphs compute in float32 and index in int64: a number beyond these is no hyperparameter.
FLOAT32_MAX = 3.4028234663852886e38
INT64_MAX = 2**63 - 1


def _is_integer(checker, value) -> bool:
    """Integers only: not 4.0 (JSON Schema's own "integer" takes it), not true, within int64."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and -INT64_MAX - 1 <= value <= INT64_MAX
    )


def _is_number(checker, value) -> bool:
    """Finite numbers that float32 holds: .nan, .inf and 1e39 are no learning rate."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (
        abs(value) <= FLOAT32_MAX
        if isinstance(value, int)
        else math.isfinite(value) and abs(value) <= FLOAT32_MAX
    )


Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}
    ),
)


# ---------------------------------------------------------------------------------------------
# Words for values and types


def _show(value) -> str:
    """A value as the user would write it, shortened."""
    if isinstance(value, str):
        text = value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 3] + "..."
        return repr(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _listed(value) -> str:
    """A value in a list of allowed values: strings bare, as in 'dense, dropout'."""
    return value if isinstance(value, str) else _show(value)


def _describe(value) -> str:
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if value is None:
        return "an empty value (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _expected(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_WORDS.get(t, t) for t in types]
    if len(words) <= 2:
        return " or ".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _yaml_number(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def _type_message(types, value) -> str:
    """'expected <types>, got <value>', and why where the value looks right but is not."""
    wanted = [types] if isinstance(types, str) else list(types)
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_num and "integer" in wanted and not _is_integer(None, value):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            exact = f"{int(value)}" if abs(value) < 1e16 else "the number in digits"
            return (
                f"expected {_expected(wanted)}, got {_yaml_number(value)}, which is read as a "
                f"float; write {exact} (no decimal point, no exponent)"
            )
        if isinstance(value, int):
            return f"the integer {value} is out of range: at most {INT64_MAX} (2^63 - 1)"
    if is_num and "number" in wanted and not _is_number(None, value):
        if isinstance(value, float) and not math.isfinite(value):
            what = " (not a number)" if math.isnan(value) else ""
            return f"expected a finite number, got {_yaml_number(value)}{what}"
        return (
            f"{_show(value)} is too large: the graphs compute in float32, whose largest number "
            f"is {FLOAT32_MAX:.4g}"
        )
    message = f"expected {_expected(wanted)}, got {_describe(value)}"
    if "boolean" in wanted and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
        message += " (YAML 'yes'/'no' are strings here; write true or false)"
    return message


_PLAIN_STRING = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")


def _flow(value) -> str:
    """A value as YAML flow text, the way a spec writes it: {type: dense, units: 10}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        plain = _PLAIN_STRING.match(value) and value.lower() not in ("true", "false", "null")
        return value if plain else json.dumps(value)
    return _show(value)


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else _plural(noun)}"


# ---------------------------------------------------------------------------------------------
# What the schema says about its own parts


@dataclass(frozen=True)
class _Place:
    """Where a schema object sits: which kind of thing it describes, and whether it is a
    discriminator (the ``type`` of a layer, optimizer, loss...)."""

    kind: str | None
    own_kind: str | None  # the object's own "x-kind", if any
    discriminator: bool


class _SchemaIndex:
    """Facts about the schema's objects by identity, since jsonschema hands back the very dicts."""

    def __init__(self, schema):
        self.root = schema
        self.places: dict[int, _Place] = {}
        defs = schema.get("$defs", {}) if isinstance(schema, dict) else {}
        self.def_kinds = {
            name: (sub.get(KIND_KEY) if isinstance(sub, dict) else None) or name.split(".")[0]
            for name, sub in defs.items()
        }
        self._walk(schema, (), schema.get(KIND_KEY) if isinstance(schema, dict) else None)

    def _walk(self, node, pointer: tuple, kind: str | None, discriminator: bool = False):
        if isinstance(node, list):
            for i, item in enumerate(node):
                self._walk(item, pointer + (i,), kind)
            return
        if not isinstance(node, dict) or id(node) in self.places:
            return
        own = node.get(KIND_KEY) if isinstance(node.get(KIND_KEY), str) else None
        if len(pointer) == 2 and pointer[0] == "$defs":
            kind = self.def_kinds.get(pointer[1], kind)
        kind = own or kind
        self.places[id(node)] = _Place(kind, own, discriminator)
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                for name, prop in sub.items():
                    self._walk(prop, pointer + (key, name), kind, name == _DISCRIMINATOR)
            elif key in ("oneOf", "anyOf") and isinstance(sub, list):
                # A bare enum next to a reference to a kind of thing is that thing's shorthand:
                # `loss: mse` beside `loss: {type: mse, ...}`.
                ref_kinds = {self._ref_kind(b) for b in sub if isinstance(b, dict)} - {None}
                short = ref_kinds.pop() if len(ref_kinds) == 1 else None
                for i, branch in enumerate(sub):
                    is_short = short is not None and isinstance(branch, dict) and "enum" in branch
                    self._walk(branch, pointer + (key, i), short if is_short else kind, is_short)
            elif key != KIND_KEY:
                self._walk(sub, pointer + (key,), kind)

    def _ref_kind(self, branch: dict) -> str | None:
        ref = branch.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self.def_kinds.get(unquote(ref[len("#/$defs/") :]).replace("~1", "/"))
        return None

    def place(self, schema) -> _Place:
        return self.places.get(id(schema), _Place(None, None, False))

    def resolve(self, ref: str):
        """The target of a local $ref ('#/...'), or None."""
        if not ref.startswith("#"):
            return None
        node = self.root
        for part in filter(None, unquote(ref[1:]).split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None
        return node

    def declared_properties(self, schema, seen=None) -> set[str]:
        """Every property named by schema or the subschemas it applies in place."""
        seen = set() if seen is None else seen
        if not isinstance(schema, dict) or id(schema) in seen:
            return set()
        seen.add(id(schema))
        names = set(schema.get("properties", {}))
        if isinstance(schema.get("$ref"), str):
            names |= self.declared_properties(self.resolve(schema["$ref"]), seen)
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key, []):
                names |= self.declared_properties(sub, seen)
        for key in ("then", "else"):
            names |= self.declared_properties(schema.get(key), seen)
        return names


# ---------------------------------------------------------------------------------------------
# From jsonschema errors to problems


@dataclass(frozen=True)
class _Problem:
    path: tuple
    message: str
    at_key: bool = False  # point at the mapping key (unknown keys) rather than the value
    identity: tuple = ()  # what makes two problems the same one, beyond path and message


class _Explainer:
    def __init__(self, schema):
        self.index = _SchemaIndex(schema)

    def explain(self, error: ValidationError) -> list[_Problem]:
        path = tuple(error.absolute_path)
        handler = getattr(self, "_on_" + str(error.validator), None)
        if handler is not None:
            found = handler(error, path)
            if found is not None:
                return found
        return [_Problem(path, self._fallback(error))]

    @staticmethod
    def _fallback(error: ValidationError) -> str:
        if error.validator is None or error.validator is False:
            return "this value is not allowed here"
        return error.message

    # --- kinds of values

    def _on_type(self, error, path):
        message = _type_message(error.validator_value, error.instance)
        return [_Problem(path, self._with_example(message, error.schema, path), identity=("type",))]

    # --- examples of the expected form

    def _with_example(self, message: str, schema, path) -> str:
        """message, and an example of what is expected where it is not plain from the words
        (a mapping or a list: which keys, what shape), from the schema's `examples`."""
        if "write " in message or "too large" in message or "out of range" in message:
            return message  # the message says what to write already
        key = path[-1] if path and isinstance(path[-1], str) else None
        shown = []
        for branch in self._branches(schema):
            value = self._example(branch)
            if value is _NO_EXAMPLE:
                continue
            text = f"{key}: {_flow(value)}" if key else _flow(value)
            if text not in shown:
                shown.append(text)
        return f"{message}; for example {' or '.join(shown)}" if shown else message

    def _branches(self, schema) -> list:
        schema = self._resolved(schema)
        if not isinstance(schema, dict):
            return []
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return [b for sub in schema[key] for b in self._branches(sub)]
        return [schema]

    def _resolved(self, schema, seen: int = 0):
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 20:
            schema, seen = self.index.resolve(schema["$ref"]), seen + 1
        return schema

    def _example(self, schema, depth: int = 0):
        """An example value for schema: its own `examples`, or for a list, a list of its item's;
        none where the schema gives none (a made-up one would mislead more than it helps)."""
        schema = self._resolved(schema)
        if not isinstance(schema, dict) or depth > 4:
            return _NO_EXAMPLE
        if schema.get("examples"):
            return schema["examples"][0]
        if schema.get("type") == "array":
            item = self._example(schema.get("items"), depth + 1)
            if item is not _NO_EXAMPLE:
                return [item] * max(1, int(schema.get("minItems", 1)))
        return _NO_EXAMPLE

    def _on_enum(self, error, path):
        message = self._enum_message(error.instance, error.validator_value, error)
        return [_Problem(path, message, identity=("value",))]

    def _on_const(self, error, path):
        place = self.index.place(error.schema)
        if place.discriminator and place.kind:
            message = self._enum_message(error.instance, [error.validator_value], error)
        else:
            message = f"expected {_show(error.validator_value)}, got {_show(error.instance)}"
        return [_Problem(path, message, identity=("value",))]

    def _enum_message(self, value, allowed, error) -> str:
        place = self.index.place(error.schema)
        allowed = list(allowed)
        if place.discriminator and place.kind:
            noun, listing = f"{place.kind} type", f"known {_plural(place.kind + ' type')}"
        elif place.own_kind:
            noun, listing = place.own_kind, f"known {_plural(place.own_kind)}"
        else:
            if len(allowed) == 1:
                return f"expected {_show(allowed[0])}, got {_show(value)}"
            noun, listing = "value", "allowed values"
        message = f"unknown {noun} {_show(value)}"
        names = ", ".join(_listed(a) for a in allowed)
        foreign = foreign_value(place.kind or place.own_kind, value, allowed)
        if foreign is not None:
            ours, note = foreign
            if ours is None:
                return f"{message}: {note}"
            said = f"{message}; nnc calls it {ours!r}" + (f" ({note})" if note else "")
            return f"{said}. {listing[0].upper()}{listing[1:]}: {names}"
        guess = did_you_mean(value, [a for a in allowed if isinstance(a, str)])
        if guess is not None and guess != value:
            return f"{message}; did you mean {guess!r}? {listing[0].upper()}{listing[1:]}: {names}"
        return f"{message}; {listing}: {names}"

    def _on_pattern(self, error, path):
        return [
            _Problem(
                path, f"{_show(error.instance)} does not match the pattern {error.validator_value}"
            )
        ]

    def _on_format(self, error, path):
        return [_Problem(path, f"{_show(error.instance)} is not a valid {error.validator_value}")]

    # --- numbers

    def _on_minimum(self, error, path):
        message = (
            f"{_show(error.instance)} is less than the minimum of {_show(error.validator_value)}"
        )
        return [_Problem(path, message)]

    def _on_maximum(self, error, path):
        message = (
            f"{_show(error.instance)} is greater than the maximum of {_show(error.validator_value)}"
        )
        return [_Problem(path, message)]

    def _on_exclusiveMinimum(self, error, path):
        message = f"{_show(error.instance)} must be greater than {_show(error.validator_value)}"
        return [_Problem(path, message)]

    def _on_exclusiveMaximum(self, error, path):
        message = f"{_show(error.instance)} must be less than {_show(error.validator_value)}"
        return [_Problem(path, message)]

    def _on_multipleOf(self, error, path):
        message = f"{_show(error.instance)} is not a multiple of {_show(error.validator_value)}"
        return [_Problem(path, message)]

    # --- sizes

    def _on_minItems(self, error, path):
        n, limit = len(error.instance), error.validator_value
        return [_Problem(path, f"has {_count(n, 'item')}; at least {limit} required")]

    def _on_maxItems(self, error, path):
        n, limit = len(error.instance), error.validator_value
        return [_Problem(path, f"has {_count(n, 'item')}; at most {limit} allowed")]

    def _on_minLength(self, error, path):
        message = (
            f"{_show(error.instance)} is too short "
            f"(at least {_count(error.validator_value, 'character')})"
        )
        return [_Problem(path, message)]

    def _on_maxLength(self, error, path):
        message = (
            f"{_show(error.instance)} is too long "
            f"(at most {_count(error.validator_value, 'character')})"
        )
        return [_Problem(path, message)]

    def _on_minProperties(self, error, path):
        n, limit = len(error.instance), error.validator_value
        return [_Problem(path, f"has {_count(n, 'key')}; at least {limit} required")]

    def _on_maxProperties(self, error, path):
        n, limit = len(error.instance), error.validator_value
        return [_Problem(path, f"has {_count(n, 'key')}; at most {limit} allowed")]

    def _on_uniqueItems(self, error, path):
        seen = []
        for item in error.instance:
            if item in seen:
                return [_Problem(path, f"items must be unique; {_show(item)} appears twice")]
            seen.append(item)
        return None

    def _on_items(self, error, path):
        prefix = error.schema.get("prefixItems")
        if error.validator_value is False and isinstance(prefix, list):
            n = len(error.instance)
            return [_Problem(path, f"has {_count(n, 'item')}; at most {len(prefix)} allowed")]
        return None

    # --- keys

    def _on_required(self, error, path):
        if not isinstance(error.instance, dict):
            return []
        return [
            _Problem(path, f"missing required key {key!r}")
            for key in error.validator_value
            if key not in error.instance
        ]

    def _on_dependentRequired(self, error, path):
        return [
            _Problem(path, f"key {key!r} needs key {needed!r} as well")
            for key, needs in error.validator_value.items()
            if key in error.instance
            for needed in needs
            if needed not in error.instance
        ]

    def _on_additionalProperties(self, error, path):
        if error.validator_value is not False or not isinstance(error.instance, dict):
            return None
        known = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extras = [
            key
            for key in error.instance
            if key not in known and not any(p.search(key) for p in patterns)
        ]
        context = self._context(error.schema, path)
        return [self._unknown_key(path, key, known, context) for key in extras] or None

    def _on_unevaluatedProperties(self, error, path):
        if error.validator_value is not False or not isinstance(error.instance, dict):
            return None
        known = self.index.declared_properties(error.schema)
        extras = [key for key in error.instance if key not in known]
        context = self._context(error.schema, path)
        return [self._unknown_key(path, key, known, context) for key in extras] or None

    def _context(self, schema, path) -> str | None:
        """What kind of mapping schema is (its x-kind), else the key it is under: where a
        foreign key is looked up (foreign.KEYS)."""
        kind = self.index.place(schema).own_kind
        if kind:
            return kind
        return path[-1] if path and isinstance(path[-1], str) else None

    @staticmethod
    def _unknown_key(path, key, known, context=None) -> _Problem:
        foreign = foreign_key(context, key, known) if isinstance(key, str) else None
        guess = did_you_mean(key, known)
        if foreign is not None:
            ours, note = foreign
            if ours is None:
                message = f"unknown key {key!r}: {note}"
            else:
                message = f"unknown key {key!r}; nnc calls it {ours!r}" + (
                    f" ({note})" if note else ""
                )
        elif guess is not None:
            message = f"unknown key {key!r}; did you mean {guess!r}?"
        elif known:
            message = f"unknown key {key!r}; known keys: {', '.join(sorted(known))}"
        else:
            message = f"unknown key {key!r}; no keys are allowed here"
        return _Problem(path + (key,), message, at_key=True, identity=("unknown-key",))

    # --- alternatives

    def _on_oneOf(self, error, path):
        keys = self._one_of_keys(error.validator_value)
        if keys and isinstance(error.instance, dict):
            given = [k for k in keys if k in error.instance]
            listed = ", ".join(keys)
            if given:
                message = f"has {' and '.join(given)}; give only one of {listed}"
            else:
                message = f"needs one of {listed}"
            return [_Problem(path, message, identity=("one-of-keys",))]
        if not error.context:
            return [_Problem(path, "matches more than one of the allowed forms; make it one")]
        return self._alternatives(error, path)

    @staticmethod
    def _one_of_keys(branches) -> list[str]:
        """The keys of a oneOf that asks for exactly one of them ({required: [k]} branches)."""
        keys = []
        for b in branches if isinstance(branches, list) else []:
            if not (isinstance(b, dict) and set(b) == {"required"} and len(b["required"]) == 1):
                return []
            keys.append(b["required"][0])
        return keys

    def _on_anyOf(self, error, path):
        return self._alternatives(error, path)

    def _alternatives(self, error, path):
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)

        def wrong_shape(errors):
            return any(e.validator == "type" and not e.relative_path for e in errors)

        def wrong_kind(errors):
            return any(
                e.validator in ("const", "enum")
                and list(e.relative_path) == [_DISCRIMINATOR]
                and self.index.place(e.schema).discriminator
                for e in errors
            )

        fitting = [errs for errs in branches.values() if not wrong_shape(errs)]
        if not fitting:
            types: list[str] = []
            for errs in branches.values():
                for e in errs:
                    if e.validator == "type" and not e.relative_path:
                        wanted: Any = e.validator_value
                        for t in [wanted] if isinstance(wanted, str) else wanted:
                            if t not in types:
                                types.append(t)
            message = self._with_example(_type_message(types, error.instance), error.schema, path)
            return [_Problem(path, message, identity=("type",))]

        right_kind = [errs for errs in fitting if not wrong_kind(errs)]
        if not right_kind:
            # Every branch is for another `type:`; say which types exist.
            return [self._unknown_discriminator(fitting, path, error.context)]

        # The branch the value comes closest to fitting: fewest errors, then jsonschema's own
        # idea of the most relevant error (the one best_match would report).
        fewest = min(len(errs) for errs in right_kind)
        tied = [errs for errs in right_kind if len(errs) == fewest]
        chosen = max(tied, key=lambda errs: max(relevance(e) for e in errs))
        problems: list[_Problem] = []
        for sub in chosen:
            problems.extend(self.explain(sub))
        return problems

    def _unknown_discriminator(self, branches, path, every_error) -> _Problem:
        allowed: list = []
        first = None
        for errs in branches:
            for e in errs:
                if e.validator in ("const", "enum") and list(e.relative_path) == [_DISCRIMINATOR]:
                    first = first or e
                    values = [e.validator_value] if e.validator == "const" else e.validator_value
                    allowed.extend(v for v in values if v not in allowed)
        assert first is not None  # the caller saw a discriminator error
        name = first.instance
        for e in every_error:
            # A sibling branch that takes the bare name: `activation: relu`, not {type: relu}.
            names = e.schema.get("enum", []) if isinstance(e.schema, dict) else []
            if not e.relative_path and e.validator == "type" and name in names:
                kind = self.index.place(first.schema).kind or self.index.place(e.schema).kind
                noun = f"{kind} type" if kind else "type"
                message = f"{noun} {_show(name)} takes no options; write it as a plain name"
                if path and isinstance(path[-1], str):
                    message += f" ({path[-1]}: {name})"
                return _Problem(path + (_DISCRIMINATOR,), message, identity=("value",))
        message = self._enum_message(name, allowed, first)
        return _Problem(path + (_DISCRIMINATOR,), message, identity=("value",))


def _tidy(problems: list[_Problem]) -> list[_Problem]:
    """Drops repeats, and value complaints where the value's type is already wrong."""
    typed = {p.path for p in problems if p.identity == ("type",)}
    out, seen = [], set()
    for p in problems:
        if p.path in typed and p.identity == ("value",):
            continue
        ident = (p.path, p.identity or p.message)
        if ident in seen:
            continue
        seen.add(ident)
        out.append(p)
    return out


def check_schema(data, schema: dict, source: SourceMap, filename: str) -> list[Diagnostic]:
    """Every way data breaks schema, one Diagnostic each, in file order."""
    validator = Validator(schema)
    explainer = None  # its index of the schema is built only for a spec with errors
    problems: list[_Problem] = []
    for error in validator.iter_errors(data):
        explainer = explainer or _Explainer(schema)
        problems.extend(explainer.explain(error))
    diagnostics = []
    for problem in _tidy(problems):
        line, col = (
            source.key_pos(problem.path) if problem.at_key else source.value_pos(problem.path)
        )
        diagnostics.append(
            Diagnostic(filename, line, col, format_path(problem.path), problem.message)
        )
    return sorted(diagnostics, key=lambda d: (d.line or 0, d.col or 0))


# ---------------------------------------------------------------------------------------------
# Defaults


_NO_DEFAULT = object()


class _Defaults:
    def __init__(self, schema):
        self.index = _SchemaIndex(schema)
        self.validator = Validator(schema)
        self._checkers: dict[int, Any] = {}

    def matches(self, schema, instance) -> bool:
        checker = self._checkers.get(id(schema))
        if checker is None:
            checker = self._checkers[id(schema)] = self.validator.evolve(schema=schema)
        return checker.is_valid(instance)

    def applicable(self, schema, instance) -> list[dict]:
        """The schema objects that apply to instance in place: $ref, allOf, the taken if-branch,
        and the oneOf/anyOf branches instance satisfies."""
        out, seen, queue = [], set(), [schema]
        while queue:
            s = queue.pop(0)
            if not isinstance(s, dict) or id(s) in seen:
                continue
            seen.add(id(s))
            out.append(s)
            if isinstance(s.get("$ref"), str):
                queue.append(self.index.resolve(s["$ref"]))
            queue.extend(s.get("allOf", []))
            if "if" in s:
                queue.append(s.get("then" if self.matches(s["if"], instance) else "else"))
            for key in ("oneOf", "anyOf"):
                for branch in s.get(key, []):
                    if self.matches(branch, instance):
                        queue.append(branch)
                        if key == "oneOf":
                            break
        return out

    def default_of(self, schema, seen=()):
        if not isinstance(schema, dict) or id(schema) in seen:
            return _NO_DEFAULT
        if "default" in schema:
            return schema["default"]
        if isinstance(schema.get("$ref"), str):
            return self.default_of(self.index.resolve(schema["$ref"]), seen + (id(schema),))
        return _NO_DEFAULT

    def fill(self, instance, schema) -> None:
        if isinstance(instance, dict):
            # Filling a key may change which if-branch applies (a defaulted `type:`), so repeat
            # until nothing more is added; each round adds keys, so this ends.
            while True:
                schemas = self.applicable(schema, instance)
                added = False
                for s in schemas:
                    for key, sub in s.get("properties", {}).items():
                        if key not in instance:
                            default = self.default_of(sub)
                            if default is not _NO_DEFAULT:
                                instance[key] = copy.deepcopy(default)
                                added = True
                if not added:
                    break
            for key, value in instance.items():
                for s in schemas:
                    sub = s.get("properties", {}).get(key)
                    if sub is None and isinstance(s.get("additionalProperties"), dict):
                        sub = s["additionalProperties"]
                    if sub is not None:
                        self.fill(value, sub)
        elif isinstance(instance, list):
            for s in self.applicable(schema, instance):
                prefix = s.get("prefixItems", [])
                items = s.get("items")
                for i, item in enumerate(instance):
                    if i < len(prefix):
                        self.fill(item, prefix[i])
                    elif isinstance(items, dict):
                        self.fill(item, items)


def fill_defaults(data, schema):
    """A deep copy of data with the schema's defaults filled in for missing mapping keys."""
    out = copy.deepcopy(data)
    _Defaults(schema).fill(out, schema)
    return out
