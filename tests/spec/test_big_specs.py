"""A spec as big as the loader takes (4 MiB, inline data) loads, or is refused, in time linear in
its size: a tab on the last line of one took minutes to report, most of it re-parsing the whole
document in pure Python and the garbage collector's passes over millions of new containers."""

import time

import pytest

from nnc.compiler.spec import loader
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.loader import MAX_SPEC_BYTES, PY_REPARSE_MAX_CHARS, load_yaml
from nnc.compiler.spec.model import parse_spec

HEAD = "nnc: 1\ninput: {shape: [2]}\nlayers:\n  - {type: dense, units: 1}\nloss: mse\n"


def big_spec(size: int, flow: bool) -> str:
    """A valid spec of at most `size` bytes (and not much less), nearly all of it inline data."""
    rows = size // 16
    while True:
        if flow:  # one line of flow sequences each
            x = "    x: [" + ", ".join(f"[{i % 7}, {i % 5}]" for i in range(rows)) + "]\n"
            y = "    y: [" + ", ".join(f"[{i % 2}]" for i in range(rows)) + "]\n"
        else:
            x = "    x:\n" + "".join(f"      - [{i % 7}, {i % 5}]\n" for i in range(rows))
            y = "    y:\n" + "".join(f"      - [{i % 2}]\n" for i in range(rows))
        text = HEAD + "data:\n  inline:\n" + x + y
        if size - 20_000 < len(text) <= size:
            return text
        rows = int(rows * (size - 10_000) / len(text))


def cpu_seconds(fn) -> float:
    """CPU time of fn(): what the code costs; the wall time on a shared machine is the load's."""
    start = time.process_time()
    fn()
    return time.process_time() - start


@pytest.fixture(params=["libyaml", "python"])
def composer(request):
    saved = loader._COMPOSER
    if request.param == "python":
        loader._COMPOSER = loader._PyComposer
    elif saved is loader._PyComposer:
        pytest.skip("PyYAML was built without libyaml")
    yield request.param
    loader._COMPOSER = saved


@pytest.mark.slow
@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
def test_a_4_mib_spec_loads_in_bounded_time(flow):
    text = big_spec(MAX_SPEC_BYTES - 1000, flow)
    assert MAX_SPEC_BYTES - 30_000 < len(text.encode()) <= MAX_SPEC_BYTES
    spec = None

    def load():
        nonlocal spec
        spec = parse_spec(text, "big.yaml")

    assert cpu_seconds(load) < 10
    assert len(spec.data["inline"]["x"]) == len(spec.data["inline"]["y"]) > 100_000


@pytest.mark.slow
@pytest.mark.parametrize("flow", [False, True], ids=["block", "flow"])
def test_a_tab_on_the_last_line_of_a_4_mib_spec_is_reported_in_bounded_time(flow):
    text = big_spec(MAX_SPEC_BYTES - 1000, flow) + "\tname: x\n"
    last_line = text.count("\n")
    found = []

    def load():
        with pytest.raises(SpecError) as info:
            parse_spec(text, "big.yaml")
        found.extend(str(d) for d in info.value.diagnostics)

    assert cpu_seconds(load) < 10
    assert found == [
        f"big.yaml:{last_line}:1: invalid YAML: found character '\\t' that cannot start any token "
        "(while scanning for the next token); indent with spaces, not tabs"
    ]


@pytest.mark.slow
def test_load_time_grows_linearly():
    """Four times the size costs about four times the time, not sixteen."""
    small, large = big_spec(MAX_SPEC_BYTES // 4, True), big_spec(MAX_SPEC_BYTES, True)
    small += "\tname: x\n"
    large += "\tname: x\n"

    def refuse(text):
        with pytest.raises(SpecError):
            load_yaml(text, "spec.yaml")

    # the best of three each: a busy machine (CI, other jobs) inflates single CPU-time readings
    best_small = min(cpu_seconds(lambda: refuse(small)) for _ in range(3))
    best_large = min(cpu_seconds(lambda: refuse(large)) for _ in range(3))
    assert best_large / best_small < 8, f"{best_large:.3f} s vs {best_small:.3f} s"


def test_syntax_errors_of_big_documents_keep_their_place_and_hint(composer):
    pad = "# " + "x" * 70 + "\n"
    filler = pad * (PY_REPARSE_MAX_CHARS // len(pad) + 1)
    for text, where, message in [
        ("a:\n\t- 1\n", "2:1", "found character '\\t' that cannot start any token"),
        ("a: 1\n\tb: 2\n", "2:1", "indent with spaces, not tabs"),
        ("a:\n  - 1\n  b: 2\n", "3:3", "check the indentation"),
        ("a: [1, 2\nb: 3\n", "2:2", "invalid YAML"),
    ]:
        lines = filler.count("\n")
        with pytest.raises(SpecError) as info:
            load_yaml(filler + text, "big.yaml")
        (d,) = info.value.diagnostics
        line, col = where.split(":")
        assert (d.line, d.col) == (lines + int(line), int(col)), str(d)
        assert message in d.message


def test_invalid_character_in_a_big_document_is_placed_in_characters(composer):
    pad = "# " + "é" * 70 + "\n"  # two bytes a character: libyaml counts bytes
    filler = pad * (PY_REPARSE_MAX_CHARS // len(pad) + 1)
    with pytest.raises(SpecError) as info:
        load_yaml(filler + "a: éé\x07\n", "big.yaml")
    (d,) = info.value.diagnostics
    assert (d.line, d.col) == (filler.count("\n") + 1, 6)
    assert d.message.startswith("invalid character U+0007")


def test_escaped_surrogates_in_a_big_document_still_load(composer):
    filler = "# padding\n" * (PY_REPARSE_MAX_CHARS // 10 + 1)
    data, _ = load_yaml(filler + 'a: "\\ud83d\\ude00"\n', "big.yaml")
    assert data == {"a": "\U0001f600"}


def test_positions_of_inline_data_items(composer):
    data, source = load_yaml("x:\n  - [1, 2]\n  - [3, 4]\ny: [5, [6, 7]]\n", "s.yaml")
    assert data == {"x": [[1, 2], [3, 4]], "y": [5, [6, 7]]}
    assert source.value_pos(("x", 1)) == (3, 5)
    assert source.value_pos(("x", 1, 1)) == (3, 9)
    assert source.value_pos(("y", 1, 0)) == (4, 9)
    assert source.value_pos(("y", 0)) == (4, 5)
    assert source.value_pos(("y", 5)) == (4, 4)  # no such item: the list itself
    assert len(source) == 13  # the document; x, its 2 rows, 4 numbers; y, its 2 items, 2 numbers
