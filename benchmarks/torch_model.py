"""Build the PyTorch equivalent of an nnc Network (same layers, same initial values), for the
speed comparison. PyTorch is a benchmark-only dependency."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nnc.compiler.activations import activation_ref
from nnc.compiler.network import Network


def _act(ref) -> nn.Module | None:
    name, opts = activation_ref(ref)
    return {
        "linear": None,
        "sigmoid": nn.Sigmoid(),
        "tanh": nn.Tanh(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(opts.get("alpha", 0.01)),
        "elu": nn.ELU(opts.get("alpha", 1.0)),
        "softplus": nn.Softplus(),
        "softmax": nn.Softmax(dim=-1),
        "log_softmax": nn.LogSoftmax(dim=-1),
    }[name]


# PyTorch's class and gate blocks as indices of ONNX's (LSTM i,f,g,o from i,o,f,c; GRU r,z,n
# from z,r,h)
_RECURRENT = {
    "lstm": (nn.LSTM, [0, 2, 3, 1]),
    "gru": (nn.GRU, [1, 0, 2]),
    "simple_rnn": (nn.RNN, [0]),
}


class _Recurrent(nn.Module):
    """nn.LSTM/GRU/RNN (batch first) returning what the nnc layer returns."""

    def __init__(self, mod: nn.Module, return_sequences: bool):
        super().__init__()
        self.mod, self.return_sequences = mod, return_sequences

    def forward(self, x):
        out, state = self.mod(x)
        if self.return_sequences:
            return out
        h_n = state[0] if isinstance(state, tuple) else state
        return torch.cat(list(h_n), dim=-1)


def _recurrent(layer, values, t) -> nn.Module:
    opts = layer.opts
    cls, order = _RECURRENT[layer.type]
    if layer.type == "gru" and not opts["linear_before_reset"]:
        raise NotImplementedError("PyTorch's GRU applies the reset gate after the product only")
    kw = {"nonlinearity": opts["activation"]} if layer.type == "simple_rnn" else {}
    h = opts["units"]
    mod = cls(
        layer.in_shapes[0][-1], h, batch_first=True, bidirectional=opts["bidirectional"], **kw
    )

    def blocks(a):
        parts = np.split(np.asarray(a), len(order), axis=0)
        return t(np.concatenate([parts[i] for i in order], axis=0))

    g = len(order)
    with torch.no_grad():
        for suffix in ["", "_reverse"][: 2 if opts["bidirectional"] else 1]:
            bias = values[layer.p("bias" + suffix)]
            getattr(mod, f"weight_ih_l0{suffix}").copy_(blocks(values[layer.p("weight" + suffix)]))
            getattr(mod, f"weight_hh_l0{suffix}").copy_(
                blocks(values[layer.p("recurrent_weight" + suffix)])
            )
            getattr(mod, f"bias_ih_l0{suffix}").copy_(blocks(bias[: g * h]))
            getattr(mod, f"bias_hh_l0{suffix}").copy_(blocks(bias[g * h :]))
    return _Recurrent(mod, opts["return_sequences"])


class Sequential(nn.Module):
    def __init__(self, mods):
        super().__init__()
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        return self.body(x)


def build(net: Network, values: dict[str, np.ndarray], drop_final_softmax: bool) -> nn.Module:
    """Layers in order (sequential specs only), initialised from nnc's values."""
    mods: list[nn.Module] = []
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    last = len(net.nodes) - 1
    for i, node in enumerate(net.nodes):
        layer, opts, kind = node.layer, node.layer.opts, node.layer.type
        if kind == "dense":
            lin = nn.Linear(layer.in_shapes[0][-1], opts["units"], bias=opts["use_bias"])
            with torch.no_grad():
                lin.weight.copy_(t(values[layer.p("weight")]).T)
                if opts["use_bias"]:
                    lin.bias.copy_(t(values[layer.p("bias")]))
            mods.append(lin)
            act = opts["activation"]
            if i == last and drop_final_softmax and activation_ref(act)[0] == "softmax":
                continue
            if (m := _act(act)) is not None:
                mods.append(m)
        elif kind == "conv2d":
            _, kernel, stride, dilation, pads, _ = layer._geometry(layer.in_shapes[0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                mods.append(nn.ZeroPad2d((pads[1], pads[3], pads[0], pads[2])))
                pads = [0, 0, 0, 0]
            conv = nn.Conv2d(
                layer.in_shapes[0][0],
                opts["filters"],
                kernel,
                stride,
                (pads[0], pads[1]),
                dilation,
                opts["groups"],
                bias=opts["use_bias"],
            )
            with torch.no_grad():
                conv.weight.copy_(t(values[layer.p("weight")]))
                if opts["use_bias"]:
                    conv.bias.copy_(t(values[layer.p("bias")]))
            mods.append(conv)
            if (m := _act(opts["activation"])) is not None:
                mods.append(m)
        elif kind in ("max_pool2d", "avg_pool2d"):
            _, size, stride, pads, _ = layer._geometry(layer.in_shapes[0])
            cls = nn.MaxPool2d if kind == "max_pool2d" else nn.AvgPool2d
            kw = {} if kind == "max_pool2d" else {"count_include_pad": opts["count_include_pad"]}
            mods.append(cls(size, stride, (pads[0], pads[1]), **kw))
        elif kind == "global_avg_pool2d":
            mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif kind == "batch_norm":
            c = layer.in_shapes[0][0]
            cls = nn.BatchNorm2d if len(layer.in_shapes[0]) == 3 else nn.BatchNorm1d
            bn = cls(c, eps=opts["epsilon"], momentum=1.0 - opts["momentum"])
            with torch.no_grad():
                bn.weight.copy_(t(values[layer.p("gamma")]))
                bn.bias.copy_(t(values[layer.p("beta")]))
            mods.append(bn)
        elif kind == "local_response_norm":
            mods.append(
                nn.LocalResponseNorm(opts["size"], opts["alpha"], opts["beta"], opts["bias"])
            )
        elif kind in _RECURRENT:
            mods.append(_recurrent(layer, values, t))
        elif kind == "dropout":
            mods.append(nn.Dropout(opts["rate"]))
        elif kind == "flatten":
            mods.append(nn.Flatten())
        elif kind == "softmax" and i == last and drop_final_softmax:
            continue
        elif (m := _act(kind)) is not None:
            mods.append(m)
        else:
            raise NotImplementedError(f"no PyTorch translation for layer type {kind!r}")
    return Sequential(mods)


def optimizer(spec, params):
    opt = dict(spec.optimizer)
    kind = opt["type"]
    wd = opt.get("weight_decay") or 0.0
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=opt["lr"],
            momentum=opt.get("momentum", 0.0),
            nesterov=opt.get("nesterov", False),
            weight_decay=wd,
        )
    if kind == "adam":
        return torch.optim.Adam(
            params,
            lr=opt["lr"],
            betas=(opt["beta1"], opt["beta2"]),
            eps=opt["epsilon"],
            weight_decay=wd,
        )
    if kind == "adamw":
        return torch.optim.AdamW(
            params,
            lr=opt["lr"],
            betas=(opt["beta1"], opt["beta2"]),
            eps=opt["epsilon"],
            weight_decay=wd,
        )
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt["lr"], alpha=opt["rho"], eps=opt["epsilon"])
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=opt["lr"], eps=opt["epsilon"])
    raise NotImplementedError(kind)


def loss_fn(net: Network):
    name = net.spec.loss[0]
    if name == "cross_entropy":
        return nn.CrossEntropyLoss(), True
    if name == "mse":
        return nn.MSELoss(), False
    if name == "binary_cross_entropy":
        return nn.BCELoss(), False
    raise NotImplementedError(name)


def l2_weights(net: Network, model: nn.Module) -> list[torch.Tensor]:
    """The tensors nnc's `regularization.l2` penalises: weights of trainable layers, no biases."""
    return [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
