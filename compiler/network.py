"""A spec's layers bound to shapes: the DAG, every output shape, every parameter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.init import init_problem, initial_value
from nnc.compiler.layers import LAYERS, Layer, ParamDecl, PerSample, ShapeError
from nnc.compiler.losses import LOSSES, LossDef, Target
from nnc.compiler.spec.errors import Diagnostic, SpecError
from nnc.compiler.spec.model import Spec


@dataclass
class Node:
    layer: Layer
    inputs: tuple[str, ...]  # layer names, or "input"
    spec_index: int
    params: tuple[ParamDecl, ...] = ()


class Network:
    """Shape inference happens on construction; a mismatch is reported at the layer causing it."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.nodes: list[Node] = []
        self.shapes: dict[str, PerSample] = {"input": tuple(spec.input_shape)}
        self.params: list[ParamDecl] = []
        diags: list[Diagnostic] = []
        prev = "input"
        for ls in spec.layers:
            layer = LAYERS[ls.type](ls.name, ls.options)
            inputs = ls.inputs or (prev,)
            prev = ls.name
            if any(i not in self.shapes for i in inputs):
                continue  # an earlier layer failed; its error is already reported
            shapes = ", ".join(str(list(self.shapes[i])) for i in inputs)
            try:
                layer.bind([self.shapes[i] for i in inputs])
            except ShapeError as e:
                diags.append(self._shape_error(ls.index, e, shapes))
                continue  # no output shape: the layers after it cannot be checked
            self.shapes[ls.name] = layer.out_shape
            try:
                decls = layer.parameters(layer.in_shapes)
            except ShapeError as e:  # bad parameter values; the output shape is still known
                diags.append(self._shape_error(ls.index, e, shapes))
                decls = []
            for p in decls:
                why = init_problem(p.init, p.shape) if p.init is not None else None
                if why:
                    path = ("layers", ls.index, p.init_option)
                    diags.append(
                        spec.error(path, f"{why} (parameter {p.name}, shape {list(p.shape)})")
                    )
            self.params.extend(decls)
            self.nodes.append(Node(layer, tuple(inputs), ls.index, tuple(decls)))
        self.output = prev
        if not diags:
            diags.extend(self._check_loss())
        if diags:
            raise SpecError(diags)

    def _shape_error(self, index: int, e: ShapeError, shapes: str) -> Diagnostic:
        path = ("layers", index) + ((e.field,) if e.field else ())
        return self.spec.error(path, f"{e} (input shape {shapes})")

    @property
    def output_shape(self) -> PerSample:
        return self.shapes[self.output]

    def output_activation(self) -> tuple[str | None, list[Node]]:
        """The activation the output applies last, found through the layers a loss may look
        through (dropout, flatten, reshape), and those layers."""
        by_name = {n.layer.name: n for n in self.nodes}
        between: list[Node] = []
        node = by_name.get(self.output)
        while node is not None:
            act = node.layer.final_activation()
            if act is not None or not node.layer.look_through or len(node.inputs) != 1:
                return act, between
            between.append(node)
            node = by_name.get(node.inputs[0])
        return None, between

    def final_activation(self) -> str | None:
        """The output's final activation where a loss can read its logits exactly."""
        act, between = self.output_activation()
        if act is None:
            return None
        elementwise = not ACTIVATIONS[act].over_last_axis
        return act if all(n.layer.passes_activation(act, elementwise) for n in between) else None

    def loss_def(self) -> LossDef:
        """The loss's policy for this network's output (some differ for a single output)."""
        if self.spec.loss is None:
            raise ValueError("the spec has no loss")
        return LOSSES[self.spec.loss[0]].for_output(self.output_shape)

    def _check_loss(self) -> list[Diagnostic]:
        """What the loss's definition says it needs of the network's output."""
        if self.spec.loss is None:
            return []
        name, _ = self.spec.loss
        ldef = self.loss_def()
        shape = self.output_shape
        if shape[-1] < ldef.min_classes:
            hint = f"; {ldef.few_classes_hint}" if ldef.few_classes_hint else ""
            return [
                self.spec.error(
                    ("loss",),
                    f"{name} needs at least {ldef.min_classes} classes but the network outputs "
                    f"{list(shape)}{hint}",
                )
            ]
        act, between = self.output_activation()
        if act is not None and act in ldef.refuses_after:
            return [self.spec.error(("loss",), ldef.refuses_after[act])]
        if act in ldef.reads_through and self.final_activation() is None:
            elementwise = not ACTIVATIONS[act].over_last_axis
            blocker = next(n for n in between if not n.layer.passes_activation(act, elementwise))
            return [
                self.spec.error(
                    ("layers", blocker.spec_index),
                    f"{name} reads the logits before the output's {act}, but this "
                    f"{blocker.layer.type} layer after the {act} changes them in a way the "
                    f"logits cannot follow; move it before the layer with the {act}",
                )
            ]
        return self._check_thresholds(name, ldef)

    def _check_thresholds(self, loss: str, ldef: LossDef) -> list[Diagnostic]:
        """A non-differentiable activation (step, sign) between a trainable parameter and the
        loss fails the gradient, unless it is the output's last activation and the loss reads
        through it: found here, at the layer and option, before any graph is built."""
        trained: set[str] = set()  # layers with a trainable parameter at or before them
        for node in self.nodes:
            own = any(p.trainable and not p.state for p in node.params)
            if own or any(i in trained for i in node.inputs):
                trained.add(node.layer.name)
        feeds_loss = {self.output}
        for node in reversed(self.nodes):
            if node.layer.name in feeds_loss:
                feeds_loss.update(node.inputs)
        last = self._activation_node()
        out = []
        for node in self.nodes:
            if node.layer.name not in trained or node.layer.name not in feeds_loss:
                continue
            for field, act in node.layer.activations():
                if ACTIVATIONS[act].differentiable:
                    continue
                is_last = node is last and act == node.layer.final_activation()
                if is_last and act in ldef.reads_through:
                    continue  # the loss reads its input
                if is_last:
                    readers = [
                        n if act in d.reads_through else f"{n} on one output"
                        for n, d in LOSSES.items()
                        if act in d.reads_through
                        or (d.one_output is not None and act in d.one_output.reads_through)
                    ]
                    how = (
                        "as the output's last activation it trains with a loss that reads "
                        f"through it ({', '.join(readers)}), not {loss}"
                    )
                else:
                    how = "no loss reads through it inside the network"
                out.append(
                    self.spec.error(
                        ("layers", node.spec_index, field),
                        f"{act} is not differentiable, so the trainable parameters before it "
                        f"cannot learn: {how}; or use a differentiable activation (sigmoid, "
                        "tanh), or freeze the layers before it (trainable: false)",
                    )
                )
        return out

    def _activation_node(self) -> Node | None:
        """The layer whose activation is the output's last (through look-through layers)."""
        act, between = self.output_activation()
        if act is None:
            return None
        by_name = {n.layer.name: n for n in self.nodes}
        start = between[-1].inputs[0] if between else self.output
        return by_name.get(start)

    def target(self) -> Target:
        return self.loss_def().target(self.output_shape)

    def trainable(self) -> list[ParamDecl]:
        return [p for p in self.params if p.trainable and not p.state]

    def initial_values(self, seed: int, dtype=np.float32) -> dict[str, np.ndarray]:
        out = {}
        for p in self.params:
            if p.value is not None:
                v = p.value
            else:
                v = initial_value(p.init, p.shape, p.fan_in, p.fan_out, seed, p.name)
                if p.init_offset is not None:
                    v = v + p.init_offset
            out[p.name] = np.asarray(v, dtype=dtype).reshape(p.shape)
        return out

    def summary(self) -> str:
        """The layer table (Keras-like): output shapes, parameter counts, whether they train;
        a `state` column for running statistics (updated in training, never by the optimizer)
        and a `connected to` column for a DAG (`inputs:`), each only when the network has any."""
        per_layer: dict[str, list[ParamDecl]] = {}
        for p in self.params:
            per_layer.setdefault(p.name.rsplit(".", 1)[0], []).append(p)
        has_state = any(p.state for p in self.params)
        previous = ["input", *(n.layer.name for n in self.nodes)]
        dag = any(n.inputs != (previous[k],) for k, n in enumerate(self.nodes))
        head = ["layer", "type", "output shape", "params", "trainable"]
        head += ["state"] * has_state + ["connected to"] * dag
        rows = [head, ["input", "input", _shape(self.shapes["input"]), "0", ""]]
        rows[1] += [""] * (len(head) - len(rows[1]))
        for node in self.nodes:
            ps = per_layer.get(node.layer.name, [])
            learn = [p for p in ps if not p.state]
            status = "" if not learn else ("yes" if all(p.trainable for p in learn) else "frozen")
            row = [node.layer.name, node.layer.type, _shape(node.layer.out_shape)]
            row += [f"{_count(learn):,}", status]
            if has_state:
                state = _count([p for p in ps if p.state])
                row.append(f"{state:,}" if state else "")
            if dag:
                row.append(", ".join(node.inputs))
            rows.append(row)
        numeric = {3, 5} if has_state else {3}
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = []
        for k, r in enumerate(rows):
            cells = [
                c.rjust(w) if i in numeric or i == 4 else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            ]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        learnable = [p for p in self.params if not p.state]
        train = _count(self.trainable())
        lines.append("")
        lines.append(f"Total parameters:     {_count(self.params):,}")
        lines.append(f"Trainable parameters: {train:,}")
        lines.append(f"Frozen parameters:    {_count(learnable) - train:,}")
        if has_state:
            state = _count([p for p in self.params if p.state])
            lines.append(f"Non-trainable state:  {state:,} (running statistics)")
        return "\n".join(lines)


def _count(params: list[ParamDecl]) -> int:
    return sum(int(np.prod(p.shape)) for p in params)


def _shape(s: PerSample) -> str:
    return "[N, " + ", ".join(str(d) for d in s) + "]"
