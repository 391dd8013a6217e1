"""Safe YAML loading for spec files: plain values only, YAML 1.2 scalars, every node's position.

PyYAML's composer turns the text into nodes; the values are built here rather than by its
constructors, so that no tag can construct an object, scalars follow the YAML 1.2 core schema
(``1e-3`` is a float, ``yes`` is a string), duplicate keys are reported, alias expansion is bounded,
and each value and key keeps its line and column for error messages. Keys are strings, as JSON's:
an integer key (a class index) becomes its decimal string; other non-string keys are refused.

Merge keys (``<<: *defaults``) are supported, since shared layer settings are a common use of
anchors: keys written in the mapping win over merged ones, and earlier merged mappings win over
later ones, as in YAML 1.1's merge type.
"""

from __future__ import annotations

import gc
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from nnc.compiler.spec.errors import Diagnostic, SpecError, format_path

MAX_SPEC_BYTES = 4 * 1024 * 1024
# Nodes built again because an alias points at them. A spec needs few; a "billion laughs" document
# needs billions, so the limit stops it long before memory or time become a problem.
MAX_ALIAS_EXPANDED_NODES = 100_000
# Specs are a few levels deep; the limit turns runaway nesting into an error, not a RecursionError.
MAX_DEPTH = 100
# A document libyaml refuses is parsed again by PyYAML's pure-Python parser, whose messages the
# hints are written for; that parser is some thirty times slower, so a bigger document (generated,
# with inline data) is reported in libyaml's own words, at the same place.
PY_REPARSE_MAX_CHARS = 64 * 1024

Path = tuple
Pos = tuple  # (line, col), 1-based; (None, None) when unknown

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP = _CORE + "seq", _CORE + "map"
_PLAIN = "?plain"  # tag of an untagged plain scalar: resolved here by the YAML 1.2 rules

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL_RE = re.compile(r"(?:null|Null|NULL|~|)\Z")
_TRUE_RE = re.compile(r"(?:true|True|TRUE)\Z")
_FALSE_RE = re.compile(r"(?:false|False|FALSE)\Z")
_DEC_RE = re.compile(r"[-+]?[0-9]+\Z")
_OCT_RE = re.compile(r"0o[0-7]+\Z")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_INF_RE = re.compile(r"([-+]?)\.(?:inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)\Z")

_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")

_NO_VALUE = object()


class SourceMap:
    """Where each value and mapping key of a loaded document was written (1-based line, col)."""

    def __init__(self) -> None:
        self._values: dict[Path, Pos] = {}
        self._keys: dict[Path, Pos] = {}
        # A sequence's plain items, by the sequence's path: a list of positions costs a fraction
        # of an entry per item in _values, and inline data is most of a big spec.
        self._items: dict[Path, list[Pos]] = {}

    def value_pos(self, path: tuple) -> tuple[int | None, int | None]:
        """Position of the value at path, or of its nearest ancestor that has one."""
        path = tuple(path)
        for end in range(len(path), -1, -1):
            pos = self._values.get(path[:end])
            if pos is None and end and type(path[end - 1]) is int:
                items = self._items.get(path[: end - 1])
                if items is not None and 0 <= path[end - 1] < len(items):
                    pos = items[path[end - 1]]
            if pos is not None:
                return pos
        return (None, None)

    def key_pos(self, path: tuple) -> tuple[int | None, int | None]:
        """Position of the mapping key that names path; the value's position where it has none."""
        pos = self._keys.get(tuple(path))
        return pos if pos is not None else self.value_pos(path)

    def __len__(self) -> int:
        """How many values have a position."""
        items = {p + (i,) for p, where in self._items.items() for i in range(len(where))}
        return len(items | set(self._values))


class _Fatal(Exception):
    """Stops building: continuing would only produce noise or cost too much."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


class _AliasRef:
    """An alias use: the node it names, and where the alias itself was written."""

    def __init__(self, target, mark):
        self.target = target
        self.start_mark = mark


class _Composer(yaml.composer.Composer):
    """PyYAML's composer; tags are resolved here (YAML 1.2) and alias uses stay visible."""

    # supplied by the parser the composer is mixed with
    check_event: Callable[..., bool]
    get_event: Callable[[], Any]
    peek_event: Callable[[], Any]

    def resolve(self, kind, value, implicit):
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, parent, index):
        pass

    def ascend_resolver(self):
        pass

    def compose_node(self, parent, index):
        # Keep where each alias is used: errors about an aliased value should point there, and
        # the builder counts expansions per use.
        if self.check_event(AliasEvent):
            event = self.get_event()
            if event.anchor not in self.anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            return _AliasRef(self.anchors[event.anchor], event.start_mark)
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor):
        # PyYAML's, with a short way for the items that are plain, unanchored scalars (the inline
        # data that makes most of a big spec): a third of the calls per item.
        start_event = self.get_event()
        node = SequenceNode(_SEQ, [], start_event.start_mark, None, start_event.flow_style)
        if start_event.tag is not None and start_event.tag != "!":
            node.tag = start_event.tag
        if anchor is not None:
            self.anchors[anchor] = node
        items = node.value
        while True:
            event = self.peek_event()
            kind = type(event)
            if kind is SequenceEndEvent:
                break
            if kind is ScalarEvent and event.anchor is None and event.tag is None:
                self.get_event()
                tag = _PLAIN if event.implicit[0] else _STR
                items.append(ScalarNode(tag, event.value, event.start_mark, None, event.style))
            elif kind is SequenceStartEvent and event.anchor is None:
                items.append(self.compose_sequence_node(None))
            else:
                items.append(self.compose_node(node, len(items)))
        self.get_event()  # end marks are never read: not kept (memory)
        return node

    def compose_scalar_node(self, anchor):
        # YAML's non-specific tag '!' makes a scalar a string; PyYAML resolves it like a plain one.
        forced = self.peek_event().tag == "!"
        node = super().compose_scalar_node(anchor)
        if forced:
            node.tag = _STR
        return node


class _PyComposer(_Composer, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """SafeLoader's pure-Python reader, scanner and parser."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Composer.__init__(self)


if yaml.__with_libyaml__:

    class _CComposer(_Composer, yaml.cyaml.CParser):  # type: ignore[name-defined]
        """CSafeLoader's libyaml parser: the same events, about ten times faster on big files."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)  # type: ignore[attr-defined]
            _Composer.__init__(self)

    _COMPOSER: type = _CComposer
else:
    _COMPOSER = _PyComposer


def _pos(mark) -> Pos:
    return (mark.line + 1, mark.column + 1)


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


_WORDS = {
    **{w: None for w in ("", "~", "null", "Null", "NULL")},
    **{w: True for w in ("true", "True", "TRUE")},
    **{w: False for w in ("false", "False", "FALSE")},
}
_NUMBER_START = frozenset("0123456789+-.")


def _resolve_plain(text: str):
    """A plain scalar's value under the YAML 1.2 core schema."""
    if text in _WORDS:
        return _WORDS[text]
    if text[0] not in _NUMBER_START:  # most strings: no pattern below can match them
        return text
    if text.isdigit() and text.isascii():  # most numbers of inline data
        return int(text)
    if _DEC_RE.match(text):
        return int(text)
    if _OCT_RE.match(text):
        return int(text[2:], 8)
    if _HEX_RE.match(text):
        return int(text[2:], 16)
    if _FLOAT_RE.match(text):
        return float(text)
    m = _INF_RE.match(text)
    if m:
        return -math.inf if m.group(1) == "-" else math.inf
    if _NAN_RE.match(text):
        return math.nan
    return text


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


class _Builder:
    """Turns composed nodes into plain Python values, recording positions and problems."""

    def __init__(self, filename: str):
        self.filename = filename
        self.source = SourceMap()
        self.diagnostics: list[Diagnostic] = []
        self.expanded = 0
        self._open: set[int] = set()  # ids of nodes being built: an alias to one is a cycle
        self._seen: set = set()
        self._outer_alias: tuple[Pos, Path] = ((None, None), ())

    def problem(self, pos: Pos, path: Path, message: str) -> None:
        # A problem inside an anchored node would be met again at each alias to it.
        if (pos, message) in self._seen:
            return
        self._seen.add((pos, message))
        self.diagnostics.append(
            Diagnostic(self.filename, pos[0], pos[1], format_path(path), message)
        )

    def fatal(self, pos: Pos, path: Path, message: str) -> _Fatal:
        return _Fatal(Diagnostic(self.filename, pos[0], pos[1], format_path(path), message))

    def build(self, node, path: Path, depth: int = 0, in_alias: bool = False, at=None):
        """The value of node at path; at is the position to record (an alias's, if it is one)."""
        if isinstance(node, _AliasRef):
            target = node.target
            if id(target) in self._open:
                raise self.fatal(_pos(node.start_mark), path, "alias refers to itself (a cycle)")
            if not in_alias:
                # The outermost alias is the one to blame when the expansion budget runs out.
                self._outer_alias = (_pos(node.start_mark), path)
            return self.build(target, path, depth, True, at or node.start_mark)
        if depth > MAX_DEPTH:
            raise self.fatal(
                _pos(node.start_mark), path, f"nested more than {MAX_DEPTH} levels deep"
            )
        if in_alias:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANDED_NODES:
                raise self.fatal(
                    *self._outer_alias,
                    f"too many nodes after expanding aliases (more than "
                    f"{MAX_ALIAS_EXPANDED_NODES:,}); anchors and aliases may repeat a value, "
                    f"not multiply a document",
                )
        self.source._values.setdefault(path, _pos(at or node.start_mark))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                return self.bad_tag(node, path)
            self._open.add(id(node))
            try:
                return self.sequence(node, path, depth, in_alias)
            finally:
                self._open.discard(id(node))
        if node.tag != _MAP:
            return self.bad_tag(node, path)
        self._open.add(id(node))
        try:
            return self.mapping(node, path, depth, in_alias)
        finally:
            self._open.discard(id(node))

    def sequence(self, node: SequenceNode, path: Path, depth: int, in_alias: bool) -> list:
        if in_alias or depth + 1 > MAX_DEPTH:
            return [
                self.build(item, path + (i,), depth + 1, in_alias)
                for i, item in enumerate(node.value)
            ]
        # Inline data makes a big spec: its plain scalars take the short way (what build and
        # scalar would do for them, without the calls).
        out = []
        where: list[Pos] = []
        for i, item in enumerate(node.value):
            mark = item.start_mark
            where.append((mark.line + 1, mark.column + 1))
            if type(item) is ScalarNode and item.tag == _PLAIN:
                value = _resolve_plain(item.value)
                if type(value) is float and math.isinf(value):
                    value = self.scalar(item, path + (i,))  # reports an overflowing literal
                out.append(value)
            elif type(item) is SequenceNode and item.tag == _SEQ:
                self._open.add(id(item))
                out.append(self.sequence(item, path + (i,), depth + 1, in_alias))
                self._open.discard(id(item))
            else:
                out.append(self.build(item, path + (i,), depth + 1, in_alias))
        self.source._items.setdefault(path, where)
        return out

    def bad_tag(self, node, path: Path):
        tag = _show_tag(node.tag)
        self.problem(
            _pos(node.start_mark),
            path,
            f"unsupported tag {tag!r}; a spec holds only plain values "
            f"(strings, numbers, true/false, null, lists and mappings)",
        )
        return None

    def scalar(self, node: ScalarNode, path: Path):
        text, tag = node.value, node.tag
        if tag == _PLAIN:
            value = _resolve_plain(text)
            if isinstance(value, float) and math.isinf(value) and _FLOAT_RE.match(text):
                self.problem(
                    _pos(node.start_mark),
                    path,
                    f"the number {text} is too large: it overflows to infinity; a spec's "
                    f"numbers must be finite",
                )
                return None
            return value
        if tag == _STR:
            return self.string(text, node, path)
        if tag in (_INT, _FLOAT, _BOOL, _NULL):
            value = _resolve_plain(text)
            if tag == _FLOAT and type(value) is int:
                value = float(value)
            wanted = {_INT: "integer", _FLOAT: "float", _BOOL: "boolean", _NULL: "null"}[tag]
            if _type_name(value) != wanted:
                self.problem(
                    _pos(node.start_mark), path, f"{text!r} is not a valid {_show_tag(tag)}"
                )
                return None
            return value
        return self.bad_tag(node, path)

    def string(self, text: str, node, path: Path) -> str:
        if _SURROGATE_RE.search(text):
            # "\ud83d\ude00" escapes (JSON's way to write one character) arrive as two halves.
            try:
                return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                self.problem(_pos(node.start_mark), path, "string holds an unpaired \\u surrogate")
        return text

    def mapping(self, node: MappingNode, path: Path, depth: int, in_alias: bool) -> dict:
        out: dict = {}
        first_at: dict[str, Pos] = {}
        merges = []
        for key_node, value_node in node.value:
            key_target = key_node.target if isinstance(key_node, _AliasRef) else key_node
            key_at = _pos(key_node.start_mark)
            if (
                isinstance(key_target, ScalarNode)
                and key_target.tag == _PLAIN
                and key_target.value == "<<"
            ):
                merges.append((key_at, value_node))
                continue
            key = self.key(key_node, key_target, path)
            if key is _NO_VALUE:
                continue
            if key in first_at:
                self.problem(
                    key_at,
                    path + (key,),
                    f"duplicate key {key!r} (first defined at line {first_at[key][0]})",
                )
                continue
            first_at[key] = key_at
            self.source._keys[path + (key,)] = key_at
            out[key] = self.build(value_node, path + (key,), depth + 1, in_alias)
        for key_at, value_node in merges:
            self.merge(out, key_at, value_node, path, depth, in_alias)
        return out

    def key(self, key_node, target, path: Path):
        at = _pos(key_node.start_mark)
        if not isinstance(target, ScalarNode):
            self.problem(at, path, "a mapping key must be a plain string, not a list or mapping")
            return _NO_VALUE
        value = self.scalar(target, path)
        if type(value) is int:
            # class indices ({0: 1.0, 1: 5.0}, Keras's class_weight): a JSON key is a string
            return str(value)
        if not isinstance(value, str):
            if not target.value:
                self.problem(at, path, "empty key; keys must be non-empty strings")
            else:
                self.problem(
                    at,
                    path,
                    f"the key {target.value} is read as {_a(_type_name(value))}; keys must be "
                    f"strings: quote it ('{target.value}')",
                )
            return _NO_VALUE
        return value

    def merge(self, out: dict, key_at: Pos, value_node, path: Path, depth: int, in_alias: bool):
        """Adds the keys of a '<<' merge that out does not have yet."""
        in_alias = in_alias or isinstance(value_node, _AliasRef)
        target = value_node.target if isinstance(value_node, _AliasRef) else value_node
        sources = target.value if isinstance(target, SequenceNode) else [value_node]
        for source in sources:
            source_node = source.target if isinstance(source, _AliasRef) else source
            if not isinstance(source_node, MappingNode) or source_node.tag != _MAP:
                self.problem(
                    key_at, path, "a merge key '<<' needs a mapping, or a list of mappings"
                )
                return
            if id(source_node) in self._open:
                raise self.fatal(key_at, path, "merge key '<<' refers to its own mapping")
            # Build into a scratch map so that the merged source's positions do not shadow
            # those of keys written here; then adopt only the keys that are new.
            scratch = _Builder(self.filename)
            scratch.expanded = self.expanded
            scratch._open = self._open
            scratch._seen = self._seen
            scratch._outer_alias = self._outer_alias if in_alias else (key_at, path)
            self._open.add(id(source_node))
            try:
                merged = scratch.mapping(
                    source_node, path, depth, in_alias or isinstance(source, _AliasRef)
                )
            finally:
                self._open.discard(id(source_node))
            self.expanded = scratch.expanded
            self.diagnostics.extend(scratch.diagnostics)
            new = [key for key in merged if key not in out]
            for key in new:
                out[key] = merged[key]
            added = set(new)
            n = len(path)
            tables: tuple[tuple[dict, dict], ...] = (
                (scratch.source._values, self.source._values),
                (scratch.source._keys, self.source._keys),
                (scratch.source._items, self.source._items),
            )
            for table, mine in tables:
                for p, pos in table.items():
                    if len(p) > n and p[n] in added:
                        mine.setdefault(p, pos)


def _decode(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError(
            [
                Diagnostic(
                    filename,
                    line,
                    col,
                    "",
                    f"file is not valid UTF-8: byte 0x{data[e.start]:02x} at offset {e.start} "
                    f"(line {line}); save the spec as UTF-8",
                )
            ]
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _too_big(filename: str, size: int) -> SpecError:
    return SpecError(
        [
            Diagnostic(
                filename,
                None,
                None,
                "",
                f"file is too large ({size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,})",
            )
        ]
    )


def _one(filename: str, message: str, pos: Pos = (None, None)) -> SpecError:
    return SpecError([Diagnostic(filename, pos[0], pos[1], "", message)])


def _line_col(text: str, index: int) -> Pos:
    line = text.count("\n", 0, index) + 1
    return (line, index - (text.rfind("\n", 0, index) + 1) + 1)


def _char_at(text: str, line: int, col: int) -> str | None:
    """The character at a 0-based line and column of text, if there is one."""
    start = 0
    for _ in range(line):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    row = text[start : end if end >= 0 else len(text)]
    return row[col] if 0 <= col < len(row) else None


def _syntax_error(e: yaml.MarkedYAMLError, filename: str, text: str) -> SpecError:
    mark = e.problem_mark or e.context_mark
    problem = e.problem or ""
    if problem == "found character that cannot start any token" and mark is not None:
        # libyaml's words (a big document, see _compose); PyYAML's name the character
        char = _char_at(text, mark.line, mark.column)
        if char is not None:
            problem = f"found character {char!r} that cannot start any token"
    message = f"invalid YAML: {problem or e.context}"
    if e.context and e.problem:
        where = ""
        if e.context_mark is not None and (
            mark is None or (e.context_mark.line, e.context_mark.column) != (mark.line, mark.column)
        ):
            where = f" at line {e.context_mark.line + 1}, column {e.context_mark.column + 1}"
        message += f" ({e.context}{where})"
    indentation = ("block end", "mapping values are not allowed", "'-' indicator", "expected key")
    if any(words in problem for words in indentation):
        message += "; check the indentation"
    elif "'\\t'" in problem or "tab character" in problem:
        message += "; indent with spaces, not tabs"
    return _one(filename, message, _pos(mark) if mark is not None else (None, None))


def _compose_with(composer: type, text: str, filename: str):
    loader = composer(text)
    try:
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            raise _one(filename, "file is empty; a spec is a YAML mapping (key: value lines)")
        root = loader.compose_document()
        if not loader.check_event(StreamEndEvent):
            event = loader.peek_event()
            raise _one(
                filename,
                "found a second YAML document ('---'); a spec file holds exactly one",
                _pos(event.start_mark),
            )
        return root
    finally:
        loader.dispose()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a document is built: a big one is millions of new
    containers, none of them in a cycle, and the collector's repeated passes over them took twice
    as long as building them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compose(text: str, filename: str):
    """The document's root node, parsed by libyaml when present.

    What libyaml refuses is parsed again in pure Python: its error messages are the ones the hints
    are written for, and it accepts the JSON-style surrogate pair escapes that libyaml refuses. A
    document over PY_REPARSE_MAX_CHARS is not (the pure-Python parser would take minutes on the
    largest): libyaml's error stands, and an invalid character is located by PyYAML's reader,
    which counts characters where libyaml counts bytes.
    """
    if _COMPOSER is not _PyComposer:
        try:
            return _compose_with(_COMPOSER, text, filename)
        except yaml.reader.ReaderError:
            if len(text) > PY_REPARSE_MAX_CHARS:
                yaml.reader.Reader(text)  # raises the same error, at its character offset
                raise
        except yaml.MarkedYAMLError as e:
            escape = "escape" in (e.problem or "")  # \ud83d\ude00: PyYAML reads it
            if len(text) > PY_REPARSE_MAX_CHARS and not escape:
                raise
        except yaml.YAMLError:
            pass
    return _compose_with(_PyComposer, text, filename)


def load_yaml(source: str | bytes, filename: str) -> tuple[object, SourceMap]:
    """Parses one spec document into plain values and their positions; raises SpecError."""
    if isinstance(source, bytes):
        if len(source) > MAX_SPEC_BYTES:
            raise _too_big(filename, len(source))
        text = _decode(source, filename)
    else:
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > MAX_SPEC_BYTES:
            raise _too_big(filename, size)
        text = source[1:] if source.startswith("\ufeff") else source

    with gc_paused():
        return _load_text(text, filename)


def _load_text(text: str, filename: str) -> tuple[object, SourceMap]:
    """load_yaml of decoded text within its size limit."""
    try:
        root = _compose(text, filename)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, filename, text) from None
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise _one(
            filename,
            f"invalid character U+{char:04X} in the file ({e.reason})",
            _line_col(text, e.position),
        ) from None
    except RecursionError:
        raise _one(filename, f"nested too deeply (a spec is at most {MAX_DEPTH} levels)") from None

    if isinstance(root, ScalarNode) and root.tag == _PLAIN and _resolve_plain(root.value) is None:
        raise _one(filename, "file is empty; a spec is a YAML mapping (key: value lines)")
    if not isinstance(root, MappingNode):
        if isinstance(root, SequenceNode):
            described = "a list"
        else:
            value = _resolve_plain(root.value) if root.tag == _PLAIN else root.value
            described = f"{_a(_type_name(value))} ({root.value!r})"
        raise _one(
            filename,
            f"the top level of a spec must be a mapping (key: value lines), not {described}",
            _pos(root.start_mark),
        )

    builder = _Builder(filename)
    try:
        data = builder.build(root, ())
    except _Fatal as e:
        raise SpecError([e.diagnostic]) from None
    except RecursionError:
        raise _one(filename, f"nested too deeply (a spec is at most {MAX_DEPTH} levels)") from None
    if builder.diagnostics:
        raise SpecError(sorted(builder.diagnostics, key=_diagnostic_order))
    return data, builder.source


def _diagnostic_order(d: Diagnostic):
    return (d.line or 0, d.col or 0)


def read_spec_file(path: str | os.PathLike) -> tuple[object, SourceMap]:
    """Reads and loads a spec file; every way it can fail is one SpecError diagnostic."""
    filename = os.fspath(path)
    if isinstance(filename, bytes):
        filename = os.fsdecode(filename)
    try:
        if os.path.isdir(filename):
            raise _one(filename, "is a directory, not a spec file")
        with open(filename, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_SPEC_BYTES:
                raise _too_big(filename, size)
            # Read one byte past the limit: pipes and special files report no size.
            data = f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise _one(filename, "file not found") from None
    except IsADirectoryError:
        raise _one(filename, "is a directory, not a spec file") from None
    except PermissionError:
        raise _one(filename, "cannot read the file: permission denied") from None
    except OSError as e:
        raise _one(filename, f"cannot read the file: {e.strerror or e}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise _too_big(filename, len(data))
    return load_yaml(data, filename)
