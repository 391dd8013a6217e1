"""Matrix FLOPs of an ONNX graph at a given batch size (MatMul, Gemm, Conv, ConvTranspose; the
bodies of Scan and Loop times their trip counts), and onnxruntime's own MatMul throughput: what
the comparison's GFLOP/s column and its fraction of the MatMul rate are made of. Elementwise ops
are not counted (they are bound by memory, not arithmetic)."""

from __future__ import annotations

import math
import time

import numpy as np
import onnx
from onnx import helper, shape_inference


def _static(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    m = onnx.ModelProto.FromString(model.SerializeToString())

    def fix(graph: onnx.GraphProto) -> None:
        for vi in [*graph.input, *graph.output]:
            for d in vi.type.tensor_type.shape.dim:
                if d.dim_param == "N":
                    d.dim_value = batch
        for n in graph.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    fix(a.g)

    fix(m.graph)
    try:  # onnxruntime's symbolic inference also fills in the shapes inside Scan bodies
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(m, auto_merge=True)
    except Exception:  # noqa: BLE001 - onnx's own inference, bodies counted where it can
        return shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)


def _shapes(graph: onnx.GraphProto, outer: dict) -> dict[str, list[int]]:
    out = dict(outer)
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        dims = [
            d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim
        ]
        out[vi.name] = dims
    for t in graph.initializer:
        out[t.name] = list(t.dims)
    return out


def graph_flops(graph: onnx.GraphProto, shapes: dict[str, list[int]], trips: int = 1) -> int:
    shapes = _shapes(graph, shapes)
    total = 0
    for n in graph.node:
        s = [shapes.get(i, []) for i in n.input]
        y = shapes.get(n.output[0], []) if n.output else []
        at = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type in ("MatMul", "Gemm") and len(s) >= 2 and s[0] and s[1] and y:
            k = s[0][-2] if n.op_type == "Gemm" and at.get("transA") else s[0][-1]
            total += 2 * math.prod(y) * k
        elif n.op_type == "Conv" and len(s) >= 2 and s[1] and y:
            total += 2 * math.prod(y) * math.prod(s[1][1:])
        elif n.op_type == "ConvTranspose" and len(s) >= 2 and s[1] and s[0]:
            total += 2 * math.prod(s[0]) * math.prod(s[1][1:])
        elif n.op_type in ("Scan", "Loop"):
            steps = 0
            if n.op_type == "Scan":
                k = at["num_scan_inputs"]
                first = s[len(s) - k] if k else []
                steps = first[0] if first else 0
            total += graph_flops(at["body"], shapes, 1) * steps
    return total * trips


def step_flops(model: onnx.ModelProto, batch: int) -> int:
    m = _static(model, batch)
    return graph_flops(m.graph, {})


def matmul_gflops(size: int = 1024, repeats: int = 5, threads: int | None = None) -> float:
    """onnxruntime's float32 MatMul rate on size^3, best of `repeats` blocks."""
    import onnxruntime as ort

    x = helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [size, size])
    y = helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [size, size])
    b = helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [size, size])
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm", [x, b], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"a": rng.random((size, size), np.float32), "b": rng.random((size, size), np.float32)}
    s.run(None, feeds)
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(5):
            s.run(None, feeds)
        best = min(best, (time.perf_counter() - t) / 5)
    return 2 * size**3 / best / 1e9
