"""The generated reference documents the data section key by key, from the schema that validates
it, as it documents the layers (and it is what docs/spec-reference.md holds: see
tests/e2e/test_schema_file.py)."""

import re

import pytest

from nnc.compiler.spec.data_schema import data_schema
from nnc.compiler.spec.reference import reference
from nnc.compiler.spec.shorthands import shorthands

TEXT = reference()


def section(title: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", TEXT, re.M)
    assert match, f"no section {title!r}"
    level = len(match.group(1))
    rest = TEXT[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def keys_in(text: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", text, re.M)


def _mapping(schema):
    for branch in schema.get("oneOf", []):
        if branch.get("type") == "object":
            return branch
    return schema


@pytest.mark.parametrize("source", ["inline", "csv", "npz", "idx"])
def test_each_source_lists_its_keys(source):
    schema = _mapping(data_schema()["properties"][source])
    assert keys_in(section(f"`data.{source}`")) == list(schema["properties"])


def test_builtin_lists_its_sets():
    text = section("`data.builtin`")
    for name in ("iris", "digits", "xor", "sine"):
        assert f"- `{name}`: " in text


@pytest.mark.parametrize(
    "title, keys",
    [
        ("`data.preprocess.x`", ["standardize", "minmax", "scale"]),
        ("`data.preprocess.y`", ["one_hot"]),
        ("`data.preprocess.x.minmax`", ["min", "max"]),
        ("data.split", ["test", "validation", "seed", "shuffle", "stratify"]),
        ("data.validation", ["inline", "csv", "npz", "idx"]),
        ("data.test", ["inline", "csv", "npz", "idx"]),
    ],
)
def test_preprocess_split_and_parts_list_their_keys(title, keys):
    assert keys_in(section(title)) == keys


def test_csv_rows_carry_type_default_and_description():
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", section("`data.csv`"), re.M))
    assert rows["path"] == "string | required | CSV file, relative to the spec's folder"
    assert rows["delimiter"].startswith('string | `","` | field separator')
    assert rows["target"].startswith("string or integer or array | — | target column(s)")


def test_every_shorthand_is_in_the_reference():
    text = section("shorthands")
    for s in shorthands():
        for short, long in s.examples:
            assert f"| `{short}` | `{long}` |" in text


def test_loss_options_have_their_table():
    text = section("`cross_entropy`")
    assert keys_in(text) == ["class_weight"]
    assert "Keras's class_weight" in text
