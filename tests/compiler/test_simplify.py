"""The graph simplification removes repeated, neutral and dead nodes and changes no value."""

from __future__ import annotations

import numpy as np

from nnc.compiler.builder import GraphBuilder
from nnc.compiler.simplify import simplify
from nnc.runtime.interpreter import Interpreter


def test_repeats_neutral_and_dead_nodes_go_and_values_stay():
    b = GraphBuilder("g", np.float64)
    b.add_input("x", [2, 3])
    b.add_input("y", [2, 3])
    d1 = b.op("Sub", ["x", "y"])
    d2 = b.op("Sub", ["x", "y"])  # the same as d1
    one = b.op("Mul", [b.op("Mul", [d1, d2]), b.scalar(1.0)])  # * 1
    zero = b.op("Add", [b.scalar(0.0), one])  # 0 +
    b.op("Exp", ["x"])  # read by nothing
    b.rename(b.op("ReduceSum", [zero], keepdims=0), "out")
    b.add_output("out", [])
    model = b.model()
    feeds = {"x": np.arange(6.0).reshape(2, 3), "y": np.ones((2, 3))}
    before = Interpreter(model).run(["out"], feeds)[0]
    simplified = simplify(model)
    assert [n.op_type for n in simplified.graph.node] == ["Sub", "Mul", "ReduceSum"]
    assert Interpreter(simplified).run(["out"], feeds)[0] == before
    assert not [t for t in simplified.graph.initializer if t.name.startswith("const")]
