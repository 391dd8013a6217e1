"""The conformance suite's selection (slow cells only under -m conformance) and its record: every
cell's outcome and numbers, written at the end of the session to results.json, from which
scripts/conformance/table.py writes the tables of the README."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conformance.runners import CACHE

RESULTS = Path(os.environ.get("NNC_CONFORMANCE_RESULTS", CACHE / "results.json"))
_cells: dict[tuple[str, str, str], dict] = {}


def record(cell: dict, status: str, **extra) -> None:
    """The outcome of one cell: passed, failed, known (a recorded failure) or skipped."""
    _cells[(cell["spec"], cell["runtime"], cell["mode"])] = {**cell, "status": status, **extra}


def pytest_collection_modifyitems(config, items):
    """The default run keeps the conformance cells marked slow out; `-m conformance` runs them."""
    if "conformance" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow conformance cell: run with -m conformance")
    for item in items:
        if item.get_closest_marker("conformance") and item.get_closest_marker("slow"):
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    if not _cells:
        return
    from conformance.runners import RUNNERS

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    versions = {}
    for name, runner in RUNNERS.items():
        ok, why = runner.available()
        versions[name] = why if ok else None
    document = {"versions": versions, "cells": sorted(_cells.values(), key=_order)}
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")


def _order(cell: dict):
    return cell["mode"], cell["spec"], cell["runtime"]
