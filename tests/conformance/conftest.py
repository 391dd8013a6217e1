import pytest


def pytest_collection_modifyitems(config, items):
    """The default run keeps the conformance cells marked slow out; `-m conformance` runs them."""
    if "conformance" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow conformance cell: run with -m conformance")
    for item in items:
        if item.get_closest_marker("conformance") and item.get_closest_marker("slow"):
            item.add_marker(skip)
