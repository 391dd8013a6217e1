"""nnc graph: a node per layer with its output shape and parameters, an edge per connection."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nnc.runtime.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
RESIDUAL = ROOT / "examples" / "residual-mlp.yaml"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)"
)

# examples/residual-mlp.yaml, read by hand: stem <- input, block <- stem, skip = add(stem, block),
# both = concat(skip, input), head <- both
RESIDUAL_EDGES = {
    ("input", "stem"),
    ("stem", "block"),
    ("stem", "skip"),
    ("block", "skip"),
    ("skip", "both"),
    ("input", "both"),
    ("both", "head"),
}
RESIDUAL_NODES = {
    "input": ["input", "[N, 13]"],
    "stem": ["stem", "(dense)", "[N, 32]", "448 params"],  # 13 * 32 + 32
    "block": ["block", "(dense)", "[N, 32]", "1,056 params"],  # 32 * 32 + 32
    "skip": ["skip", "(add)", "[N, 32]"],
    "both": ["both", "(concat)", "[N, 45]"],  # 32 + 13
    "head": ["head", "(dense)", "[N, 3]", "138 params"],  # 45 * 3 + 3
}


def svg_graph(path: Path) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """-> (node title: its texts, {(from, to)}) of an SVG that Graphviz drew."""
    root = ET.parse(path).getroot()
    nodes, edges = {}, set()
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title").text if g.find(f"{SVG}title") is not None else None
        if g.get("class") == "node":
            texts = [(t.text or "").replace("\xa0", " ").strip() for t in g.iter(f"{SVG}text")]
            nodes[title] = [t for t in texts if t]
        elif g.get("class") == "edge":
            a, b = title.split("->")
            edges.add((a, b))
    return nodes, edges


@needs_dot
def test_the_svg_has_a_node_per_layer_and_an_edge_per_connection(tmp_path, capsys):
    out = tmp_path / "net.svg"
    assert main(["graph", str(RESIDUAL), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    nodes, edges = svg_graph(out)
    assert nodes == RESIDUAL_NODES
    assert edges == RESIDUAL_EDGES


@needs_dot
def test_a_cnn_shows_shapes_and_batch_norm_state(tmp_path):
    out = tmp_path / "lenet.svg"
    assert main(["graph", str(SPECS / "lenet.yaml"), "-o", str(out), "--direction", "LR"]) == 0
    nodes, edges = svg_graph(out)
    assert len(nodes) == 16 and len(edges) == 15  # input + 15 layers, one chain
    assert nodes["conv1"] == ["conv1", "(conv2d)", "[N, 16, 28, 28]", "160 params"]
    assert nodes["bn1"][-1] == "32 params + 32 state"
    assert nodes["flatten_11"][2] == "[N, 3136]"
    assert ("flatten_11", "fc1") in edges


@needs_dot
def test_png_and_frozen_layers(tmp_path):
    from matplotlib.image import imread

    out = tmp_path / "net.png"
    assert main(["graph", str(SPECS / "digits-cnn-finetune.yaml"), "-o", str(out)]) == 0
    height, width = imread(out).shape[:2]
    assert height > 2 * width  # a chain drawn top to bottom
    svg = tmp_path / "net.svg"
    assert main(["graph", str(SPECS / "digits-cnn-finetune.yaml"), "-o", str(svg)]) == 0
    nodes, _ = svg_graph(svg)
    assert nodes["conv1"][-1] == "144 params (frozen)"
    assert nodes["head"][-1] == "1,290 params"


def test_the_dot_source_needs_no_graphviz_program(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    out = tmp_path / "net.dot"
    assert main(["graph", str(RESIDUAL), "-o", str(out)]) == 0
    text = out.read_text()
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)$", text, re.M))
    assert edges == RESIDUAL_EDGES
    for name, texts in RESIDUAL_NODES.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{name} ["))
        for t in texts[1:]:
            assert t in line
    code = main(["graph", str(RESIDUAL), "-o", str(tmp_path / "net.svg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "Graphviz's dot program was not found" in err[0] and "apt-get install graphviz" in err[0]
    assert not (tmp_path / "net.svg").exists()


def test_an_unknown_picture_type_is_one_line(tmp_path, capsys):
    assert main(["graph", str(RESIDUAL), "-o", str(tmp_path / "net.jpg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unsupported picture type '.jpg'" in err[0]
