"""Train-step time of recurrent layers as a Scan over time vs unrolled, on onnxruntime's CPU, in
one process with alternating timed blocks: what `unroll: auto` should pick.

    .venv/bin/python benchmarks/recurrent_unroll.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nnc.compiler.graphs import training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.engines import OrtEngine


def stepper(kind, steps, units, features, batch, unroll, threads):
    text = (
        f"input: {{shape: [{steps}, {features}]}}\nlayers:\n"
        f"  - {{type: {kind}, units: {units}, unroll: {unroll}}}\n"
        "  - {type: dense, units: 10}\nloss: cross_entropy\noptimizer: {type: adam, lr: 0.001}\n"
    )
    net = Network(parse_spec(text))
    g = training_graphs(net)
    engine = OrtEngine("cpu", threads=threads)
    st = engine.stepper(g.train_step, {**net.initial_values(0), **g.initial_state()})
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.normal(size=(batch, steps, features)).astype(np.float32),
        "y": rng.integers(0, 10, batch).astype(np.int64),
        "step": np.array(0, np.int64),
        "lr": np.array(1e-3, np.float32),
    }
    return lambda: st.step(feeds)


def block(run, n):
    t = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - t) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(
        f"{'cell':10s} {'T':>3s} {'H':>4s} {'scan ms':>8s} {'unrolled ms':>11s} "
        f"{'scan/unrolled':>13s}"
    )
    for kind in ("simple_rnn", "gru", "lstm"):
        for steps, units in ((4, 32), (8, 64), (16, 64), (28, 128)):
            runs = {
                u: stepper(kind, steps, units, 28, 64, u, args.threads) for u in ("false", "true")
            }
            for run in runs.values():
                block(run, 5)  # warm-up
            times = {u: [] for u in runs}
            n = max(3, int(200 / (steps * units / 16)))
            for _ in range(args.repeats):
                for u, run in runs.items():
                    times[u].append(block(run, n))
            scan, unrolled = (statistics.median(times[u]) for u in ("false", "true"))
            print(
                f"{kind:10s} {steps:3d} {units:4d} {scan:8.2f} {unrolled:11.2f} "
                f"{scan / unrolled:13.2f}"
            )


if __name__ == "__main__":
    main()
