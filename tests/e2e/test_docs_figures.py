"""docs/make_figures.py makes the README's figures from real runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_make_figures_trains_and_draws(tmp_path, capsys):
    from matplotlib.image import imread

    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert imread(tmp_path / "training-progress.png").shape[:2] == (640, 800)  # two panels
    lines = out.splitlines()
    k = lines.index("$ nnc predict runs/iris-csv-1 --input iris.csv | head -3")
    assert [line.split()[0] for line in lines[k + 1 : k + 4]] == ["setosa"] * 3
    assert "label,p_setosa,p_versicolor,p_virginica" in lines
