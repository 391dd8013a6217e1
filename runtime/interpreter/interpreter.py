"""The interpreter: loads an ONNX model, checks it up front, runs it node by node."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, helper, numpy_helper

from nnc.runtime.interpreter.dtypes import DTYPES
from nnc.runtime.interpreter.errors import InterpreterError, UnsupportedOpError
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import kernel_for, supported_ops

Observer = Callable[[NodeProto, dict[str, np.ndarray]], None]

_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class _Step:
    """One node, ready to run: its kernel, attribute values, and the values it can free.

    `reads` are the values the node needs from its scope: its inputs and the enclosing-scope
    values its subgraphs (graph attributes) read, which pruning and freeing must respect.
    """

    index: int
    node: NodeProto
    kernel: Kernel
    attributes: dict[str, Any]
    label: str
    reads: list[str] = field(default_factory=list)
    subgraphs: dict[str, _Graph] = field(default_factory=dict)
    frees: list[str] = field(default_factory=list)


def _load(model: ModelProto | str | os.PathLike | bytes) -> ModelProto:
    if isinstance(model, ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    if isinstance(model, (str, os.PathLike)):
        return onnx.load(os.fspath(model))
    raise TypeError(f"expected a ModelProto, a path or bytes, got {type(model).__name__}")


def _sparse_to_dense(sparse: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices).astype(np.int64)
    dense = np.zeros(tuple(sparse.dims), dtype=values.dtype)
    if indices.ndim == 1:
        dense.reshape(-1)[indices] = values
    else:
        dense[tuple(indices.T)] = values
    return dense


def _attribute_value(attribute: AttributeProto) -> Any:
    """An attribute as a Python value: ints, floats, str, lists of them, or numpy arrays."""
    kind = attribute.type
    if kind == AttributeProto.TENSOR:
        return numpy_helper.to_array(attribute.t)
    if kind == AttributeProto.TENSORS:
        return [numpy_helper.to_array(t) for t in attribute.tensors]
    if kind == AttributeProto.SPARSE_TENSOR:
        return _sparse_to_dense(attribute.sparse_tensor)
    if kind == AttributeProto.STRING:
        return attribute.s.decode("utf-8")
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8") for s in attribute.strings]
    if kind == AttributeProto.GRAPHS:
        raise InterpreterError(f"attribute {attribute.name!r} is a list of graphs: not supported")
    if kind == AttributeProto.UNDEFINED:
        raise InterpreterError(f"attribute {attribute.name!r} has no type")
    return helper.get_attribute_value(attribute)


def _shape_str(value: Any) -> str:
    if value is None:
        return "absent"
    array = np.asarray(value)
    return f"{array.dtype}{list(array.shape)}"


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _node_name(node: NodeProto, index: int, path: str) -> str:
    """A node's name, qualified by the path of the subgraph that holds it (`scan/body/add`)."""
    return path + (node.name or f"#{index}")


def _op_name(node: NodeProto) -> str:
    return node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"


def _find_missing_kernels(graph: GraphProto, path: str, missing: dict[str, list[str]]) -> None:
    """Add the nodes of `graph` and of its subgraphs that have no kernel to `missing`."""
    for index, node in enumerate(graph.node):
        if node.domain not in _DEFAULT_DOMAINS or kernel_for(node.op_type) is None:
            missing.setdefault(_op_name(node), []).append(_node_name(node, index, path))
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                inner = f"{_node_name(node, index, path)}/{attribute.name}/"
                _find_missing_kernels(attribute.g, inner, missing)


def _run_step(step: _Step, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Run one node on the values of its scope; return its outputs by name."""
    inputs = [values[name] if name else None for name in step.node.input]
    attributes = step.attributes
    if step.subgraphs:
        attributes = dict(attributes)
        for name, graph in step.subgraphs.items():
            attributes[name] = Subgraph(graph, {read: values[read] for read in graph.outer_reads})
    try:
        results = step.kernel.run(*inputs, **attributes)
    except InterpreterError as exc:
        if not step.subgraphs:
            raise
        # A failure inside a subgraph already names the inner node and its inputs.
        raise InterpreterError(f"{step.label} failed: {exc}") from exc
    except Exception as exc:
        shapes = ", ".join(
            f"{name or '<absent>'}: {_shape_str(value)}"
            for name, value in zip(step.node.input, inputs, strict=False)
        )
        raise InterpreterError(
            f"{step.label} failed: {type(exc).__name__}: {exc} [inputs: {shapes}]"
        ) from exc
    if not isinstance(results, tuple):
        raise InterpreterError(f"{step.label}: kernel returned {type(results).__name__}")
    produced = {}
    for position, name in enumerate(step.node.output):
        if not name:
            continue
        if position >= len(results) or results[position] is None:
            raise InterpreterError(f"{step.label}: the kernel did not compute output {name!r}")
        produced[name] = np.asarray(results[position])
    return produced


class _Graph:
    """A graph checked and planned once: the main graph, or a node's graph attribute.

    A subgraph may read values of the enclosing scopes by name (ONNX lexical scoping), but only
    those defined before its node; `outer_reads` names them.
    """

    def __init__(self, graph: GraphProto, opset: int, path: str, outer: frozenset[str]):
        self.path = path
        self.opset = opset
        self.initializers: dict[str, np.ndarray] = {}
        for tensor in graph.initializer:
            self.initializers[tensor.name] = _frozen(numpy_helper.to_array(tensor))
        for sparse in graph.sparse_initializer:
            self.initializers[sparse.values.name] = _frozen(_sparse_to_dense(sparse))
        self.inputs = {value.name: value for value in graph.input}
        self.input_names = [value.name for value in graph.input]
        self.output_names = [value.name for value in graph.output]
        self.output_types = [value.type for value in graph.output]
        self.outer_reads: set[str] = set()
        self.steps = self._plan(graph.node, outer)
        self.defined = (
            set(self.initializers)
            | set(self.inputs)
            | {name for step in self.steps for name in step.node.output if name}
        )
        self._needed_cache: dict[tuple[str, ...], list[_Step]] = {}
        self._body_steps = self.needed(tuple(self.output_names)) if path else []

    @property
    def where(self) -> str:
        """`subgraph 'scan/body'` for a subgraph, `the graph` for the main graph."""
        return f"subgraph {self.path[:-1]!r}" if self.path else "the graph"

    def _plan(self, nodes: Iterable[NodeProto], outer: frozenset[str]) -> list[_Step]:
        """Kernels and attributes for each node, after checking the order and the signatures."""
        available = set(self.initializers) | set(self.inputs)
        steps: list[_Step] = []
        last_use: dict[str, int] = {}

        def read(name: str, index: int, label: str) -> None:
            if name in available:
                last_use[name] = index
            elif name in outer:
                self.outer_reads.add(name)
            else:
                scope = (
                    "a subgraph input, an initializer, an output of an earlier node, or a value "
                    "of an enclosing graph defined before its node"
                    if self.path
                    else "a graph input, an initializer, or an output of an earlier node"
                )
                raise InterpreterError(
                    f"{label}: input {name!r} is not {scope} (the graph is not topologically "
                    "sorted, or the value does not exist)"
                )

        for index, node in enumerate(nodes):
            kernel = kernel_for(node.op_type)(node, self.opset)
            label = f"node {_node_name(node, index, self.path)!r} ({node.op_type})"
            step = _Step(index, node, kernel, {}, label)
            for name in node.input:
                if name:
                    read(name, index, label)
            for attribute in node.attribute:
                if attribute.type == AttributeProto.GRAPH:
                    # Checked and planned now, seeing the values defined before this node.
                    inner = f"{_node_name(node, index, self.path)}/{attribute.name}/"
                    step.subgraphs[attribute.name] = _Graph(
                        attribute.g, self.opset, inner, outer | available
                    )
                    continue
                try:
                    step.attributes[attribute.name] = _attribute_value(attribute)
                except InterpreterError as exc:
                    raise InterpreterError(f"{label}: {exc}") from None
            implicit = sorted({name for g in step.subgraphs.values() for name in g.outer_reads})
            for name in implicit:
                read(name, index, label)
            step.reads = [name for name in node.input if name] + implicit
            problems = type(kernel).signature_problems(
                len(node.input), [*step.attributes, *step.subgraphs]
            )
            if problems:
                raise InterpreterError(f"{label}: the kernel {'; '.join(problems)}")
            for name in node.output:
                if name in available:
                    raise InterpreterError(f"{label}: value {name!r} is defined twice")
                if name in outer:
                    # As onnx.checker and ONNX Runtime require (SSA across scopes).
                    raise InterpreterError(
                        f"{label}: value {name!r} is defined twice (it is a value of an "
                        "enclosing graph)"
                    )
                if name:
                    available.add(name)
                    last_use.setdefault(name, index)
            steps.append(step)
        for name in self.output_names:
            if name in available:
                continue
            if not self.path:
                raise InterpreterError(f"graph output {name!r} is produced by no node")
            if name not in outer:
                raise InterpreterError(
                    f"{self.where}: output {name!r} is produced by no node and is no value of "
                    "an enclosing graph"
                )
            self.outer_reads.add(name)
        keep = set(self.output_names)
        for name, index in last_use.items():
            if name not in keep:
                steps[index].frees.append(name)
        return steps

    def needed(self, names: tuple[str, ...]) -> list[_Step]:
        """The steps the named values depend on, in graph order; cached per request."""
        if names not in self._needed_cache:
            live = set(names)
            keep = []
            for step in reversed(self.steps):
                if any(o in live for o in step.node.output if o):
                    keep.append(step)
                    live.update(step.reads)
            self._needed_cache[names] = keep[::-1]
        return self._needed_cache[names]

    def call(self, inputs: Sequence[Any], scope: Mapping[str, Any]) -> list[np.ndarray]:
        """Run a subgraph on its formal inputs, `scope` holding the outer values it reads."""
        if len(inputs) != len(self.input_names):
            raise InterpreterError(
                f"{self.where} takes {len(self.input_names)} inputs {self.input_names}, "
                f"got {len(inputs)}"
            )
        values = dict(scope)
        values.update(self.initializers)
        values.update(zip(self.input_names, inputs, strict=True))
        for step in self._body_steps:
            values.update(_run_step(step, values))
        return [values[name] for name in self.output_names]


class Subgraph:
    """A node's graph attribute as a kernel receives it: planned once per node, bound to the
    values of the enclosing scopes that it reads. Call it with the formal inputs (in order);
    it returns the outputs as a list."""

    def __init__(self, graph: _Graph, scope: Mapping[str, Any]):
        self._graph = graph
        self._scope = scope

    @property
    def input_names(self) -> list[str]:
        return self._graph.input_names

    @property
    def output_names(self) -> list[str]:
        return self._graph.output_names

    @property
    def output_types(self) -> list[onnx.TypeProto]:
        """The declared types of the outputs (element type and shape, where given)."""
        return self._graph.output_types

    def __call__(self, *inputs: Any) -> list[np.ndarray]:
        return self._graph.call(inputs, self._scope)


class Interpreter:
    """Runs an ONNX model with NumPy kernels; the project's reference oracle.

    Every check that needs no data (op support in the graph and its subgraphs, attributes,
    topological order, the scope of names) happens here, at construction. Feeds of another
    float dtype than the graph declares are accepted, so a float32 graph can be run in float64
    for gradient checks; NumPy then promotes, so float32 constants and initializers mix in
    unless the graph itself is converted. The interpreter does not type-check the graph
    otherwise (onnx.checker with full_check does), nor the values passed into subgraphs.
    """

    def __init__(self, model: ModelProto | str | os.PathLike | bytes):
        self.model = _load(model)
        self._opset = self._default_opset()
        self._check_supported(self.model.graph)
        self._graph = _Graph(self.model.graph, self._opset, "", frozenset())
        self._initializers = self._graph.initializers
        self._graph_inputs = self._graph.inputs
        self.input_names = [n for n in self._graph_inputs if n not in self._initializers]
        self.output_names = self._graph.output_names

    @staticmethod
    def supported_ops() -> list[str]:
        """The op types (default ONNX domain) that have a kernel, sorted."""
        return supported_ops()

    def _default_opset(self) -> int:
        for opset in self.model.opset_import:
            if opset.domain in _DEFAULT_DOMAINS:
                return opset.version
        return onnx.defs.onnx_opset_version()

    @staticmethod
    def _check_supported(graph: GraphProto) -> None:
        missing: dict[str, list[str]] = {}
        _find_missing_kernels(graph, "", missing)
        if missing:
            parts = [
                f"{op} (node{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))})"
                for op, names in missing.items()
            ]
            raise UnsupportedOpError(
                f"no NumPy kernel for op type(s): {'; '.join(parts)}. "
                "The supported set is listed by Interpreter.supported_ops().",
                op_types=list(missing),
                node_names=[name for names in missing.values() for name in names],
            )

    def _check_feeds(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [name for name in self.input_names if name not in feeds]
        if missing:
            raise InterpreterError(
                f"missing feed(s) for graph input(s) {missing}; the graph inputs are "
                f"{self.input_names}"
            )
        unknown = [name for name in feeds if name not in self._graph_inputs]
        if unknown:
            raise InterpreterError(
                f"feed(s) {unknown} name no graph input; the graph inputs are {self.input_names}"
            )
        values = {}
        for name, value in feeds.items():
            array = np.asarray(value)
            tensor_type = self._graph_inputs[name].type.tensor_type
            declared = DTYPES.get(tensor_type.elem_type)
            # Any float dtype may feed a float input (float64 runs of float32 graphs).
            if declared is not None and array.dtype != declared:
                if not (declared.kind == "f" and array.dtype.kind == "f"):
                    raise InterpreterError(
                        f"feed {name!r} has dtype {array.dtype}, the graph declares {declared}"
                    )
            if tensor_type.HasField("shape"):
                dims = tensor_type.shape.dim
                if len(dims) != array.ndim:
                    raise InterpreterError(
                        f"feed {name!r} has shape {list(array.shape)}, the graph declares "
                        f"rank {len(dims)}"
                    )
                for axis, dim in enumerate(dims):
                    if dim.HasField("dim_value") and dim.dim_value != array.shape[axis]:
                        raise InterpreterError(
                            f"feed {name!r} has shape {list(array.shape)}, the graph declares "
                            f"{dim.dim_value} at axis {axis}"
                        )
            values[name] = array
        return values

    def run(
        self,
        output_names: Iterable[str] | None,
        feeds: Mapping[str, Any],
        observer: Observer | None = None,
    ) -> list[np.ndarray]:
        """Run the graph on `feeds`; return the named values (all graph outputs if None).

        `observer(node, {output_name: value})` is called after each node of the main graph
        (a node that runs a subgraph is observed once, with its outputs, not per inner node).
        """
        names = self.output_names if output_names is None else list(output_names)
        values: dict[str, Any] = dict(self._initializers)
        fed = self._check_feeds(feeds)
        values.update(fed)
        unknown = [name for name in names if name not in self._graph.defined]
        if unknown:
            raise InterpreterError(f"requested value(s) {unknown} are not in the graph")
        wanted = set(names)
        with np.errstate(all="ignore"):
            # Asking for the loss alone skips a whole backward pass.
            for step in self._graph.needed(tuple(names)):
                produced = _run_step(step, values)
                values.update(produced)
                if observer is not None:
                    observer(step.node, produced)
                for name in step.frees:
                    if name not in wanted:
                        values.pop(name, None)
        fed_ids = {id(array) for array in fed.values()}
        return [self._owned(values[name], fed_ids) for name in names]

    @staticmethod
    def _owned(value: np.ndarray, fed_ids: set[int]) -> np.ndarray:
        """A result the caller may keep and modify: never a view of a feed or initializer."""
        if id(value) in fed_ids or value.base is not None or not value.flags.writeable:
            return np.array(value, copy=True)
        return value
