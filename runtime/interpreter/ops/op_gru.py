import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.recurrent import (
    activation_functions,
    clipper,
    given_or_zeros,
    hidden_size_of,
    in_layout,
    reversed_flags,
    run_in_time,
    sequence_lengths,
    time_major,
)
from nnc.runtime.interpreter.registry import register


def _cell(f, g, r, rb, linear_before_reset, bound):
    """One time step: (Xt W^T + Wb, Ht-1) -> (Ht,), for one direction's R and Rb."""
    hidden = r.shape[1]
    r_zr, r_h = r[: 2 * hidden].T, r[2 * hidden :].T
    rb_zr, rb_h = rb[: 2 * hidden], rb[2 * hidden :]

    def step(xw_t, h):
        zr = f(bound(xw_t[:, : 2 * hidden] + h @ r_zr + rb_zr))
        z, reset = zr[:, :hidden], zr[:, hidden:]
        if linear_before_reset:
            candidate = xw_t[:, 2 * hidden :] + reset * (h @ r_h + rb_h)
        else:
            candidate = xw_t[:, 2 * hidden :] + (reset * h) @ r_h + rb_h
        return ((1 - z) * g(bound(candidate)) + z * h,)

    return step


@register("GRU")
class GRU(Kernel):
    """A gated recurrent unit layer, gates in the order z (update), r (reset), h (hidden).

    zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz), rt likewise, and the candidate
    ht = g(Xt Wh^T + (rt * Ht-1) Rh^T + Rbh + Wbh), or with linear_before_reset
    ht = g(Xt Wh^T + rt * (Ht-1 Rh^T + Rbh) + Wbh); Ht = (1 - zt) * ht + zt * Ht-1.
    f and g default to Sigmoid and Tanh.
    """

    def run(
        self,
        x,
        w,
        r,
        b=None,
        sequence_lens=None,
        initial_h=None,
        *,
        activation_alpha=None,
        activation_beta=None,
        activations=None,
        clip=None,
        direction="forward",
        hidden_size=None,
        layout=0,
        linear_before_reset=0,
    ):
        backward = reversed_flags(direction)
        n_dir = len(backward)
        hidden = hidden_size_of(w, r, 3, n_dir, hidden_size)
        x, initial_h = time_major(layout, x, initial_h)
        length, batch, _ = x.shape
        dtype = np.result_type(x, w, r)
        h0 = given_or_zeros(initial_h, (n_dir, batch, hidden), dtype, "initial_h")
        bias = given_or_zeros(b, (n_dir, 6 * hidden), dtype, "B")
        lens = sequence_lengths(sequence_lens, batch, length)
        functions = activation_functions(
            activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh"], n_dir
        )
        bound = clipper(clip)
        ys, hs = [], []
        for d in range(n_dir):
            step = _cell(*functions[d], r[d], bias[d, 3 * hidden :], linear_before_reset, bound)
            xw = x @ w[d].T + bias[d, : 3 * hidden]
            y, (h,) = run_in_time(step, xw, [h0[d]], lens, backward[d])
            ys.append(y)
            hs.append(h)
        return in_layout(layout, np.stack(ys, axis=1), np.stack(hs))
