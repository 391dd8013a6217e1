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


def _cell(f, g, h_act, r_t, peepholes, input_forget, bound):
    """One time step: (Xt W^T + biases, Ht-1, Ct-1) -> (Ht, Ct)."""
    p_i, p_o, p_f = peepholes or (None, None, None)

    def step(xw_t, h, c):
        i, o, forget, cell = np.split(xw_t + h @ r_t, 4, axis=1)
        i = f(bound(i if p_i is None else i + p_i * c))
        if input_forget:
            forget = 1 - i
        else:
            forget = f(bound(forget if p_f is None else forget + p_f * c))
        c = forget * c + i * g(bound(cell))
        o = f(bound(o if p_o is None else o + p_o * c))
        return (o * h_act(c), c)

    return step


@register("LSTM")
class LSTM(Kernel):
    """A long short-term memory layer, gates in the order i (input), o (output), f (forget),
    c (cell).

    it = f(Xt Wi^T + Ht-1 Ri^T + Pi * Ct-1 + Wbi + Rbi), ft likewise with Pf (or 1 - it with
    input_forget), ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc), Ct = ft * Ct-1 + it * ct,
    ot = f(Xt Wo^T + Ht-1 Ro^T + Po * Ct + Wbo + Rbo), Ht = ot * h(Ct); f, g, h default to
    Sigmoid, Tanh, Tanh. `clip` bounds the inputs of f and g (the gates' pre-activations).
    """

    def run(
        self,
        x,
        w,
        r,
        b=None,
        sequence_lens=None,
        initial_h=None,
        initial_c=None,
        p=None,
        *,
        activation_alpha=None,
        activation_beta=None,
        activations=None,
        clip=None,
        direction="forward",
        hidden_size=None,
        input_forget=0,
        layout=0,
    ):
        backward = reversed_flags(direction)
        n_dir = len(backward)
        hidden = hidden_size_of(w, r, 4, n_dir, hidden_size)
        x, initial_h, initial_c = time_major(layout, x, initial_h, initial_c)
        length, batch, _ = x.shape
        dtype = np.result_type(x, w, r)
        h0 = given_or_zeros(initial_h, (n_dir, batch, hidden), dtype, "initial_h")
        c0 = given_or_zeros(initial_c, (n_dir, batch, hidden), dtype, "initial_c")
        bias = given_or_zeros(b, (n_dir, 8 * hidden), dtype, "B")
        lens = sequence_lengths(sequence_lens, batch, length)
        functions = activation_functions(
            activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh", "Tanh"], n_dir
        )
        bound = clipper(clip)
        if p is not None and p.shape != (n_dir, 3 * hidden):
            raise ValueError(f"P has shape {list(p.shape)}, expected [{n_dir}, {3 * hidden}]")
        ys, hs, cs = [], [], []
        for d in range(n_dir):
            peepholes = None if p is None else np.split(p[d], 3)
            step = _cell(*functions[d], r[d].T, peepholes, input_forget, bound)
            xw = x @ w[d].T + (bias[d, : 4 * hidden] + bias[d, 4 * hidden :])
            y, (h, c) = run_in_time(step, xw, [h0[d], c0[d]], lens, backward[d])
            ys.append(y)
            hs.append(h)
            cs.append(c)
        return in_layout(layout, np.stack(ys, axis=1), np.stack(hs), np.stack(cs))
