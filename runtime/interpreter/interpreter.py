"""The interpreter: loads an ONNX model, checks it up front, runs it node by node."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, ModelProto, NodeProto, helper, numpy_helper

from nnc.runtime.interpreter.dtypes import DTYPES
from nnc.runtime.interpreter.errors import InterpreterError, UnsupportedOpError
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import kernel_for, supported_ops

Observer = Callable[[NodeProto, dict[str, np.ndarray]], None]

_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class _Step:
    """One node, ready to run: its kernel, attribute values, and the values it can free."""

    index: int
    node: NodeProto
    kernel: Kernel
    attributes: dict[str, Any]
    frees: list[str]

    @property
    def label(self) -> str:
        name = self.node.name or f"#{self.index}"
        return f"node {name!r} ({self.node.op_type})"


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
    if kind in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
        raise InterpreterError(f"attribute {attribute.name!r} holds a subgraph: not supported")
    if kind == AttributeProto.UNDEFINED:
        raise InterpreterError(f"attribute {attribute.name!r} has no type")
    return helper.get_attribute_value(attribute)


def _shape_str(value: Any) -> str:
    if value is None:
        return "absent"
    array = np.asarray(value)
    return f"{array.dtype}{list(array.shape)}"


class Interpreter:
    """Runs an ONNX model with NumPy kernels; the project's reference oracle.

    Every check that needs no data (op support, attributes, topological order) happens here,
    at construction. Feeds of another float dtype than the graph declares are accepted, so a
    float32 graph can be run in float64 for gradient checks; NumPy then promotes, so float32
    constants and initializers mix in unless the graph itself is converted. The interpreter
    does not type-check the graph otherwise (onnx.checker with full_check does).
    """

    def __init__(self, model: ModelProto | str | os.PathLike | bytes):
        self.model = _load(model)
        graph = self.model.graph
        self._opset = self._default_opset()
        self._initializers: dict[str, np.ndarray] = {}
        for tensor in graph.initializer:
            self._initializers[tensor.name] = self._frozen(numpy_helper.to_array(tensor))
        for sparse in graph.sparse_initializer:
            self._initializers[sparse.values.name] = self._frozen(_sparse_to_dense(sparse))
        self._graph_inputs = {value.name: value for value in graph.input}
        self.input_names = [n for n in self._graph_inputs if n not in self._initializers]
        self.output_names = [value.name for value in graph.output]
        self._check_supported(graph.node)
        self._steps = self._plan(graph.node)
        self._known = (
            set(self._initializers)
            | set(self._graph_inputs)
            | {name for step in self._steps for name in step.node.output if name}
        )

    @staticmethod
    def supported_ops() -> list[str]:
        """The op types (default ONNX domain) that have a kernel, sorted."""
        return supported_ops()

    @staticmethod
    def _frozen(array: np.ndarray) -> np.ndarray:
        array.setflags(write=False)
        return array

    def _default_opset(self) -> int:
        for opset in self.model.opset_import:
            if opset.domain in _DEFAULT_DOMAINS:
                return opset.version
        return onnx.defs.onnx_opset_version()

    def _check_supported(self, nodes: Iterable[NodeProto]) -> None:
        missing: dict[str, list[str]] = {}
        for index, node in enumerate(nodes):
            op = (
                node.op_type
                if node.domain in _DEFAULT_DOMAINS
                else f"{node.domain}::{node.op_type}"
            )
            if node.domain not in _DEFAULT_DOMAINS or kernel_for(node.op_type) is None:
                missing.setdefault(op, []).append(node.name or f"#{index}")
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

    def _plan(self, nodes: Iterable[NodeProto]) -> list[_Step]:
        """Kernels and attributes for each node, after checking the order and the signatures."""
        available = set(self._initializers) | set(self._graph_inputs)
        steps: list[_Step] = []
        last_use: dict[str, int] = {}
        for index, node in enumerate(nodes):
            kernel = kernel_for(node.op_type)(node, self._opset)
            step = _Step(index, node, kernel, {}, [])
            for name in node.input:
                if name and name not in available:
                    raise InterpreterError(
                        f"{step.label}: input {name!r} is not a graph input, an initializer, "
                        "or an output of an earlier node (the graph is not topologically sorted, "
                        "or the value does not exist)"
                    )
                if name:
                    last_use[name] = index
            try:
                step.attributes = {a.name: _attribute_value(a) for a in node.attribute}
            except InterpreterError as exc:
                raise InterpreterError(f"{step.label}: {exc}") from None
            problems = type(kernel).signature_problems(len(node.input), step.attributes)
            if problems:
                raise InterpreterError(f"{step.label}: the kernel {'; '.join(problems)}")
            for name in node.output:
                if name in available:
                    raise InterpreterError(f"{step.label}: value {name!r} is defined twice")
                if name:
                    available.add(name)
                    last_use.setdefault(name, index)
            steps.append(step)
        for name in self.output_names:
            if name not in available:
                raise InterpreterError(f"graph output {name!r} is produced by no node")
        keep = set(self.output_names)
        for name, index in last_use.items():
            if name not in keep:
                steps[index].frees.append(name)
        return steps

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

        `observer(node, {output_name: value})` is called after each node.
        """
        names = self.output_names if output_names is None else list(output_names)
        values: dict[str, Any] = dict(self._initializers)
        fed = self._check_feeds(feeds)
        values.update(fed)
        unknown = [name for name in names if name not in self._known]
        if unknown:
            raise InterpreterError(f"requested value(s) {unknown} are not in the graph")
        wanted = set(names)
        with np.errstate(all="ignore"):
            for step in self._needed(tuple(names)):
                produced = self._run_step(step, values)
                values.update(produced)
                if observer is not None:
                    observer(step.node, produced)
                for name in step.frees:
                    if name not in wanted:
                        values.pop(name, None)
        fed_ids = {id(array) for array in fed.values()}
        return [self._owned(values[name], fed_ids) for name in names]

    def _needed(self, names: tuple[str, ...]) -> list[_Step]:
        """The steps the requested values depend on (asking for the loss alone skips a whole
        backward pass), in graph order; cached per request."""
        cache = self.__dict__.setdefault("_needed_cache", {})
        if names not in cache:
            live = set(names)
            keep = []
            for step in reversed(self._steps):
                if any(o in live for o in step.node.output if o):
                    keep.append(step)
                    live.update(i for i in step.node.input if i)
            cache[names] = keep[::-1]
        return cache[names]

    @staticmethod
    def _owned(value: np.ndarray, fed_ids: set[int]) -> np.ndarray:
        """A result the caller may keep and modify: never a view of a feed or initializer."""
        if id(value) in fed_ids or value.base is not None or not value.flags.writeable:
            return np.array(value, copy=True)
        return value

    def _run_step(self, step: _Step, values: dict[str, Any]) -> dict[str, np.ndarray]:
        inputs = [values[name] if name else None for name in step.node.input]
        try:
            results = step.kernel.run(*inputs, **step.attributes)
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
