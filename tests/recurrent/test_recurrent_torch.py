"""Recurrent layers against PyTorch's nn.RNN / nn.GRU / nn.LSTM autograd in float64: the same
weights (ONNX gate blocks reordered to PyTorch's), the same outputs, loss and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.interpreter import Interpreter

torch = pytest.importorskip("torch")  # .ci/run installs it (the bench extra)

T, F, N = 5, 3, 4
# PyTorch's gate blocks, as indices of ONNX's: LSTM i,f,g,o from i,o,f,c; GRU r,z,n from z,r,h
TORCH_ORDER = {"lstm": [0, 2, 3, 1], "gru": [1, 0, 2], "simple_rnn": [0]}
TORCH_CLASS = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}


def _blocks(a: np.ndarray, kind: str) -> np.ndarray:
    parts = np.split(a, len(TORCH_ORDER[kind]), axis=0)
    return np.concatenate([parts[i] for i in TORCH_ORDER[kind]], axis=0)


def _torch_layer(kind: str, opts: dict, values: dict, name: str, in_size: int):
    h = opts["units"]
    kw = {"nonlinearity": opts.get("activation", "tanh")} if kind == "simple_rnn" else {}
    mod = getattr(torch.nn, TORCH_CLASS[kind])(
        in_size,
        h,
        batch_first=True,
        bidirectional=opts.get("bidirectional", False),
        dtype=torch.float64,
        **kw,
    )
    g = len(TORCH_ORDER[kind])
    for suffix in ["", "_reverse"][: 2 if opts.get("bidirectional") else 1]:
        bias = values[f"{name}.bias{suffix}"]
        copies = {
            f"weight_ih_l0{suffix}": values[f"{name}.weight{suffix}"],
            f"weight_hh_l0{suffix}": values[f"{name}.recurrent_weight{suffix}"],
            f"bias_ih_l0{suffix}": bias[: g * h],
            f"bias_hh_l0{suffix}": bias[g * h :],
        }
        for key, value in copies.items():
            getattr(mod, key).data = torch.tensor(_blocks(value, kind))
    return mod


def _torch_forward(mod, x, opts):
    out, state = mod(x)
    if opts.get("return_sequences"):
        return out
    h_n = state[0] if isinstance(state, tuple) else state
    return torch.cat(list(h_n), dim=-1)


CASES = {
    "simple_rnn": {"units": 4},
    "simple_rnn-relu": {"units": 3, "activation": "relu"},
    "simple_rnn-bidirectional-sequences": {
        "units": 3,
        "bidirectional": True,
        "return_sequences": True,
    },
    "gru": {"units": 4},
    "gru-sequences": {"units": 3, "return_sequences": True},
    "gru-bidirectional": {"units": 3, "bidirectional": True},
    "lstm": {"units": 4},
    "lstm-bidirectional-sequences": {"units": 3, "bidirectional": True, "return_sequences": True},
    "lstm-unrolled": {"units": 3, "unroll": True},
    "lstm-stacked": {"units": 3, "return_sequences": True, "stack": True},
    "gru-stacked-bidirectional": {
        "units": 2,
        "return_sequences": True,
        "bidirectional": True,
        "stack": True,
    },
}


def _flow(opts: dict) -> str:
    items = {k: v for k, v in opts.items() if k != "stack"}
    return ", ".join(
        f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in items.items()
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_loss_and_gradients_equal_pytorch(case):
    kind = case.split("-")[0]
    opts = CASES[case]
    layers = [f"  - {{type: {kind}, name: r0, {_flow(opts)}}}"]
    if opts.get("stack"):
        second = {**opts, "return_sequences": False, "unroll": False}
        layers.append(f"  - {{type: {kind}, name: r1, {_flow(second)}}}")
    layers.append("  - {type: flatten}")
    spec = parse_spec(
        f"input: {{shape: [{T}, {F}]}}\nlayers:\n" + "\n".join(layers) + "\nloss: mse\n"
    )
    net = Network(spec)
    values = net.initial_values(3, np.float64)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, F))
    target = rng.normal(size=(N, *net.output_shape))

    mods = [_torch_layer(kind, opts, values, "r0", F)]
    if opts.get("stack"):
        width = opts["units"] * (2 if opts.get("bidirectional") else 1)
        mods.append(_torch_layer(kind, {**opts, "return_sequences": False}, values, "r1", width))
    xt = torch.tensor(x)
    y = _torch_forward(mods[0], xt, opts)
    if len(mods) > 1:
        y = _torch_forward(mods[1], y, {**opts, "return_sequences": False})
    y = y.reshape(N, -1)
    loss = torch.mean((y - torch.tensor(target.reshape(N, -1))) ** 2)
    loss.backward()

    ours = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(ours.reshape(N, -1), y.detach().numpy(), rtol=1e-10, atol=1e-12)
    graphs = training_graphs(net, np.float64)
    outs = ["loss", *[f"grad.{p.name}" for p in net.trainable()]]
    res = dict(zip(outs, Interpreter(graphs.gradient).run(outs, {"x": x, "y": target, **values})))
    assert float(res["loss"]) == pytest.approx(loss.item(), rel=1e-12)
    g = len(TORCH_ORDER[kind])
    for i, mod in enumerate(mods):
        h = opts["units"]
        for suffix in ["", "_reverse"][: 2 if opts.get("bidirectional") else 1]:
            bias_grad = np.concatenate(
                [
                    getattr(mod, f"bias_ih_l0{suffix}").grad.numpy(),
                    getattr(mod, f"bias_hh_l0{suffix}").grad.numpy(),
                ]
            )
            pairs = {
                f"r{i}.weight{suffix}": getattr(mod, f"weight_ih_l0{suffix}").grad.numpy(),
                f"r{i}.recurrent_weight{suffix}": getattr(
                    mod, f"weight_hh_l0{suffix}"
                ).grad.numpy(),
                f"r{i}.bias{suffix}": np.concatenate(
                    [_blocks(bias_grad[: g * h], kind), _blocks(bias_grad[g * h :], kind)]
                ),
            }
            for name, theirs in pairs.items():
                if name.endswith(("bias", "bias_reverse")):
                    # our blocks in ONNX order: bring theirs back (undo the reorder twice)
                    theirs = np.concatenate(
                        [_unblocks(bias_grad[: g * h], kind), _unblocks(bias_grad[g * h :], kind)]
                    )
                else:
                    theirs = _unblocks(theirs, kind)
                np.testing.assert_allclose(
                    res[f"grad.{name}"], theirs, rtol=1e-9, atol=1e-12, err_msg=name
                )


def _unblocks(a: np.ndarray, kind: str) -> np.ndarray:
    """PyTorch's gate blocks back to ONNX order."""
    order = TORCH_ORDER[kind]
    parts = np.split(a, len(order), axis=0)
    out = [None] * len(order)
    for torch_pos, onnx_pos in enumerate(order):
        out[onnx_pos] = parts[torch_pos]
    return np.concatenate(out, axis=0)


@pytest.mark.parametrize("kind", sorted(TORCH_CLASS))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_counts_equal_pytorch(kind, bidirectional):
    spec = parse_spec(
        f"input: {{shape: [7, 10]}}\nlayers:\n  - {{type: {kind}, units: 16, "
        f"bidirectional: {str(bidirectional).lower()}}}\n"
    )
    ours = sum(int(np.prod(p.shape)) for p in Network(spec).params)
    mod = getattr(torch.nn, TORCH_CLASS[kind])(10, 16, bidirectional=bidirectional)
    assert ours == sum(p.numel() for p in mod.parameters())
