"""What the RNN, GRU and LSTM kernels share: the activation functions their attributes name,
directions and layouts, weight checks, and the time loop with per-sequence lengths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# name -> (f(x, alpha, beta), default alpha, default beta); a default of None means the
# function takes no such parameter, NaN that it has no default. The defaults are those of the
# ONNX ops of the same names (ScaledTanh's op defined none). The functions are those of the
# recurrent ops' docs (ThresholdedRelu keeps x >= alpha there, x > alpha in its own op).
_ACTIVATIONS: dict[str, tuple[Callable[..., np.ndarray], float | None, float | None]] = {
    "Relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "Tanh": (lambda x, a, b: np.tanh(x), None, None),
    "Sigmoid": (lambda x, a, b: _sigmoid(x), None, None),
    "Affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "LeakyRelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "ThresholdedRelu": (lambda x, a, b: np.where(x >= a, x, 0).astype(x.dtype), 1.0, None),
    "ScaledTanh": (lambda x, a, b: a * np.tanh(b * x), np.nan, np.nan),
    "HardSigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "Elu": (lambda x, a, b: np.where(x >= 0, x, a * np.expm1(np.minimum(x, 0))), 1.0, None),
    "Softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "Softplus": (lambda x, a, b: np.logaddexp(x, 0), None, None),
}
_BY_LOWER_NAME = {name.lower(): name for name in _ACTIVATIONS}


def activation_functions(
    names: Sequence[str] | None,
    alphas: Sequence[float] | None,
    betas: Sequence[float] | None,
    defaults: Sequence[str],
    n_directions: int,
) -> list[list[Activation]]:
    """The activation functions of each direction, `len(defaults)` per direction.

    `names` lists them for every direction in turn (the defaults when omitted). `alphas` and
    `betas` are consumed in the order of the functions, each function taking one only if it
    has that parameter; a function that finds the list used up takes the default of the ONNX
    op of its name (ScaledTanh, whose op has none, must be given both). Names match
    case-insensitively, as in ONNX Runtime.
    """
    per = len(defaults)
    names = list(defaults) * n_directions if not names else list(names)
    if len(names) != per * n_directions:
        raise ValueError(
            f"activations has {len(names)} names; {per} per direction are needed for "
            f"{n_directions} direction(s)"
        )
    alpha_left, beta_left = list(alphas or ()), list(betas or ())
    functions = []
    for name in names:
        canonical = _BY_LOWER_NAME.get(name.lower())
        if canonical is None:
            raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}")
        function, alpha, beta = _ACTIVATIONS[canonical]
        if alpha is not None and alpha_left:
            alpha = alpha_left.pop(0)
        if beta is not None and beta_left:
            beta = beta_left.pop(0)
        if any(v is not None and np.isnan(v) for v in (alpha, beta)):
            raise ValueError(
                f"activation {canonical} needs activation_alpha and activation_beta values: "
                "ONNX defines no defaults for them"
            )
        functions.append(lambda x, f=function, a=alpha, b=beta: f(x, a, b))
    return [functions[d * per : (d + 1) * per] for d in range(n_directions)]


def clipper(clip: float | None) -> Activation:
    """Bounds pre-activations to [-clip, clip]; the identity when clip is not given."""
    if clip is None:
        return lambda x: x
    if clip < 0:
        raise ValueError(f"clip must not be negative, got {clip}")
    return lambda x: np.clip(x, -clip, clip)


def reversed_flags(direction: str) -> list[bool]:
    """Per direction, whether it runs backward in time."""
    flags = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}
    if direction not in flags:
        raise ValueError(f"direction must be forward, reverse or bidirectional, not {direction!r}")
    return flags[direction]


def hidden_size_of(
    w: np.ndarray, r: np.ndarray, gates: int, n_directions: int, hidden_size: int | None
) -> int:
    """The hidden size that R implies, after checking W, R and the attribute against it."""
    hidden = r.shape[-1]
    if hidden_size is not None and hidden_size != hidden:
        raise ValueError(f"hidden_size is {hidden_size}, R has {hidden} columns")
    if w.ndim != 3 or w.shape[:2] != (n_directions, gates * hidden):
        raise ValueError(
            f"W has shape {list(w.shape)}; expected [{n_directions}, {gates * hidden}, input]"
        )
    if r.shape != (n_directions, gates * hidden, hidden):
        raise ValueError(
            f"R has shape {list(r.shape)}; expected [{n_directions}, {gates * hidden}, {hidden}]"
        )
    return hidden


def time_major(layout: int, x: np.ndarray, *states: Any) -> tuple[Any, ...]:
    """X as [seq, batch, input] and the initial states as [directions, batch, hidden]."""
    if layout not in (0, 1):
        raise ValueError(f"layout must be 0 or 1, got {layout}")
    if x.ndim != 3:
        raise ValueError(f"X must have rank 3, got shape {list(x.shape)}")
    if not layout:
        return (x, *states)
    return (
        x.transpose(1, 0, 2),
        *(None if s is None else s.transpose(1, 0, 2) for s in states),
    )


def in_layout(layout: int, y: np.ndarray, *finals: np.ndarray) -> tuple[np.ndarray, ...]:
    """Y [seq, directions, batch, hidden] and final states [directions, batch, hidden] in the
    node's layout."""
    if not layout:
        return (y, *finals)
    return (y.transpose(2, 0, 1, 3), *(f.transpose(1, 0, 2) for f in finals))


def given_or_zeros(
    value: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, name: str
) -> np.ndarray:
    """An optional input (bias, initial state) checked against its shape; zeros if omitted."""
    if value is None:
        return np.zeros(shape, dtype=dtype)
    if value.shape != shape:
        raise ValueError(f"{name} has shape {list(value.shape)}, expected {list(shape)}")
    return value


def sequence_lengths(value: np.ndarray | None, batch: int, length: int) -> np.ndarray | None:
    """Per-sequence lengths as an int array, None when all are the full length."""
    if value is None:
        return None
    lens = np.asarray(value).astype(np.int64).reshape(-1)
    if lens.shape != (batch,):
        raise ValueError(f"sequence_lens has shape {list(np.shape(value))}, expected [{batch}]")
    if np.any(lens < 0) or np.any(lens > length):
        raise ValueError(f"sequence_lens {lens.tolist()} is outside [0, {length}]")
    return None if np.all(lens == length) else lens


def run_in_time(
    step: Callable[..., tuple[np.ndarray, ...]],
    inputs: np.ndarray,
    states: Sequence[np.ndarray],
    lens: np.ndarray | None,
    backward: bool,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run `step(inputs[t], *states) -> new states` over time; return Y [seq, batch, hidden]
    (the first state of each step) and the final states.

    With `lens`, sequence b runs over its first lens[b] steps only (backward from its own last
    step when `backward`): past its end its states do not change and its Y is zero, so its
    final states are those of its last step (its initial states if it is empty).
    """
    length = len(inputs)
    ys: list[np.ndarray] = [None] * length  # type: ignore[list-item]
    for t in range(length - 1, -1, -1) if backward else range(length):
        new = step(inputs[t], *states)
        if lens is None:
            ys[t] = new[0]
        else:
            valid = (t < lens)[:, None]
            new = tuple(np.where(valid, n, s) for n, s in zip(new, states, strict=True))
            ys[t] = np.where(valid, new[0], 0)
        states = new
    if not length:
        return np.zeros((0, *states[0].shape), dtype=states[0].dtype), list(states)
    return np.stack(ys), list(states)
