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


def _cell(f, r_t, bound):
    """One time step: (Xt W^T + biases, Ht-1) -> (Ht,)."""

    def step(xw_t, h):
        return (f(bound(xw_t + h @ r_t)),)

    return step


@register("RNN")
class RNN(Kernel):
    """A simple recurrent layer: Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb), f defaulting to Tanh.

    Outputs Y (every step's H, zero past a sequence's length) and Y_h (each sequence's last H).
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
    ):
        backward = reversed_flags(direction)
        n_dir = len(backward)
        hidden = hidden_size_of(w, r, 1, n_dir, hidden_size)
        x, initial_h = time_major(layout, x, initial_h)
        length, batch, _ = x.shape
        dtype = np.result_type(x, w, r)
        h0 = given_or_zeros(initial_h, (n_dir, batch, hidden), dtype, "initial_h")
        bias = given_or_zeros(b, (n_dir, 2 * hidden), dtype, "B")
        lens = sequence_lengths(sequence_lens, batch, length)
        if activations is not None and len(activations) == 2 and n_dir == 1:
            # The schema's default names two functions; one direction uses the first.
            activations = activations[:1]
        functions = activation_functions(
            activations, activation_alpha, activation_beta, ["Tanh"], n_dir
        )
        bound = clipper(clip)
        ys, hs = [], []
        for d in range(n_dir):
            step = _cell(*functions[d], r[d].T, bound)
            xw = x @ w[d].T + (bias[d, :hidden] + bias[d, hidden:])
            y, (h,) = run_in_time(step, xw, [h0[d]], lens, backward[d])
            ys.append(y)
            hs.append(h)
        return in_layout(layout, np.stack(ys, axis=1), np.stack(hs))
