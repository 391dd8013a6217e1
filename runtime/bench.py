"""`nnc bench`: train-step and inference throughput on synthetic data (like `caffe time`)."""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from nnc.compiler.network import Network
from nnc.runtime.compiled import Compiled
from nnc.runtime.engines import Engine


@dataclass
class BenchResult:
    spec: str
    engine: str
    batch_size: int
    parameters: int
    train_ms_per_step: float | None  # median over repeats; None for a spec without a loss
    train_ms_min: float | None
    train_ms_max: float | None
    train_samples_per_s: float | None
    infer_ms_per_batch: float
    infer_samples_per_s: float
    peak_rss_mib: float

    def to_dict(self) -> dict:
        return asdict(self)


def synthetic_batches(net: Network, batch: int, count: int, seed: int = 0) -> list[dict]:
    """Random inputs with random labels: nothing a model can memorise into a shortcut."""
    rng = np.random.default_rng(seed)
    t = net.target()
    out = []
    for _ in range(count):
        x = rng.random((batch, *net.spec.input_shape), dtype=np.float32)
        if t.kind == "class_index":
            y = rng.integers(0, t.num_classes, batch).astype(np.int64)
        elif t.kind in ("binary", "multilabel"):
            y = rng.integers(0, 2, (batch, *t.output_shape)).astype(np.float32)
        else:
            y = rng.random((batch, *t.output_shape), dtype=np.float32)
        out.append({"x": x, "y": y})
    return out


class TrainLoop:
    """A stepper fed from pre-built batches, as the trainer feeds it (random inputs included)."""

    def __init__(self, net: Network, engine: Engine, batch: int, seed: int = 0, batches: int = 8):
        self.graphs = Compiled(net).graphs
        values = net.initial_values(seed)
        carried = {**values, **self.graphs.initial_state()}
        self.stepper = engine.stepper(self.graphs.train_step, carried)
        self.batches = synthetic_batches(net, batch, batches, seed)
        self.rng = np.random.default_rng(seed)
        self.lr = np.array(net.spec.optimizer["lr"], dtype=np.float32)
        self.step_no = 0
        self.batch = batch

    def step(self) -> dict:
        feeds = dict(self.batches[self.step_no % len(self.batches)])
        feeds["step"] = np.array(self.step_no, np.int64)
        feeds["lr"] = self.lr
        for name, shape in self.graphs.random_inputs.items():
            feeds[name] = self.rng.random((self.batch, *shape), dtype=np.float32)
        self.step_no += 1
        return self.stepper.step(feeds)


def time_steps(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def calibrate(fn, target_s: float = 0.2) -> int:
    """How many calls take about target_s."""
    n = 1
    while True:
        dt = time_steps(fn, n) * n
        if dt >= target_s / 4 or n >= 1 << 20:
            return max(1, int(n * target_s / max(dt, 1e-9)))
        n *= 4


def bench(
    net: Network, engine: Engine, batch: int | None = None, repeats: int = 7, warmup: int = 10
) -> BenchResult:
    batch = batch or min(int(net.spec.train["batch_size"]), 4096)
    train = None
    if net.spec.loss is not None and net.trainable():
        loop = TrainLoop(net, engine, batch)
        for _ in range(warmup):
            loop.step()
        n = calibrate(loop.step)
        train = [time_steps(loop.step, n) for _ in range(repeats)]

    model = Compiled(net).export(net.initial_values(0))
    run = engine.session(model)
    x = np.random.default_rng(0).random((batch, *net.spec.input_shape), dtype=np.float32)
    for _ in range(warmup):
        run(["y"], {"x": x})
    n = calibrate(lambda: run(["y"], {"x": x}))
    infer = [time_steps(lambda: run(["y"], {"x": x}), n) for _ in range(repeats)]

    med = statistics.median(train) if train else None
    imed = statistics.median(infer)
    return BenchResult(
        spec=net.spec.name,
        engine=engine.describe(),
        batch_size=batch,
        parameters=sum(int(np.prod(p.shape)) for p in net.params),
        train_ms_per_step=med * 1e3 if train else None,
        train_ms_min=min(train) * 1e3 if train else None,
        train_ms_max=max(train) * 1e3 if train else None,
        train_samples_per_s=batch / med if train else None,
        infer_ms_per_batch=imed * 1e3,
        infer_samples_per_s=batch / imed,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def format_result(r: BenchResult) -> str:
    return "\n".join(
        [
            f"spec:        {r.spec} ({r.parameters:,} parameters)",
            f"engine:      {r.engine}",
            f"batch size:  {r.batch_size}",
            (
                f"train step:  {r.train_ms_per_step:.4f} ms/step (min {r.train_ms_min:.4f}, max "
                f"{r.train_ms_max:.4f})  {r.train_samples_per_s:,.0f} samples/s"
                if r.train_ms_per_step is not None
                else "train step:  n/a (the spec has no loss or nothing to train)"
            ),
            f"inference:   {r.infer_ms_per_batch:.4f} ms/batch  "
            f"{r.infer_samples_per_s:,.0f} samples/s",
            f"peak memory: {r.peak_rss_mib:,.0f} MiB (process RSS)",
        ]
    )
