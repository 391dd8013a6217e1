"""Safe YAML loading: YAML 1.2 scalars, refused tags and duplicates, bounded aliases, positions."""

import json
import math
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnc.compiler.spec import loader
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.loader import (
    MAX_ALIAS_EXPANDED_NODES,
    MAX_SPEC_BYTES,
    load_yaml,
    read_spec_file,
)


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def composer(request):
    """Runs every test with libyaml's parser (when installed) and with the pure-Python one."""
    saved = loader._COMPOSER
    if request.param == "python":
        loader._COMPOSER = loader._PyComposer
    elif saved is loader._PyComposer:
        pytest.skip("PyYAML was built without libyaml")
    yield request.param
    loader._COMPOSER = saved


def load(text):
    return load_yaml(text, "spec.yaml")


def errors(text) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text)
    return [str(d) for d in info.value.diagnostics]


def only_error(text) -> str:
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


def file_error(path) -> str:
    with pytest.raises(SpecError) as info:
        read_spec_file(path)
    assert len(info.value.diagnostics) == 1, info.value.diagnostics
    return str(info.value.diagnostics[0])


# --- scalars ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 0.001),
        ("1.0e-3", 0.001),
        ("1E3", 1000.0),
        ("-2.5", -2.5),
        (".5", 0.5),
        ("+1.5e+2", 150.0),
        ("1.", 1.0),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("42", 42),
        ("-7", -7),
        ("+12", 12),
        ("010", 10),  # decimal in YAML 1.2, not octal
        ("0o17", 15),
        ("0x1F", 31),
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("null", None),
        ("Null", None),
        ("~", None),
        ("", None),
        # YAML 1.1 would turn these into booleans, sexagesimal numbers, octal, or dates
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("Yes", "Yes"),
        ("1:30", "1:30"),
        ("1_000", "1_000"),
        ("2024-01-01", "2024-01-01"),
        ("0b101", "0b101"),
        ("'1e-3'", "1e-3"),
        ('"true"', "true"),
        ("'null'", "null"),
        ("'42'", "42"),
        ("|\n  12\n", "12\n"),
    ],
)
def test_scalars_follow_yaml_1_2_core_schema(text, value):
    data, _ = load(f"v: {text}\n")
    assert data["v"] == value
    assert type(data["v"]) is type(value)


def test_nan_is_a_float():
    data, _ = load("a: .nan\nb: .NaN\n")
    assert math.isnan(data["a"]) and math.isnan(data["b"])


@pytest.mark.parametrize(
    "text, value",
    [("!!str 5", "5"), ("!!float 1", 1.0), ("!!int '7'", 7), ("!!bool true", True), ("! 3", "3")],
)
def test_explicit_core_tags(text, value):
    data, _ = load(f"v: {text}\n")
    assert data["v"] == value and type(data["v"]) is type(value)


def test_explicit_core_tag_with_wrong_text():
    assert only_error("a: 1\nv: !!int abc\n") == "spec.yaml:2:4: v: 'abc' is not a valid !!int"


# --- tags that would construct objects --------------------------------------------------------


@pytest.mark.parametrize(
    "text, tag",
    [
        ("!!python/object/apply:os.system ['echo pwned']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!!python/tuple [1, 2]", "!!python/tuple"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!timestamp 2001-12-14", "!!timestamp"),
        ("!foo {a: 1}", "!foo"),
    ],
)
def test_unsafe_or_unknown_tags_are_refused(text, tag):
    message = only_error(f"a: 1\nv: {text}\n")
    assert message.startswith(f"spec.yaml:2:4: v: unsupported tag '{tag}'")


def test_every_bad_tag_is_reported():
    found = errors("a: !foo 1\nb: [1, !!python/none '']\n")
    assert [f.split(": unsupported")[0] for f in found] == [
        "spec.yaml:1:4: a",
        "spec.yaml:2:8: b[1]",
    ]


# --- duplicate and odd keys -------------------------------------------------------------------


def test_duplicate_key_names_both_lines():
    text = "nnc: 1\ninput:\n  shape: [4]\nlayers:\n- units: 3\n  type: dense\n  units: 4\n"
    assert only_error(text) == (
        "spec.yaml:7:3: layers[0].units: duplicate key 'units' (first defined at line 5)"
    )


def test_every_duplicate_is_reported_in_order():
    text = "a: 1\nb:\n  c: 1\n  c: 2\n  c: 3\na: 2\nd: {x: 1, x: 2}\n"
    assert errors(text) == [
        "spec.yaml:4:3: b.c: duplicate key 'c' (first defined at line 3)",
        "spec.yaml:5:3: b.c: duplicate key 'c' (first defined at line 3)",
        "spec.yaml:6:1: a: duplicate key 'a' (first defined at line 1)",
        "spec.yaml:7:11: d.x: duplicate key 'x' (first defined at line 7)",
    ]


def test_keys_must_be_strings():
    found = errors("1.5: a\ntrue: b\n? [x]\n: c\n'2': ok\n")
    assert found[0] == (
        "spec.yaml:1:1: the key 1.5 is read as a float; keys must be strings: quote it ('1.5')"
    )
    assert found[1].startswith("spec.yaml:2:1: the key true is read as a boolean")
    assert found[2].startswith("spec.yaml:3:3: a mapping key must be a plain string")


def test_integer_keys_are_their_decimal_strings():
    """Class indices as keys ({0: 1.0, 1: 5.0}, Keras's class_weight), as JSON would have them."""
    data, source = load("w: {0: 1.0, 0x1: 5.0, '7': 2.0}\n")
    assert data == {"w": {"0": 1.0, "1": 5.0, "7": 2.0}}
    assert source.key_pos(("w", "1")) == (1, 13)
    assert only_error("w: {1: a, '1': b}\n").startswith(
        "spec.yaml:1:11: w.1: duplicate key '1' (first defined at line 1)"
    )


# --- anchors, aliases, merges -----------------------------------------------------------------


def test_aliases_expand_to_equal_values():
    data, source = load("base: &b {units: 3}\nuse: *b\n")
    assert data == {"base": {"units": 3}, "use": {"units": 3}}
    assert source.value_pos(("use",)) == (2, 6)  # the alias itself
    assert source.value_pos(("use", "units")) == (1, 18)  # where the value is written


def test_billion_laughs_is_bounded():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.perf_counter()
    message = only_error("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 5
    assert "too many nodes after expanding aliases" in message
    assert f"{MAX_ALIAS_EXPANDED_NODES:,}" in message


def test_many_aliases_below_the_limit_are_fine():
    data, _ = load("a: &a [1, 2, 3]\nb: [" + ", ".join(["*a"] * 100) + "]\n")
    assert data["b"] == [[1, 2, 3]] * 100


def test_recursive_alias_is_an_error():
    assert "alias refers to itself" in only_error("a: &a [1, *a]\n")


def test_undefined_alias_is_an_error():
    assert (
        only_error("a: 1\nb: *nope\n")
        == "spec.yaml:2:4: invalid YAML: found undefined alias 'nope'"
    )


def test_merge_keys_are_supported():
    text = (
        "defaults: &d {units: 8, activation: relu}\n"
        "more: &m {units: 1, bias: false}\n"
        "layer:\n"
        "  <<: [*d, *m]\n"
        "  units: 16\n"
    )
    data, source = load(text)
    assert data["layer"] == {"units": 16, "activation": "relu", "bias": False}
    assert source.key_pos(("layer", "units")) == (5, 3)  # the explicit key wins, also in positions
    assert source.value_pos(("layer", "activation")) == (1, 37)


def test_merges_count_towards_the_alias_budget(monkeypatch):
    monkeypatch.setattr(loader, "MAX_ALIAS_EXPANDED_NODES", 5000)
    big = "l: &l [{k: [" + ", ".join(["0"] * 1000) + "]}]\n"
    uses = "".join(f"m{i}: {{<<: *l}}\n" for i in range(10))
    assert "too many nodes after expanding aliases" in only_error(big + uses)


def test_merge_of_a_non_mapping_is_an_error():
    assert only_error("a:\n  <<: 3\n") == (
        "spec.yaml:2:3: a: a merge key '<<' needs a mapping, or a list of mappings"
    )


def test_quoted_merge_key_is_an_ordinary_key():
    data, _ = load("a: {'<<': 1}\n")
    assert data == {"a": {"<<": 1}}


# --- positions --------------------------------------------------------------------------------


def test_positions_of_values_and_keys():
    text = "input:\n  shape: [4, 2]\nlayers:\n  - type: dense\n    units: 3\n  - type: relu\n"
    _, source = load(text)
    assert source.value_pos(()) == (1, 1)
    assert source.key_pos(("layers",)) == (3, 1)
    assert source.value_pos(("layers",)) == (4, 3)
    assert source.value_pos(("input", "shape", 1)) == (2, 14)
    assert source.value_pos(("layers", 0)) == (4, 5)
    assert source.key_pos(("layers", 0, "units")) == (5, 5)
    assert source.value_pos(("layers", 0, "units")) == (5, 12)
    assert source.value_pos(("layers", 1, "type")) == (6, 11)


def test_columns_count_characters_not_bytes():
    _, source = load("x: \u00e9\u00e9\U0001f600\ny: [\u00e9\u00e9\U0001f600, 5]\n")
    assert source.value_pos(("y", 1)) == (2, 10)


def test_missing_paths_fall_back_to_the_nearest_ancestor():
    _, source = load("a: 1\nlayers:\n  - type: dense\n")
    assert source.value_pos(("layers", 0, "units")) == (3, 5)
    assert source.key_pos(("layers", 0, "units")) == (3, 5)
    assert source.value_pos(("layers", 7, "x", 2)) == (3, 3)
    assert source.value_pos(("nowhere",)) == (1, 1)


# --- documents that are not specs -------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\n", "# just a comment\n  # another\n", "---\n", "~\n"])
def test_empty_document(text):
    assert (
        only_error(text) == "spec.yaml: file is empty; a spec is a YAML mapping (key: value lines)"
    )


@pytest.mark.parametrize(
    "text, described",
    [("- a\n- b\n", "a list"), ("hello\n", "a string ('hello')"), ("42\n", "an integer ('42')")],
)
def test_top_level_must_be_a_mapping(text, described):
    assert only_error(text) == (
        f"spec.yaml:1:1: the top level of a spec must be a mapping (key: value lines), "
        f"not {described}"
    )


def test_multiple_documents_are_an_error():
    assert only_error("a: 1\n---\nb: 2\n") == (
        "spec.yaml:2:1: found a second YAML document ('---'); a spec file holds exactly one"
    )


@pytest.mark.parametrize(
    "text, where, problem",
    [
        ("a: 1\nb: [1, 2\nc: 3\n", "spec.yaml:3:2", "expected ',' or ']', but got ':'"),
        ("a: 1\n  b: 2\n", "spec.yaml:2:4", "mapping values are not allowed here"),
        ("a:\n\t- 1\n", "spec.yaml:2:1", "found character '\\t' that cannot start any token"),
        ("a: 'open\n", "spec.yaml:2:1", "found unexpected end of stream"),
    ],
)
def test_syntax_errors_have_a_location(text, where, problem):
    message = only_error(text)
    assert message.startswith(f"{where}: invalid YAML: {problem}"), message


def test_control_character_is_reported_at_its_place():
    assert only_error("a: 1\nb: x\x07y\n").startswith(
        "spec.yaml:2:5: invalid character U+0007 in the file"
    )


def test_deep_nesting_is_an_error_not_a_crash():
    assert "nested" in only_error("a: " + "[" * 600 + "]" * 600 + "\n")
    assert "nested more than" in only_error("a: " + "[" * 150 + "]" * 150 + "\n")


def test_byte_order_mark_is_accepted():
    data, _ = load_yaml("\ufeffa: 1\n".encode(), "spec.yaml")
    assert data == {"a": 1}


# --- files ------------------------------------------------------------------------------------


def test_reads_a_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: net\nlr: 1e-3\n", encoding="utf-8")
    data, source = read_spec_file(path)
    assert data == {"name": "net", "lr": 0.001}
    assert source.value_pos(("lr",)) == (2, 5)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert file_error(path) == f"{path}: file not found"


def test_directory(tmp_path):
    assert file_error(tmp_path) == f"{tmp_path}: is a directory, not a spec file"


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "spec.yaml"
    path.write_text("a: 1\n")

    def refuse(*args, **kwargs):  # chmod 0 does not stop root, so refuse the open itself
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(loader, "open", refuse, raising=False)
    assert file_error(path) == f"{path}: cannot read the file: permission denied"


def test_empty_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"")
    assert file_error(path).endswith(": file is empty; a spec is a YAML mapping (key: value lines)")


def test_non_utf8_file_reports_the_first_bad_byte(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: net\nnote: caf\xe9\n")
    assert file_error(path) == (
        f"{path}:2:10: file is not valid UTF-8: byte 0xe9 at offset 19 (line 2); "
        "save the spec as UTF-8"
    )


def test_oversized_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    assert file_error(path) == (
        f"{path}: file is too large ({MAX_SPEC_BYTES + 1:,} bytes; a spec may be at most "
        f"{MAX_SPEC_BYTES:,})"
    )
    with pytest.raises(SpecError, match="too large"):
        load_yaml(b"#" * (MAX_SPEC_BYTES + 1), "spec.yaml")


def test_syntax_error_in_a_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("layers:\n  - type: dense\n   units: 3\n")
    assert file_error(path) == (
        f"{path}:3:4: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block collection at line 2, column 3); check the indentation"
    )


def test_tab_indentation_gets_a_hint():
    assert only_error("a:\n\t- 1\n").endswith("; indent with spaces, not tabs")


def test_escaped_surrogate_pairs_make_one_character():
    data, _ = load('a: "\\ud83d\\ude00"\n')
    assert data == {"a": "\U0001f600"}
    assert "unpaired" in only_error('a: "\\ud83d"\n')


# --- JSON is YAML 1.2 -------------------------------------------------------------------------

# Raw characters PyYAML refuses, or (U+0085, U+2028, U+2029) reads as YAML 1.1 line breaks.
_NOT_YAML_PRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    # no subnormals: an onnxruntime session run earlier in this process (denormals flushed for
    # speed) leaves the thread's flush-to-zero flag set, and hypothesis refuses to draw them
    | st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.text(max_size=6), _json_values, min_size=1, max_size=4))
def test_json_documents_load_as_json_does(doc):
    texts = [json.dumps(doc), json.dumps(doc, indent=2)]
    raw = json.dumps(doc, ensure_ascii=False)
    if not _NOT_YAML_PRINTABLE.search(raw):
        texts.append(raw)
    for text in texts:
        data, _ = load(text)
        assert data == json.loads(text)
