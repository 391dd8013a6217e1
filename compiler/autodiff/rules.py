"""Gradient rules, one per ONNX op type. Each returns one gradient per node input (None where no
gradient flows). The chain rule for op y = f(x) reads: dx = dy * f'(x)."""

from __future__ import annotations

import numpy as np

from nnc.compiler.autodiff.core import (
    GradContext,
    GradientError,
    attrs,
    non_differentiable,
    region_rule,
    rule,
)
from nnc.compiler.builder import elem_type


def _z(g: GradContext) -> str:
    return g.b.scalar(0.0)


def _one(g: GradContext) -> str:
    return g.b.scalar(1.0)


def elementwise(op_type: str, saves=("x",)):
    """A unary elementwise op: the rule gives f'(x) (from x, y) and multiplies by dy."""

    def wrap(deriv):
        @rule(op_type, saves=saves)
        def _rule(g, node, dys):
            x, y, dy = node.input[0], node.output[0], dys[0]
            return [deriv(g, x, y, dy, **attrs(node))]

        return deriv

    return wrap


# -- linear ops ---------------------------------------------------------------------------------
@rule("Identity")
def _identity(g, node, dys):
    return [dys[0]]


@rule("Neg")
def _neg(g, node, dys):
    return [g.b.op("Neg", [dys[0]])]


@rule("Add", saves=("shapes",))
def _add(g, node, dys):
    a, c = node.input
    y = node.output[0]
    return [
        g.unbroadcast(dys[0], a, y) if g.needs(a) else None,
        g.unbroadcast(dys[0], c, y) if g.needs(c) else None,
    ]


@rule("Sub", saves=("shapes",))
def _sub(g, node, dys):
    a, c = node.input
    y = node.output[0]
    return [
        g.unbroadcast(dys[0], a, y) if g.needs(a) else None,
        g.unbroadcast(g.b.op("Neg", [dys[0]]), c, y) if g.needs(c) else None,
    ]


@rule("Sum", saves=("shapes",))
def _sum(g, node, dys):
    y = node.output[0]
    return [g.unbroadcast(dys[0], x, y) if g.needs(x) else None for x in node.input]


@rule("Mul", saves=("x",))
def _mul(g, node, dys):
    a, c = node.input
    y, dy, b = node.output[0], dys[0], g.b
    if a == c:  # a square: d(a*a) = 2 a da, one gradient instead of two summed
        return [b.op("Mul", [b.op("Mul", [dy, a]), b.scalar(2.0)]), None]
    return [
        g.unbroadcast(b.op("Mul", [dy, c]), a, y) if g.needs(a) else None,
        g.unbroadcast(b.op("Mul", [dy, a]), c, y) if g.needs(c) else None,
    ]


@rule("Div", saves=("x", "y"))
def _div(g, node, dys):
    a, c = node.input
    y, dy, b = node.output[0], dys[0], g.b
    da = g.unbroadcast(b.op("Div", [dy, c]), a, y) if g.needs(a) else None
    dc = None
    if g.needs(c):
        dc = g.unbroadcast(b.op("Neg", [b.op("Div", [b.op("Mul", [dy, y]), c])]), c, y)
    return [da, dc]


@rule("Gemm", saves=("x",))
def _gemm(g, node, dys):
    a_, b_ = node.input[:2]
    at = attrs(node)
    alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
    ta, tb = at.get("transA", 0), at.get("transB", 0)
    b, dy = g.b, dys[0]
    if alpha != 1.0:
        dy = b.op("Mul", [dy, b.scalar(alpha)])
    da = db = dc = None
    # Y = op(A) op(B): d op(A) = dY op(B)^T, d op(B) = op(A)^T dY, then undo the transposes.
    if g.needs(a_):
        da = (
            b.op("Gemm", [b_, dy], transA=tb, transB=1)
            if ta
            else b.op("Gemm", [dy, b_], transB=1 - tb)
        )
    if g.needs(b_):
        db = (
            b.op("Gemm", [dy, a_], transA=1, transB=ta)
            if tb
            else b.op("Gemm", [a_, dy], transA=1 - ta)
        )
    if len(node.input) > 2 and node.input[2] and g.needs(node.input[2]):
        dc = g.unbroadcast(
            dys[0] if beta == 1.0 and alpha == 1.0 else b.op("Mul", [dys[0], b.scalar(beta)]),
            node.input[2],
            node.output[0],
        )
    return [da, db, dc]


@rule("MatMul", saves=("x",))
def _matmul(g, node, dys):
    a_, b_ = node.input
    b, dy, y = g.b, dys[0], node.output[0]
    ra, rb = g.rank(a_), g.rank(b_)
    da = db = None

    def t(x, r):
        perm = list(range(r))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return b.op("Transpose", [x], perm=perm)

    if ra == 1 or rb == 1:
        raise GradientError("MatMul with a 1-D operand has no gradient rule yet")
    if g.needs(a_):
        da = (
            g.unbroadcast(b.op("MatMul", [dy, t(b_, rb)]), a_, y)
            if rb > 2 or ra == 2
            else b.op("MatMul", [dy, t(b_, rb)])
        )
    if g.needs(b_):
        if rb == 2 and ra > 2:
            k, m = g.shape(a_)[-1], g.shape(y)[-1]
            a2 = b.op("Reshape", [a_, b.ints([-1, k])])
            d2 = b.op("Reshape", [dy, b.ints([-1, m])])
            db = b.op("Gemm", [a2, d2], transA=1)
        else:
            db = g.unbroadcast(b.op("MatMul", [t(a_, ra), dy]), b_, y)
    return [da, db]


@rule("Reshape", saves=("shapes",), nondiff=(1,))
def _reshape(g, node, dys):
    return [g.like(dys[0], node.input[0]), None]


@rule("Flatten", saves=("shapes",))
def _flatten(g, node, dys):
    return [g.like(dys[0], node.input[0])]


@rule("Squeeze", saves=("shapes",), nondiff=(1,))
def _squeeze(g, node, dys):
    return [g.like(dys[0], node.input[0])] + [None] * (len(node.input) - 1)


@rule("Unsqueeze", saves=("shapes",), nondiff=(1,))
def _unsqueeze(g, node, dys):
    return [g.like(dys[0], node.input[0]), None]


@rule("Transpose")
def _transpose(g, node, dys):
    perm = attrs(node).get("perm") or list(reversed(range(g.rank(node.input[0]))))
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return [g.b.op("Transpose", [dys[0]], perm=inv)]


@rule("Concat", saves=("shapes",))
def _concat(g, node, dys):
    axis = attrs(node)["axis"]
    sizes = [g.shape(x)[axis] for x in node.input]
    if any(not isinstance(s, int) for s in sizes):
        raise GradientError("Concat gradient along a dynamic axis")
    parts = g.b.op("Split", [dys[0], g.b.ints(sizes)], outputs=len(sizes), axis=axis)
    return parts if len(sizes) > 1 else [parts]


@rule("Split", saves=("shapes",), nondiff=(1,))
def _split(g, node, dys):
    """The pieces' gradients concatenated back; a piece no gradient reaches contributes zeros."""
    b = g.b
    axis = attrs(node).get("axis", 0)
    parts = []
    for y, dy in zip(node.output, dys):
        if dy is None:
            shape = g.shape(y)
            if any(not isinstance(d, int) for d in shape):
                raise GradientError("Split gradient with an unused piece of dynamic shape")
            dy = b.const(np.zeros(shape))
        parts.append(dy)
    out = parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=axis)
    return [out] + [None] * (len(node.input) - 1)


@rule("Slice", saves=("shapes",), nondiff=(1, 2, 3, 4))
def _slice(g, node, dys):
    """dy padded with zeros back to x's shape (constant starts/ends/axes, steps of 1)."""
    b, x, dy = g.b, node.input[0], dys[0]
    shape = g.shape(x)
    rank = len(shape)

    def const(i, default):
        if len(node.input) <= i or not node.input[i]:
            return default
        v = g.const_value(node.input[i])
        if v is None:
            raise GradientError("Slice gradient with starts/ends/axes/steps computed at run time")
        return [int(a) for a in np.asarray(v).ravel()]

    starts, ends = const(1, None), const(2, None)
    axes = [a % rank for a in const(3, list(range(len(starts))))]
    steps = const(4, [1] * len(axes))
    big = np.iinfo(np.int64).max // 2
    if (
        all(s == -1 for s in steps)
        and all(s == -1 for s in starts)
        and all(e <= -big for e in ends)
    ):
        out = dy  # a reversal (builder.reverse): the gradient is reversed back
        for a in axes:
            out = b.reverse(out, a)
        return [out] + [None] * (len(node.input) - 1)
    if any(s != 1 for s in steps):
        raise GradientError("Slice gradient with steps other than 1 (or a whole reversal)")
    begin, end = [0] * rank, [0] * rank
    for a, s0, e0 in zip(axes, starts, ends):
        n = shape[a]
        if not isinstance(n, int):
            if s0 == 0 and e0 >= np.iinfo(np.int64).max // 2:
                continue  # the whole (symbolic) axis
            raise GradientError("Slice gradient along an axis of dynamic length")
        lo = min(max(s0 + n if s0 < 0 else s0, 0), n)
        hi = min(max(e0 + n if e0 < 0 else e0, 0), n)
        begin[a], end[a] = lo, n - max(hi, lo)
    if not any(begin) and not any(end):
        return [dy] + [None] * (len(node.input) - 1)
    return [b.op("Pad", [dy, b.ints(begin + end)])] + [None] * (len(node.input) - 1)


@rule("ReduceSum", saves=("shapes",), nondiff=(1,))
def _reduce_sum(g, node, dys):
    return [_expand_reduced(g, node, dys[0]), None]


@rule("ReduceMean", saves=("shapes",), nondiff=(1,))
def _reduce_mean(g, node, dys):
    b = g.b
    x, y = node.input[0], node.output[0]
    xs, ys = g.shape(x), g.shape(y)
    if all(isinstance(d, int) for d in xs + ys):
        scale = b.scalar(float(np.prod(ys)) / float(np.prod(xs)))
    elif all(d == 1 for d in ys):  # a full reduction: 1 / size(x)
        scale = b.op("Reciprocal", [b.count(x)])
    else:  # 1 / (values averaged) = size(y) / size(x), exact also with a symbolic batch
        scale = b.op("Div", [b.count(y), b.count(x)])
    # scale the (small) reduced gradient before expanding it back over x
    return [_expand_reduced(g, node, b.op("Mul", [dys[0], scale])), None]


def _expand_reduced(g: GradContext, node, dy: str) -> str:
    """Broadcast the gradient of a reduction back over the reduced axes."""
    b = g.b
    x = node.input[0]
    at = attrs(node)
    rank = g.rank(x)
    axes = None
    if len(node.input) > 1 and node.input[1]:
        val = g.const_value(node.input[1])
        if val is None:
            raise GradientError("reduction over axes computed at run time")
        axes = [int(a) % rank for a in np.asarray(val).ravel()]
    if not axes:
        if at.get("noop_with_empty_axes", 0):
            return dy
        axes = list(range(rank))
    if not at.get("keepdims", 1):
        dy = b.op("Unsqueeze", [dy, b.ints(sorted(axes))])
    return b.op("Expand", [dy, b.op("Shape", [x])])


# -- elementwise nonlinearities -------------------------------------------------------------------
@elementwise("Relu", saves=("y",))
def _relu(g, x, y, dy):
    # dy * (y > 0): measured faster on onnxruntime's CPU kernels than dy * Sign(y) or a Where
    b = g.b
    return b.op("Mul", [dy, b.op("Cast", [b.op("Greater", [y, _z(g)])], to=elem_type(b.dtype))])


@elementwise("LeakyRelu")
def _leaky_relu(g, x, y, dy, alpha=0.01):
    b = g.b
    return b.op("Where", [b.op("Greater", [x, _z(g)]), dy, b.op("Mul", [dy, b.scalar(alpha)])])


@elementwise("Elu", saves=("x", "y"))
def _elu(g, x, y, dy, alpha=1.0):
    b = g.b
    neg = b.op("Mul", [dy, b.op("Add", [y, b.scalar(alpha)])])
    return b.op("Where", [b.op("Greater", [x, _z(g)]), dy, neg])


@elementwise("Sigmoid", saves=("y",))
def _sigmoid(g, x, y, dy):
    b = g.b
    return b.op("Mul", [dy, b.op("Mul", [y, b.op("Sub", [_one(g), y])])])


@elementwise("Tanh", saves=("y",))
def _tanh(g, x, y, dy):
    b = g.b
    return b.op("Mul", [dy, b.op("Sub", [_one(g), b.op("Mul", [y, y])])])


@elementwise("Softplus")
def _softplus(g, x, y, dy):
    return g.b.op("Mul", [dy, g.b.op("Sigmoid", [x])])


@elementwise("Exp", saves=("y",))
def _exp(g, x, y, dy):
    return g.b.op("Mul", [dy, y])


@elementwise("Log")
def _log(g, x, y, dy):
    return g.b.op("Div", [dy, x])


@elementwise("Sqrt", saves=("y",))
def _sqrt(g, x, y, dy):
    return g.b.op("Div", [dy, g.b.op("Mul", [y, g.b.scalar(2.0)])])


@elementwise("Reciprocal", saves=("y",))
def _reciprocal(g, x, y, dy):
    b = g.b
    return b.op("Neg", [b.op("Mul", [dy, b.op("Mul", [y, y])])])


@elementwise("Abs")
def _abs(g, x, y, dy):
    return g.b.op("Mul", [dy, g.b.op("Sign", [x])])


@elementwise("Sin")
def _sin(g, x, y, dy):
    return g.b.op("Mul", [dy, g.b.op("Cos", [x])])


@elementwise("Cos")
def _cos(g, x, y, dy):
    return g.b.op("Neg", [g.b.op("Mul", [dy, g.b.op("Sin", [x])])])


@elementwise("Erf")
def _erf(g, x, y, dy):
    b = g.b  # d erf(x) / dx = 2 / sqrt(pi) e^(-x^2)
    bump = b.op("Exp", [b.op("Neg", [b.op("Mul", [x, x])])])
    return b.op("Mul", [dy, b.op("Mul", [bump, b.scalar(2.0 / np.sqrt(np.pi))])])


@elementwise("Selu", saves=("x", "y"))
def _selu(g, x, y, dy, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    b = g.b  # gamma for x > 0; gamma alpha e^x = y + gamma alpha below
    below = b.op("Mul", [dy, b.op("Add", [y, b.scalar(gamma * alpha)])])
    return b.op("Where", [b.op("Greater", [x, _z(g)]), b.op("Mul", [dy, b.scalar(gamma)]), below])


@elementwise("HardSigmoid", saves=("x",))
def _hard_sigmoid(g, x, y, dy, alpha=0.2, beta=0.5):
    b = g.b  # alpha where 0 < alpha x + beta < 1, else 0 (flat)
    u = b.op("Add", [b.op("Mul", [x, b.scalar(alpha)]), b.scalar(beta)])
    to = elem_type(b.dtype)
    above = b.op("Cast", [b.op("Greater", [u, _z(g)])], to=to)
    below = b.op("Cast", [b.op("Less", [u, _one(g)])], to=to)
    return b.op("Mul", [b.op("Mul", [dy, b.scalar(alpha)]), b.op("Mul", [above, below])])


@elementwise("Softsign")
def _softsign(g, x, y, dy):
    b = g.b  # 1 / (1 + |x|)^2
    denom = b.op("Add", [b.op("Abs", [x]), _one(g)])
    return b.op("Div", [dy, b.op("Mul", [denom, denom])])


@rule("Pow", saves=("x", "y"))
def _pow(g, node, dys):
    x, p = node.input
    y, dy, b = node.output[0], dys[0], g.b
    dx = dp = None
    if g.needs(x):
        pm1 = b.op("Pow", [x, b.op("Sub", [p, b.const(1.0, dtype=_dtype_of(g, p))])])
        dx = g.unbroadcast(
            b.op("Mul", [dy, b.op("Mul", [b.op("Cast", [p], to=elem_type(b.dtype)), pm1])]), x, y
        )
    if g.needs(p):
        dp = g.unbroadcast(b.op("Mul", [dy, b.op("Mul", [y, b.op("Log", [x])])]), p, y)
    return [dx, dp]


def _dtype_of(g: GradContext, name: str):
    v = g.const_value(name)
    return g.b.dtype if v is None else v.dtype


@rule("Softmax", saves=("y",))
def _softmax(g, node, dys):
    b, y, dy = g.b, node.output[0], dys[0]
    axis = attrs(node).get("axis", -1)
    s = b.op("ReduceSum", [b.op("Mul", [dy, y]), b.ints([axis])], keepdims=1)
    return [b.op("Mul", [y, b.op("Sub", [dy, s])])]


@rule("LogSoftmax", saves=("y",))
def _log_softmax(g, node, dys):
    b, y, dy = g.b, node.output[0], dys[0]
    axis = attrs(node).get("axis", -1)
    s = b.op("ReduceSum", [dy, b.ints([axis])], keepdims=1)
    return [b.op("Sub", [dy, b.op("Mul", [b.op("Exp", [y]), s])])]


def _minmax(pick_first_op: str):
    def fn(g, node, dys):
        if len(node.input) != 2:
            raise GradientError(f"{node.op_type} gradient for {len(node.input)} inputs")
        a, c = node.input
        y, dy, b = node.output[0], dys[0], g.b
        first = b.op(pick_first_op, [a, c])  # ties go to the first input
        zero = _z(g)
        return [
            g.unbroadcast(b.op("Where", [first, dy, zero]), a, y) if g.needs(a) else None,
            g.unbroadcast(b.op("Where", [first, zero, dy]), c, y) if g.needs(c) else None,
        ]

    return fn


rule("Min", saves=("x",))(_minmax("LessOrEqual"))
rule("Max", saves=("x",))(_minmax("GreaterOrEqual"))


@rule("Where", saves=("x0",), nondiff=(0,))
def _where(g, node, dys):
    c, a, e = node.input
    y, dy, b = node.output[0], dys[0], g.b
    zero = _z(g)
    return [
        None,
        g.unbroadcast(b.op("Where", [c, dy, zero]), a, y) if g.needs(a) else None,
        g.unbroadcast(b.op("Where", [c, zero, dy]), e, y) if g.needs(e) else None,
    ]


@rule("Cast")
def _cast(g, node, dys):
    # only float -> float casts are on a differentiable path; cast the gradient back
    x = node.input[0]
    return [g.b.op("Cast", [dys[0]], to=elem_type(g.b.dtype))] if g.needs(x) else [None]


# -- fused losses ---------------------------------------------------------------------------------
def _onehot(g: GradContext, labels: str, scores: str) -> str:
    depth = g.shape(scores)[-1]
    if not isinstance(depth, int):
        raise GradientError("a loss gradient over a dynamic number of classes")
    return g.b.one_hot(labels, depth)


def _loss_scale(g: GradContext, node, dy: str, labels: str) -> str:
    b = g.b
    reduction = attrs(node).get("reduction", b"mean")
    reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
    if reduction == "none":
        return b.op("Unsqueeze", [dy, b.ints([-1])])
    if reduction == "sum":
        return dy
    return b.op("Div", [dy, b.count(labels)])


def _supported_loss_node(g: GradContext, node) -> None:
    what = node.op_type
    if len(node.input) > 2 and node.input[2]:
        raise GradientError(f"{what} gradient with class weights")
    if "ignore_index" in attrs(node):  # ignored rows would need a zero gradient and a smaller N
        raise GradientError(f"{what} gradient with ignore_index")
    if g.rank(node.input[0]) != 2:
        raise GradientError(f"{what} gradient for rank > 2 scores")


@rule("SoftmaxCrossEntropyLoss", saves=("x",), nondiff=(1, 2))
def _softmax_ce(g, node, dys):
    _supported_loss_node(g, node)
    z, t = node.input[:2]
    b = g.b
    # d/dz mean(-log softmax(z)[t]) = (softmax(z) - onehot(t)) / N
    diff = b.op("Sub", [b.op("Softmax", [z], axis=-1), _onehot(g, t, z)])
    return [b.op("Mul", [diff, _loss_scale(g, node, dys[0], t)]), None, None]


@rule("NegativeLogLikelihoodLoss", saves=("x1",), nondiff=(1, 2))
def _nll(g, node, dys):
    _supported_loss_node(g, node)
    lp, t = node.input[:2]
    b = g.b
    return [
        b.op("Neg", [b.op("Mul", [_onehot(g, t, lp), _loss_scale(g, node, dys[0], t)])]),
        None,
        None,
    ]


@region_rule("SoftmaxCrossEntropy", saves=("logp", "onehot", "shapes"))
def _softmax_cross_entropy(g, region, dys):
    """Per sample, -log softmax(z)[t]: d/dz = softmax(z) - onehot(t), in two passes instead of
    the LogSoftmax and product rules' five."""
    b = g.b
    logp, onehot = region.saved["logp"], region.saved["onehot"]
    dy = b.op("Unsqueeze", [dys[0], b.ints([-1])])  # [N] -> [N, 1]
    dz = b.op("Mul", [b.op("Sub", [b.op("Exp", [logp]), onehot]), dy])
    return [dz, None]


@region_rule("SigmoidCrossEntropy", saves=("x",))
def _sigmoid_cross_entropy(g, region, dys):
    """Per element, max(z, 0) - z t + log(1 + e^-|z|) = -t log s(z) - (1 - t) log(1 - s(z)):
    d/dz = s(z) - t (also at z = 0, where the stable form's pieces have corners), and
    d/dt = -z (a target computed from parameters, say)."""
    b = g.b
    z, t = region.inputs
    dy = dys[0]
    dz = b.op("Mul", [dy, b.op("Sub", [b.op("Sigmoid", [z]), t])]) if g.needs(z) else None
    dt = b.op("Neg", [b.op("Mul", [dy, z])]) if g.needs(t) else None
    return [
        g.unbroadcast(dz, z, region.outputs[0]) if dz else None,
        g.unbroadcast(dt, t, region.outputs[0]) if dt else None,
    ]


@region_rule("Perceptron", saves=("x",))
def _perceptron(g, region, dys):
    """Per element max(0, -s z) with s = 2t - 1: d/dz = -s on a mistake (step(z) != t, so z = 0
    with t = 1 is one: the perceptron's prediction there is 0), else 0; d/dt = -2 z where the
    loss is positive (a target computed from parameters, say)."""
    b = g.b
    z, t = region.inputs
    dy = dys[0]
    to = elem_type(b.dtype)
    sign = b.op("Sub", [b.op("Mul", [t, b.scalar(2.0)]), _one(g)])
    dz = dt = None
    if g.needs(z):
        # |step(z) - step(t - 1/2)|: 1 on a mistake (no Xor, which not every runtime has)
        predicted = b.op("Cast", [b.op("Greater", [z, _z(g)])], to=to)
        wanted = b.op("Cast", [b.op("Greater", [t, b.scalar(0.5)])], to=to)
        mistake = b.op("Abs", [b.op("Sub", [predicted, wanted])])
        dz = b.op("Mul", [b.op("Neg", [dy]), b.op("Mul", [sign, mistake])])
    if g.needs(t):
        wrong = b.op("Cast", [b.op("Less", [b.op("Mul", [z, sign]), _z(g)])], to=to)
        dt = b.op("Mul", [dy, b.op("Mul", [z, b.op("Mul", [wrong, b.scalar(-2.0)])])])
    return [
        g.unbroadcast(dz, z, region.outputs[0]) if dz else None,
        g.unbroadcast(dt, t, region.outputs[0]) if dt else None,
    ]


# -- ops no gradient flows through ----------------------------------------------------------------
non_differentiable(
    "a comparison or logical op: its output is boolean",
    "Greater",
    "Less",
    "Equal",
    "GreaterOrEqual",
    "LessOrEqual",
    "Not",
    "And",
    "Or",
    "Xor",
)
non_differentiable("its output is an index", "ArgMax", "ArgMin")
non_differentiable("its output depends only on shapes", "Shape", "Size", "ConstantOfShape", "Range")
non_differentiable(
    "piecewise constant: its derivative is zero wherever it exists",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
)
