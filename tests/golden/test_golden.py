"""The compiler emits exactly the checked-in golden graphs (tests/golden/regenerate.py)."""

import pytest

from golden.regenerate import KINDS, SPECS, path_of, render


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("kind", KINDS)
def test_emitted_graph_matches_golden(name, kind):
    expected = path_of(name, kind).read_text()
    assert render(SPECS[name], kind) == expected, (
        f"the {kind} graph of {name} changed: if intended, run "
        "`.venv/bin/python tests/golden/regenerate.py` and review the diff"
    )
