"""A tape-style ONNX graph builder with scoped, deterministic names and a constant cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nnc.compiler.opset import DOMAIN, IR_VERSION, OPSET

Shape = Sequence[int | str | None]


def elem_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


@dataclass
class Region:
    kind: str
    start: int  # node index range [start, end) in the builder
    end: int
    inputs: list[str]  # "" for an absent optional input
    outputs: list[str]
    saved: dict[str, str]
    attrs: dict


class GraphBuilder:
    """Appends nodes in topological order; every name is derived from the scope stack."""

    def __init__(self, name: str, dtype=np.float32):
        self.name = name
        self.dtype = np.dtype(dtype)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._scopes: list[str] = []
        self._counts: dict[str, int] = {}
        self._consts: dict[tuple, str] = {}
        self._taken: set[str] = set()
        self._renamed: dict[str, str] = {}
        self._memo: dict[str, str] = {}
        self.regions: list[Region] = []
        # outer-scope values a subgraph reads (declared for standalone shape inference only)
        self.outer: list[onnx.ValueInfoProto] = []

    def child(self, name: str) -> GraphBuilder:
        """A builder for a subgraph (e.g. a Scan body) with its own nodes, inputs and outputs.
        Names, the constant cache and the initializers are shared with this builder: names stay
        unique across the model, and constants live in the outermost graph, which a subgraph
        reads by lexical scope."""
        sub = GraphBuilder(name, self.dtype)
        sub.initializers = self.initializers
        sub._consts, sub._counts, sub._taken = self._consts, self._counts, self._taken
        sub._scopes = list(self._scopes)
        return sub

    def refer(self, name: str, shape: Shape, dtype=None) -> str:
        """Declare that this subgraph reads `name` from an enclosing graph."""
        dt = self.dtype if dtype is None else dtype
        self.outer.append(helper.make_tensor_value_info(name, elem_type(dt), list(shape)))
        return name

    def graph(self) -> onnx.GraphProto:
        """This builder's nodes as a subgraph (no initializers: they belong to the outer graph)."""
        return helper.make_graph(self.nodes, self.name, self.inputs, self.outputs)

    # -- names ---------------------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    def fresh(self, stem: str) -> str:
        prefix = "/".join(self._scopes)
        base = f"{prefix}/{stem}" if prefix else stem
        k = self._counts.get(base, 0)
        self._counts[base] = k + 1
        name = f"{base}_{k}"
        while name in self._taken:  # a user-chosen name can shadow a generated one
            k += 1
            self._counts[base] = k + 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    # -- graph parts ---------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, **attrs):
        """Append one node; returns its output name (or a list of names for several outputs)."""
        node_name = self.fresh(op_type)
        if isinstance(outputs, int):
            names = [node_name if i == 0 else f"{node_name}:{i}" for i in range(outputs)]
            single = outputs == 1
        else:
            names = list(outputs)
            single = len(names) == 1
        self._taken.update(n for n in names if n)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        inputs = [self._renamed.get(i, i) for i in inputs]
        node = helper.make_node(op_type, inputs, names, name=node_name, domain=DOMAIN, **attrs)
        self.nodes.append(node)
        return names[0] if single else names

    def const(self, value, dtype=None) -> str:
        arr = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        name = self._consts.get(key)
        if name is None:
            name = self.fresh("const")
            self._consts[key] = name
            self.initializers[name] = arr
        return name

    def mark_region(self, kind: str, start: int, inputs, outputs, saved=None, **attrs) -> None:
        """Nodes [start, now) compute `outputs` from `inputs` as one unit whose gradient is the
        region rule of `kind` (autodiff/core.py); `saved` names inner values that rule reads."""
        self.regions.append(
            Region(
                kind, start, len(self.nodes), list(inputs), list(outputs), dict(saved or {}), attrs
            )
        )

    def memo(self, key: str, make) -> str:
        """A value computed once per graph (e.g. a bias correction that every parameter uses)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def scalar(self, value: float) -> str:
        return self.const(value)

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.asarray(values, dtype=np.int64), dtype=np.int64)

    def count(self, x: str) -> str:
        """The number of elements of `x` as a scalar of the graph's float type. Spelt
        ReduceProd(Shape(x)) rather than Size, which some runtimes (tinygrad) mistype."""
        n = self.op("ReduceProd", [self.op("Shape", [x])], keepdims=0)
        return self.op("Cast", [n], to=elem_type(self.dtype))

    def reverse(self, x: str, axis: int = 0) -> str:
        """`x` in reverse order along `axis`: a Slice with step -1, which every runtime runs (a
        Scan's reverse directions are not: onnx.reference refuses them)."""
        big = np.iinfo(np.int64).max
        return self.op(
            "Slice", [x, self.ints([-1]), self.ints([-big]), self.ints([axis]), self.ints([-1])]
        )

    def one_hot(self, labels: str, depth: int) -> str:
        """[N] int64 labels -> [N, depth] rows of 0/1 in the graph's float type. Built from Equal
        against a constant range rather than OneHot, which some runtimes lack for float64."""
        hit = self.op(
            "Equal", [self.op("Unsqueeze", [labels, self.ints([-1])]), self.ints(range(depth))]
        )
        return self.op("Cast", [hit], to=elem_type(self.dtype))

    def add_input(self, name: str, shape: Shape, dtype=None) -> str:
        dt = self.dtype if dtype is None else dtype
        self.inputs.append(helper.make_tensor_value_info(name, elem_type(dt), list(shape)))
        self._taken.add(name)
        return name

    def add_output(self, name: str, shape: Shape | None, dtype=None) -> str:
        dt = self.dtype if dtype is None else dtype
        shp = None if shape is None else list(shape)
        self.outputs.append(helper.make_tensor_value_info(name, elem_type(dt), shp))
        return name

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        if name in self.initializers:
            raise ValueError(f"duplicate initializer {name!r}")
        self.initializers[name] = np.asarray(value)
        self._taken.add(name)
        return name

    def rename(self, old: str, new: str) -> str:
        """Give the value `old` the graph-level name `new`: the producing node's output is renamed
        in place (an Identity node costs a kernel launch per step), unless `old` is a graph input,
        an initializer or already a graph output."""
        old = self._renamed.get(old, old)  # renamed before: alias its new name
        producer = next((n for n in reversed(self.nodes) if old in n.output), None)
        outputs = {o.name for o in self.outputs}
        if producer is None or old in outputs or new in self._taken:
            return self.op("Identity", [old], [new])
        self._renamed[old] = new
        for n in self.nodes:
            for i, name in enumerate(n.input):
                if name == old:
                    n.input[i] = new
            for i, name in enumerate(n.output):
                if name == old:
                    n.output[i] = new
        for key, name in list(self._consts.items()):
            if name == old:
                self._consts[key] = new
        for r in self.regions:
            r.inputs = [new if v == old else v for v in r.inputs]
            r.outputs = [new if v == old else v for v in r.outputs]
            r.saved = {k: new if v == old else v for k, v in r.saved.items()}
        self._taken.add(new)
        return new

    def model(self, doc: str = "", metadata: dict[str, str] | None = None) -> onnx.ModelProto:
        inits = [numpy_helper.from_array(v, k) for k, v in self.initializers.items()]
        graph = helper.make_graph(
            self.nodes,
            self.name,
            self.inputs + self.outer,
            self.outputs,
            initializer=inits,
            doc_string=doc,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid(DOMAIN, OPSET)],
            producer_name="nnc",
            ir_version=IR_VERSION,
        )
        from nnc.compiler import __version__

        model.producer_version = __version__
        for k, v in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = k, v
        return model


def float_type(dtype) -> int:
    return TensorProto.DOUBLE if np.dtype(dtype) == np.float64 else TensorProto.FLOAT
