"""Data-parallel training on Ray: train steps per second with 1 process and with 2 workers on one
machine, where a distributed step's time goes, and the communication per step that decides how
a run scales on a cluster.

    .venv/bin/pip install -e '.[ray]' && .venv/bin/python benchmarks/distributed.py [--steps 60]

A distributed step is two Ray round trips: every worker computes the gradient of its slice
(worker compute) and sends it to the driver, the driver sums them (all-reduce) and puts the sum
in the object store, every worker applies the update graph and answers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nnc.compiler.spec.model import parse_spec
from nnc.runtime.compiled import compile_with_data, load_spec_file
from nnc.runtime.distributed import DataParallel
from nnc.runtime.engines import OrtEngine

MLP = """
name: mlp-784-512-512-10
input: {shape: [784]}
layers:
  - {type: dense, units: 512, activation: relu}
  - {type: dense, units: 512, activation: relu}
  - {type: dense, units: 10}
loss: cross_entropy
optimizer: {type: adam, lr: 0.001}
train: {batch_size: 128}
data: {npz: {path: random.npz}}
"""


def specs(tmp: Path):
    yield "digits-mlp (batch 32)", load_spec_file("specs/digits-mlp.yaml")
    rng = np.random.default_rng(0)  # MNIST-shaped random data: the workers load it themselves
    np.savez(tmp / "random.npz", x=rng.random((2048, 784), np.float32), y=rng.integers(0, 10, 2048))
    yield "MLP 784-512-512-10 (batch 128)", parse_spec(MLP, str(tmp / "mlp.yaml"), str(tmp))


def run(stepper, compiled, data, steps):
    rng = np.random.default_rng(0)
    n, bsz = len(data.train), compiled.batch_size
    feeds = []
    for step in range(steps):
        idx = rng.permutation(n)[:bsz]
        f = {**stepper.batch_feeds(data.train, idx), "step": np.array(step, np.int64)}
        f["lr"] = np.array(1e-3, np.float32)
        for name, shape in compiled.graphs.random_inputs.items():
            f[name] = rng.random((bsz, *shape), dtype=np.float32)
        feeds.append(f)
    for f in feeds[:5]:
        stepper.step(dict(f))
    if hasattr(stepper, "timings"):
        stepper.timings = dict.fromkeys(stepper.timings, 0.0)
    t = time.perf_counter()
    for f in feeds[5:]:
        stepper.step(dict(f))
    return (time.perf_counter() - t) / (steps - 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in specs(Path(tmp)):
            compiled, data = compile_with_data(spec)
            carried = {**compiled.initial_values(), **compiled.graphs.initial_state()}
            params = sum(int(np.prod(p.shape)) for p in compiled.net.trainable())
            single = OrtEngine("cpu").stepper(compiled.graphs.train_step, carried)
            t1 = run(single, compiled, data, args.steps)
            dist = DataParallel(spec, 2).stepper(carried)
            t2 = run(dist, compiled, data, args.steps)
            dist.close()
            per = {k: v / (args.steps - 5) * 1e3 for k, v in dist.timings.items()}
            sync = t2 * 1e3 - per["worker_compute"]
            mb = params * 4 / 1e6
            print(f"{label}, {params:,} parameters")
            print(f"  1 process : {1 / t1:8.1f} steps/s ({t1 * 1e3:.2f} ms/step)")
            print(f"  2 workers : {1 / t2:8.1f} steps/s ({t2 * 1e3:.2f} ms/step)")
            print(
                f"  a 2-worker step: worker compute {per['worker_compute']:.2f} ms; "
                f"all-reduce in the driver {per['all_reduce']:.2f} ms "
                f"({per['all_reduce'] / (t2 * 1e3):.0%}); Ray round trips, transfers and "
                f"waiting {sync - per['all_reduce']:.2f} ms"
            )
            print(
                f"  communication per step: {mb:.2f} MB of gradients from each worker, "
                f"{mb:.2f} MB of summed gradients to each (float32)"
            )


if __name__ == "__main__":
    main()
