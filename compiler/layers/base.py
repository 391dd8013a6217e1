"""The layer interface: options, shape inference, parameters, and lowering to ONNX ops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.activations import activation_ref
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.registry import Registry

PerSample = tuple[int, ...]  # a per-sample shape; the batch dimension is implicit


class ShapeError(Exception):
    """A layer that cannot take the shapes it is given; `field` names the option at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ParamDecl:
    """One tensor a layer owns. `state` tensors (running statistics) are updated by the
    train-step graph but never by the optimizer."""

    name: str  # full name: "<layer>.<short>"
    shape: PerSample
    init: Any  # initializer reference (str or mapping), or None when `value` is given
    fan_in: int = 1
    fan_out: int = 1
    trainable: bool = True
    value: np.ndarray | None = None
    regularize: bool = True  # subject to l1/l2 (weights yes, biases and norm scales no)
    state: bool = False
    role: str = "weight"  # weight | bias | gamma | beta | running_mean | running_var
    max_norm_axes: tuple[int, ...] | None = None  # axes a max_norm constraint takes norms over
    init_option: str = "init"  # the layer option that chose `init` (where its errors point)
    init_offset: np.ndarray | None = None  # added to the initializer's draw (LSTM forget bias)


@dataclass
class LowerCtx:
    """What a layer's lowering may use: the builder, its parameters' tensor names, the mode."""

    b: GraphBuilder
    mode: str  # "infer" (deployment), "train" (train-step), "eval" (loss/metrics, no update)
    params: dict[str, str]
    random_inputs: list[tuple[str, PerSample]] = field(default_factory=list)
    state_updates: dict[str, str] = field(default_factory=dict)
    # layer name -> (activation name, tensor before that activation), for fused losses
    pre_activation: dict[str, tuple[str, str]] = field(default_factory=dict)
    # how recurrent layers are spelt (layers/recurrent.py): "native" (RNN/GRU/LSTM ops to deploy
    # and evaluate, each layer's `unroll` option to train), or in every graph the cell as a
    # "scan" or "unrolled" (for runtimes without those ops)
    recurrent: str = "native"

    @property
    def training(self) -> bool:
        return self.mode == "train"


COMMON_OPTIONS: dict[str, o.Option] = {
    "name": o.string(
        "unique layer name (default: <type>_<index>)", None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$"
    ),
    "inputs": o.raw(
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "names of the layers (or 'input') this layer reads; default: the previous layer",
        None,
    ),
}


class Layer:
    type: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[Mapping[str, o.Option]] = {}
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1

    def __init__(self, name: str, opts: Mapping[str, Any]):
        self.name = name
        self.opts = opts
        self.in_shapes: list[PerSample] = []
        self.out_shape: PerSample = ()

    def bind(self, inputs: Sequence[PerSample]) -> PerSample:
        """Infer and remember this layer's input and output shapes (raises ShapeError)."""
        self.in_shapes = [tuple(s) for s in inputs]
        self.out_shape = tuple(self.output_shape(self.in_shapes))
        return self.out_shape

    def output_shape(self, inputs: Sequence[PerSample]) -> PerSample:
        raise NotImplementedError

    def parameters(self, inputs: Sequence[PerSample]) -> list[ParamDecl]:
        return []

    def lower(self, ctx: LowerCtx, inputs: Sequence[str]) -> str:
        raise NotImplementedError

    # A loss may look through this layer to find the output's final activation (a shape change,
    # or a layer that is the identity at inference); `passes_activation` says whether it commutes
    # with that activation, so that the loss can read the logits through it exactly.
    look_through: ClassVar[bool] = False

    def passes_activation(self, act: str, elementwise: bool) -> bool:
        return False

    # the options that name an activation this layer applies (the network checks that a loss
    # can train through each); an activation layer applies its own type
    activation_options: ClassVar[tuple[str, ...]] = ()

    def activations(self) -> list[tuple[str, str]]:
        """(option, activation name) of every activation this layer applies."""
        return [(f, activation_ref(self.opts[f])[0]) for f in self.activation_options]

    def final_activation(self) -> str | None:
        """The activation this layer applies last (None: none, or linear); a loss may read
        through it (its input is then the loss's logits)."""
        return None

    def p(self, short: str) -> str:
        return f"{self.name}.{short}"


LAYERS: Registry[type[Layer]] = Registry("layer type")


def layer(cls: type[Layer]) -> type[Layer]:
    LAYERS.add(cls.type, cls)
    return cls


def all_options(cls: type[Layer]) -> dict[str, o.Option]:
    return {**COMMON_OPTIONS, **cls.options}
