"""Recurrent layers: simple_rnn (Elman), gru and lstm over [T, F] sequences.

Parameters and gate conventions are those of the ONNX RNN/GRU/LSTM operators, per direction:
  weight            [G*H, F]   input kernel, gate blocks stacked (LSTM i,o,f,c; GRU z,r,h)
  recurrent_weight  [G*H, H]   recurrent kernel, same blocks
  bias              [2*G*H]    input biases Wb, then recurrent biases Rb (as PyTorch's b_ih, b_hh)
and `*_reverse` for the backward direction of a bidirectional layer. The inference graph uses the
native operators; the training graph runs the same cell as the body of a Scan over time (or
unrolled), which the Scan gradient rule differentiates (backpropagation through time).

PyTorch's gate order differs (LSTM i,f,g,o; GRU r,z,n): its weights map to these by reordering
the row blocks. GRU's `linear_before_reset: true` (the default here) is PyTorch's and Keras 2's
GRU (reset_after); false is the original formulation (and ONNX's default).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder, elem_type
from nnc.compiler.init import init_schema
from nnc.compiler.layers.base import Layer, LowerCtx, ParamDecl, ShapeError, layer
from nnc.compiler.layers.core import _TRAINABLE, _values

_ACTS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}
# `unroll: auto` unrolls sequences up to this many steps: measured with
# benchmarks/recurrent_unroll.py (2 threads), unrolled steps ran 1.1-1.8x faster than a Scan at
# T = 4-8 for every cell but one, and a Scan was as fast or faster from T = 16 (GRU 1.3-1.5x).
UNROLL_MAX_STEPS = 8
# LowerCtx.recurrent: "native" (the native ops to deploy and evaluate, the layer's `unroll`
# option to train), or the cell in every graph, as a Scan or unrolled over the steps (tinygrad
# 0.14 runs neither RNN/GRU/LSTM nor Scan: it needs "unrolled")
RECURRENT_LOWERINGS = ("native", "scan", "unrolled")
_CELLS = {"scan": False, "unrolled": True}  # lowerings through the cell -> unroll


def _common_options(gates: str) -> dict[str, o.Option]:
    return {
        "units": o.integer("size of the hidden state H", minimum=1),
        "activation": o.choice(
            "activation of the candidate and output (tanh as in ONNX, Keras and PyTorch)",
            list(_ACTS),
            "tanh",
        ),
        "return_sequences": o.boolean(
            "true: the hidden state of every step [T, H]; false: the last one [H]", False
        ),
        "bidirectional": o.boolean(
            "also run the sequence backwards and concatenate both directions (width 2H)", False
        ),
        "init": o.raw(init_schema(), "initializer of the input kernel", "glorot_uniform"),
        "recurrent_init": o.raw(
            init_schema(), "initializer of the recurrent kernel (per direction)", "orthogonal"
        ),
        "bias_init": o.raw(init_schema(), "initializer of both biases", "zeros"),
        "weights": o.raw(
            {"type": "array"},
            f"explicit input kernel, [{gates}*H, F] ([2, {gates}*H, F] when bidirectional)",
            None,
        ),
        "recurrent_weights": o.raw(
            {"type": "array"},
            f"explicit recurrent kernel, [{gates}*H, H] ([2, ...] when bidirectional)",
            None,
        ),
        "bias": o.raw(
            {"type": "array"},
            f"explicit biases Wb then Rb, [2*{gates}*H] ([2, ...] when bidirectional)",
            None,
        ),
        "trainable": _TRAINABLE,
        "unroll": o.choice(
            "training graph: a Scan over time (false), the steps unrolled (true), or auto: "
            "unrolled for short sequences where that measured faster",
            ["auto", True, False],
            "auto",
        ),
    }


class _Recurrent(Layer):
    op_type: ClassVar[str]
    gates: ClassVar[int]
    gate_names: ClassVar[str]

    @property
    def units(self) -> int:
        return int(self.opts["units"])

    @property
    def directions(self) -> int:
        return 2 if self.opts["bidirectional"] else 1

    def output_shape(self, inputs):
        (shape,) = inputs
        if len(shape) != 2:
            raise ShapeError(
                f"{self.type} takes sequences [T, F] (T steps of F features) but its input is "
                f"{list(shape)}; reshape the input (e.g. data.reshape or a reshape layer)",
                "type",
            )
        width = self.directions * self.units
        return (shape[0], width) if self.opts["return_sequences"] else (width,)

    # -- parameters ----------------------------------------------------------------------------
    def _bias_offset(self) -> np.ndarray | None:
        return None

    def parameters(self, inputs):
        (shape,) = inputs
        f, h, g = shape[1], self.units, self.gates
        decls = []
        shapes = {"weight": (g * h, f), "recurrent_weight": (g * h, h), "bias": (2 * g * h,)}
        given = {
            "weight": self.opts["weights"],
            "recurrent_weight": self.opts["recurrent_weights"],
            "bias": self.opts["bias"],
        }
        option = {"weight": "weights", "recurrent_weight": "recurrent_weights", "bias": "bias"}
        init = {"weight": "init", "recurrent_weight": "recurrent_init", "bias": "bias_init"}
        fans = {"weight": (f, g * h), "recurrent_weight": (h, g * h), "bias": (h, g * h)}
        for short, shp in shapes.items():
            values = None
            if given[short] is not None:
                full = shp if self.directions == 1 else (2, *shp)
                values = _values(given[short], full, option[short], option[short])
            for d, suffix in enumerate(self._suffixes()):
                value = None if values is None else (values if self.directions == 1 else values[d])
                decls.append(
                    ParamDecl(
                        self.p(short + suffix),
                        shp,
                        None if value is not None else self.opts[init[short]],
                        fan_in=fans[short][0],
                        fan_out=fans[short][1],
                        trainable=self.opts["trainable"],
                        value=value,
                        regularize=short != "bias",
                        role="bias" if short == "bias" else "weight",
                        init_option=init[short],
                        init_offset=self._bias_offset() if short == "bias" else None,
                    )
                )
        return decls

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.directions]

    # -- lowering ------------------------------------------------------------------------------
    def lower(self, ctx: LowerCtx, inputs):
        (x,) = inputs
        b = ctx.b
        xt = b.op("Transpose", [x], perm=[1, 0, 2])  # time-major [T, N, F]
        if ctx.recurrent not in RECURRENT_LOWERINGS:
            raise ValueError(f"recurrent lowering {ctx.recurrent!r}: one of {RECURRENT_LOWERINGS}")
        if ctx.mode == "train" or ctx.recurrent in _CELLS:
            finals, sequences = [], []
            for d, suffix in enumerate(self._suffixes()):
                last, seq = self._train_direction(ctx, xt, suffix, reverse=d == 1)
                finals.append(last)
                sequences.append(seq)
            if self.opts["return_sequences"]:
                y = sequences[0] if len(sequences) == 1 else b.op("Concat", sequences, axis=-1)
                return b.op("Transpose", [y], perm=[1, 0, 2])
            return finals[0] if len(finals) == 1 else b.op("Concat", finals, axis=-1)
        return self._native(ctx, xt)

    def _stack(self, ctx: LowerCtx, short: str) -> str:
        b = ctx.b
        parts = [
            b.op("Unsqueeze", [ctx.params[self.p(short + s)], b.ints([0])])
            for s in self._suffixes()
        ]
        return parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=0)

    def _native_attrs(self) -> dict:
        return {}

    def _activations(self) -> list[str]:
        act = _ACTS[self.opts["activation"]]
        per = {"RNN": [act], "GRU": ["Sigmoid", act], "LSTM": ["Sigmoid", act, act]}
        return per[self.op_type] * self.directions

    def _native(self, ctx: LowerCtx, xt: str) -> str:
        b, h, dirs = ctx.b, self.units, self.directions
        w, r, bias = (self._stack(ctx, s) for s in ("weight", "recurrent_weight", "bias"))
        if self._pad_single_feature():
            xt, w = self._pad_feature(b, xt, w)
        outs = b.op(
            self.op_type,
            [xt, w, r, bias],
            outputs=2,
            hidden_size=h,
            direction="bidirectional" if dirs == 2 else "forward",
            activations=self._activations(),
            **self._native_attrs(),
        )
        y, y_h = outs
        if self.opts["return_sequences"]:  # Y [T, D, N, H] -> [N, T, D*H]
            y = b.op("Transpose", [y], perm=[2, 0, 1, 3])
            return b.op("Reshape", [y, b.ints([0, 0, dirs * h])])
        y_h = b.op("Transpose", [y_h], perm=[1, 0, 2])  # [D, N, H] -> [N, D*H]
        return b.op("Reshape", [y_h, b.ints([0, dirs * h])])

    def _pad_single_feature(self) -> bool:
        return False

    def _pad_feature(self, b: GraphBuilder, xt: str, w: str) -> tuple[str, str]:
        """A zero second feature for the input [T, N, 1] and a zero column for the kernel
        [D, G*H, 1]: the same products (x*w + 0*0), in a shape every runtime's kernel takes."""
        from onnx import helper

        fill = helper.make_tensor("value", elem_type(b.dtype), [1], [0.0])
        zeros = b.op("ConstantOfShape", [b.op("Shape", [xt])], value=fill)
        column = np.zeros((self.directions, self.gates * self.units, 1), b.dtype)
        w = b.op("Concat", [w, b.const(column)], axis=2)
        return b.op("Concat", [xt, zeros], axis=2), w

    def _train_direction(self, ctx: LowerCtx, xt: str, suffix: str, reverse: bool):
        """One direction as a Scan (or unrolled): -> (last hidden state [N, H], every step's
        hidden state [T, N, H])."""
        b, h, g = ctx.b, self.units, self.gates
        w = ctx.params[self.p("weight" + suffix)]
        r = ctx.params[self.p("recurrent_weight" + suffix)]
        bias = ctx.params[self.p("bias" + suffix)]
        with b.scope(f"direction{suffix or '_forward'}"):
            wb, rb = b.op("Split", [bias, b.ints([g * h, g * h])], outputs=2, axis=0)
            # the input projection of every step at once, outside the recurrence
            proj = b.op("MatMul", [xt, b.op("Transpose", [w], perm=[1, 0])])
            xw, refs = self._hoist(b, proj, wb, rb, r)
            from onnx import helper

            zero = b.op(
                "ConstantOfShape",
                [b.op("Concat", [b.op("Shape", [xt], start=1, end=2), b.ints([h])], axis=0)],
                value=helper.make_tensor("value", elem_type(b.dtype), [1], [0.0]),
            )
            states0 = [zero] * self.n_states
            steps = self._steps(ctx)
            unroll = _CELLS.get(ctx.recurrent, self.opts["unroll"])
            if unroll is True or (unroll == "auto" and steps <= UNROLL_MAX_STEPS):
                return self._unrolled(b, xw, refs, states0, steps, reverse)
            return self._scan(b, xw, refs, states0, reverse)

    n_states: ClassVar[int] = 1

    def _steps(self, ctx: LowerCtx) -> int:
        return int(self.in_shapes[0][0])

    def _hoist(self, b, proj, wb, rb, r) -> tuple[str, dict[str, str]]:
        """(scan input per step, outer values the cell reads): biases summed into the input
        projection where the cell allows it."""
        xw = b.op("Add", [proj, b.op("Add", [wb, rb])])
        return xw, {"rT": b.op("Transpose", [r], perm=[1, 0])}

    def cell(self, b: GraphBuilder, states: list[str], xw_t: str, refs: dict[str, str]):
        """One step: -> the next states (the first is the hidden state)."""
        raise NotImplementedError

    def _scan(self, b, xw, refs, states0, reverse):
        """The cell as a Scan body. Portable spelling: the weights enter as states that the body
        passes on unchanged (OpenVINO's Scan reads no outer-scope values but constants), and the
        batch dimension of the body's values is unnamed (tract does not unify a body's `N`
        with the outer graph's)."""
        h = self.units
        body = b.child(f"{self.name}.cell")
        states = [body.add_input(body.fresh("state"), [None, h]) for _ in states0]
        inner = {key: body.add_input(body.fresh(key), self._ref_shape(key)) for key in refs}
        xw_t = body.add_input(body.fresh("xw_t"), [None, self._xw_width()])
        new = self.cell(body, states, xw_t, inner)
        y_t = body.op("Identity", [new[0]])
        for v in new:
            body.add_output(v, [None, h])
        for key, v in inner.items():
            body.add_output(body.op("Identity", [v]), self._ref_shape(key))
        body.add_output(y_t, [None, h])
        # the backward direction reads the steps reversed (a Slice: portable, where a Scan's
        # reverse directions are not) and its outputs are put back in time order
        outs = b.op(
            "Scan",
            [*states0, *refs.values(), b.reverse(xw) if reverse else xw],
            outputs=len(states0) + len(refs) + 1,
            body=body.graph(),
            num_scan_inputs=1,
        )
        return outs[0], b.reverse(outs[-1]) if reverse else outs[-1]

    def _unrolled(self, b, xw, refs, states0, steps, reverse):
        parts = b.op("Split", [xw, b.ints([1] * steps)], outputs=steps, axis=0)
        parts = [parts] if isinstance(parts, str) else parts
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        states, seq = list(states0), [None] * steps
        for t in order:
            with b.scope(f"t{t}"):
                xw_t = b.op("Squeeze", [parts[t], b.ints([0])])
                states = self.cell(b, states, xw_t, refs)
                seq[t] = b.op("Unsqueeze", [states[0], b.ints([0])])
        sequence = seq[0] if steps == 1 else b.op("Concat", seq, axis=0)
        return states[0], sequence

    def _xw_width(self) -> int:
        return self.gates * self.units

    def _ref_shape(self, key: str) -> list[int]:
        """Shapes of the outer values a cell reads (see _hoist)."""
        h, g = self.units, self.gates
        return {"rT": [h, g * h], "rzrT": [h, 2 * h], "rhT": [h, h], "rb": [g * h]}[key]

    def _act(self, b: GraphBuilder, x: str) -> str:
        return b.op(_ACTS[self.opts["activation"]], [x])


@layer
class SimpleRNN(_Recurrent):
    type = "simple_rnn"
    op_type = "RNN"
    gates = 1
    description = "Elman recurrent layer: h_t = activation(x_t W^T + h_(t-1) R^T + Wb + Rb)"
    options = _common_options("1")

    def cell(self, b, states, xw_t, refs):
        (h,) = states
        return [self._act(b, b.op("Add", [xw_t, b.op("MatMul", [h, refs["rT"]])]))]


@layer
class GRU(_Recurrent):
    type = "gru"
    op_type = "GRU"
    gates = 3
    description = (
        "gated recurrent unit (ONNX gates z, r, h): z, r = sigmoid(...), "
        "n = activation(x Wh^T + Wbh + r * (h Rh^T + Rbh)), h' = (1 - z) * n + z * h"
    )
    options = {
        **_common_options("3"),
        "linear_before_reset": o.boolean(
            "apply the reset gate after the recurrent product (PyTorch, Keras 2 and cuDNN); "
            "false: to the state before it (the original GRU, ONNX's default)",
            True,
        ),
    }

    def _native_attrs(self):
        return {"linear_before_reset": int(self.opts["linear_before_reset"])}

    def _pad_single_feature(self) -> bool:
        # tract 0.23.9 fuses GRU with linear_before_reset into a kernel that fails on one input
        # feature ("xw not contiguous": its x.W^T of inner size 1 comes out column-major)
        return bool(self.opts["linear_before_reset"]) and self.in_shapes[0][1] == 1

    def _hoist(self, b, proj, wb, rb, r):
        h = self.units
        if self.opts["linear_before_reset"]:  # Rbh stays inside r * (h Rh^T + Rbh)
            xw = b.op("Add", [proj, wb])
            return xw, {"rT": b.op("Transpose", [r], perm=[1, 0]), "rb": rb}
        # every bias is outside the reset gate: all of them join the input projection
        r_zr, r_h = b.op("Split", [r, b.ints([2 * h, h])], outputs=2, axis=0)
        xw = b.op("Add", [proj, b.op("Add", [wb, rb])])
        refs = {
            "rzrT": b.op("Transpose", [r_zr], perm=[1, 0]),
            "rhT": b.op("Transpose", [r_h], perm=[1, 0]),
        }
        return xw, refs

    def cell(self, b, states, xw_t, refs):
        (h_prev,) = states
        u = self.units
        xz, xr, xh = b.op("Split", [xw_t, b.ints([u, u, u])], outputs=3, axis=1)
        if self.opts["linear_before_reset"]:
            hr = b.op("Add", [b.op("MatMul", [h_prev, refs["rT"]]), refs["rb"]])
            hz, hr_, hh = b.op("Split", [hr, b.ints([u, u, u])], outputs=3, axis=1)
            z = b.op("Sigmoid", [b.op("Add", [xz, hz])])
            r = b.op("Sigmoid", [b.op("Add", [xr, hr_])])
            n = self._act(b, b.op("Add", [xh, b.op("Mul", [r, hh])]))
        else:
            hzr = b.op("MatMul", [h_prev, refs["rzrT"]])
            hz, hr_ = b.op("Split", [hzr, b.ints([u, u])], outputs=2, axis=1)
            z = b.op("Sigmoid", [b.op("Add", [xz, hz])])
            r = b.op("Sigmoid", [b.op("Add", [xr, hr_])])
            hh = b.op("MatMul", [b.op("Mul", [r, h_prev]), refs["rhT"]])
            n = self._act(b, b.op("Add", [xh, hh]))
        # h' = (1 - z) n + z h = n + z (h - n)
        return [b.op("Add", [n, b.op("Mul", [z, b.op("Sub", [h_prev, n])])])]


@layer
class LSTM(_Recurrent):
    type = "lstm"
    op_type = "LSTM"
    gates = 4
    n_states = 2
    description = (
        "long short-term memory (ONNX gates i, o, f, c): c' = f * c + i * activation(c~), "
        "h' = o * activation(c')"
    )
    options = {
        **_common_options("4"),
        "forget_bias": o.number(
            "added to the initial forget-gate input bias (Keras' unit_forget_bias; "
            "Jozefowicz et al.)",
            1.0,
        ),
    }

    def _bias_offset(self):
        h = self.units
        offset = np.zeros(8 * h)
        offset[2 * h : 3 * h] = float(self.opts["forget_bias"])  # Wb of gate f (order i, o, f, c)
        return offset

    def cell(self, b, states, xw_t, refs):
        h_prev, c_prev = states
        u = self.units
        z = b.op("Add", [xw_t, b.op("MatMul", [h_prev, refs["rT"]])])
        i, o_, f, c = b.op("Split", [z, b.ints([u, u, u, u])], outputs=4, axis=1)
        i, o_, f = (b.op("Sigmoid", [v]) for v in (i, o_, f))
        c_new = b.op("Add", [b.op("Mul", [f, c_prev]), b.op("Mul", [i, self._act(b, c)])])
        h_new = b.op("Mul", [o_, self._act(b, c_new)])
        return [h_new, c_new]
