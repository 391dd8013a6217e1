"""Data-parallel training on Ray: the gradient graph on every worker, an all-reduce, the update
graph on every replica.

Each worker is a Ray actor that compiles the spec and loads the training data itself (once: the
driver never ships data), and keeps a replica of the parameters and optimizer state. For every
global batch the driver (`nnc train`) sends each worker only the indices of its slice (the batch
split in contiguous parts) and that slice's dropout uniforms (the same numbers a single process
draws, so that the trajectory does not depend on the number of workers); each worker runs the
gradient graph on its slice and returns its gradients, loss and metrics; the driver sums the
gradients weighted by slice size (the all-reduce, through Ray's object store: the sum is put
once and every worker reads it) and every worker applies the same update graph to its replica,
so the replicas stay identical. Batch norm normalises with each worker's own slice statistics
(as PyTorch's DistributedDataParallel without SyncBatchNorm), and each worker updates its own
running statistics; the run checkpoints and exports worker 0's.

Why the object store and not Ray's collective all-reduce: the collective's CPU backend is
PyTorch's gloo, a dependency of several hundred MB for one sum per step; the store needs nothing
beyond Ray, and its cost is measured by benchmarks/distributed.py.

A worker that dies ends the run with one line naming it and the last checkpoint; `nnc train
--resume` continues from that checkpoint (Ray does not restart the actor: a replica that missed
updates would be wrong).
"""

from __future__ import annotations

import os
import time

import numpy as np

from nnc.compiler.graphs import NEXT
from nnc.runtime.errors import RunError


class WorkerLost(RunError):
    """A worker process died or became unreachable."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise RunError(
            "--workers needs Ray, an optional dependency: pip install 'nnc[ray]'"
        ) from None
    return ray


class Worker:
    """One replica: its shard of every batch, its own sessions and parameters (a Ray actor)."""

    def __init__(
        self, rank: int, document: dict, filename: str, base_dir: str, threads: int, fitted=None
    ):
        from nnc.compiler.spec.model import spec_from_document
        from nnc.runtime.compiled import compile_with_data
        from nnc.runtime.engines import OrtEngine

        self.rank = rank
        spec = spec_from_document(document, None, filename, base_dir)
        # the driver's fitted preprocessing (a resumed run's own): never refitted here
        compiled, data = compile_with_data(spec, fitted=fitted)
        graphs = compiled.graphs
        self.x, self.y = data.train.x, data.train.y
        engine = OrtEngine("cpu", threads=threads)
        self.gradient = engine.inference_session(graphs.gradient)
        self.update = engine.inference_session(graphs.update)
        self.gradient_inputs = {i.name for i in graphs.gradient.graph.input}
        self.gradient_outputs = [o.name for o in graphs.gradient.graph.output]
        self.update_inputs = {i.name for i in graphs.update.graph.input}
        self.update_outputs = [o.name for o in graphs.update.graph.output]
        self.carried: dict[str, np.ndarray] = {}

    def pid(self) -> int:
        return os.getpid()

    def load(self, values: dict[str, np.ndarray]) -> None:
        self.carried.update({k: np.array(v) for k, v in values.items()})

    def values(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.carried.items()}

    def grad(self, idx: np.ndarray, extra: dict[str, np.ndarray]) -> dict:
        """The gradient graph on this worker's slice: loss, metrics, gradients; the running
        statistics move on here (each replica keeps its own)."""
        t = time.perf_counter()
        feeds = {"x": self.x[idx], "y": self.y[idx], **extra}
        feeds.update({k: v for k, v in self.carried.items() if k in self.gradient_inputs})
        outs = dict(zip(self.gradient_outputs, self.gradient.run(self.gradient_outputs, feeds)))
        report = {k: float(v) for k, v in outs.items() if k == "loss" or k.startswith("metric.")}
        grads = {k: v for k, v in outs.items() if k.startswith("grad.")}
        finite = all(np.isfinite(v) for v in report.values())
        if finite:
            for k, v in outs.items():
                if k.endswith(NEXT):
                    self.carried[k[: -len(NEXT)]] = v
        return {"n": len(idx), "report": report, "grads": grads, "seconds": time.perf_counter() - t}

    def apply(self, step: int, lr: np.ndarray, grads: dict[str, np.ndarray]) -> dict:
        """The update graph with the all-reduced gradients."""
        feeds = {"step": np.array(step, np.int64), "lr": lr, **grads}
        feeds.update({k: v for k, v in self.carried.items() if k in self.update_inputs})
        outs = dict(zip(self.update_outputs, self.update.run(self.update_outputs, feeds)))
        for k, v in outs.items():
            if k.endswith(NEXT):
                self.carried[k[: -len(NEXT)]] = v
        return {k: float(v) for k, v in outs.items() if not k.endswith(NEXT)}


class DistributedStepper:
    """The Stepper interface (step, values, load) over a set of Ray workers."""

    def __init__(self, ray, workers: list, pids: list[int], carried: dict[str, np.ndarray]):
        self.ray, self.workers, self.pids = ray, workers, pids
        # seconds spent per phase, summed over steps (benchmarks/distributed.py reads them)
        self.timings = {"gradient": 0.0, "all_reduce": 0.0, "update": 0.0, "worker_compute": 0.0}
        self.load(carried)

    # -- the Stepper interface ------------------------------------------------------------------
    def batch_feeds(self, train, idx: np.ndarray) -> dict:
        """The batch is the workers' to read: only its indices travel."""
        return {"__indices__": np.asarray(idx)}

    def step(self, feeds: dict[str, np.ndarray]) -> dict[str, float]:
        feeds = dict(feeds)
        idx = feeds.pop("__indices__")
        step, lr = int(feeds.pop("step")), np.asarray(feeds.pop("lr"))
        total = len(idx)
        bounds = np.linspace(0, total, len(self.workers) + 1).round().astype(int)
        parts = [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        t0 = time.perf_counter()
        refs = [
            w.grad.remote(idx[a:b], {k: v[a:b] for k, v in feeds.items()})
            for w, (a, b) in zip(self.workers, parts)
            if b > a
        ]
        results = self._get(refs)
        t1 = time.perf_counter()
        report: dict[str, float] = {}
        grads: dict[str, np.ndarray] = {}
        for r in results:  # the all-reduce: a sum weighted by slice size, in worker order
            w = r["n"] / total
            for k, v in r["report"].items():
                report[k] = report.get(k, 0.0) + w * v
            for k, g in r["grads"].items():
                grads[k] = grads[k] + w * g if k in grads else w * g
        if not all(np.isfinite(v) for v in report.values()):
            return report  # as a single process: no update from a non-finite step
        shared = self.ray.put(grads)
        t2 = time.perf_counter()
        applied = self._get([w.apply.remote(step, lr, shared) for w in self.workers])
        t3 = time.perf_counter()
        self.timings["gradient"] += t1 - t0
        self.timings["worker_compute"] += max(r["seconds"] for r in results)
        self.timings["all_reduce"] += t2 - t1
        self.timings["update"] += t3 - t2
        report.update(applied[0])
        return report

    def close(self) -> None:
        """Ends the workers (their CPUs go back to the Ray instance)."""
        for w in self.workers:
            try:
                self.ray.kill(w)
            except Exception:  # noqa: BLE001 - a worker that is gone already is fine
                pass

    def values(self) -> dict[str, np.ndarray]:
        """Worker 0's replica (all are equal but for batch norm's running statistics)."""
        return self._get([self.workers[0].values.remote()])[0]

    def load(self, values: dict[str, np.ndarray]) -> None:
        shared = self.ray.put({k: np.asarray(v) for k, v in values.items()})
        self._get([w.load.remote(shared) for w in self.workers])

    # -- failures --------------------------------------------------------------------------------
    def _get(self, refs: list) -> list:
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayError as e:
            raise WorkerLost(self._which_died(e)) from None

    def _which_died(self, error) -> str:
        for rank, w in enumerate(self.workers):
            try:
                self.ray.get(w.pid.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - any failure to answer marks the dead one
                return f"worker {rank} (pid {self.pids[rank]}) died"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"a worker failed: {first[:200]}"


class DataParallel:
    """Starts the workers of a run and hands the trainer their stepper."""

    def __init__(self, spec, workers: int, address: str | None = None, fitted=None) -> None:
        self.spec, self.n, self.address = spec, workers, address
        self.fitted = fitted  # the run's preprocessing (nnc.runtime.data.Fitted), for the workers
        self.ray = import_ray()
        self.description = ""

    def stepper(self, carried: dict[str, np.ndarray]) -> DistributedStepper:
        from nnc.compiler.spec.model import thaw

        ray = self.ray
        if not ray.is_initialized():
            import logging

            # Ray's own start-up notices would break the one-line-per-event output of nnc
            logging.getLogger("ray").setLevel(logging.ERROR)
            kwargs = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
            }
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=max(self.n, os.cpu_count() or 1), **kwargs)
        threads = max(1, (os.cpu_count() or 1) // self.n) if not self.address else None
        actor = ray.remote(num_cpus=1)(Worker)
        doc = thaw(self.spec.document)
        workers = [
            actor.remote(
                k, doc, self.spec.filename, str(self.spec.base_dir), threads or 0, self.fitted
            )
            for k in range(self.n)
        ]
        try:
            pids = ray.get([w.pid.remote() for w in workers])
        except ray.exceptions.RayError as e:
            first = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
            raise RunError(f"the Ray workers could not start: {first}") from None
        where = self.address or "a local Ray instance"
        self.description = f"{self.n} Ray workers on {where} (pids {', '.join(map(str, pids))})"
        return DistributedStepper(ray, workers, pids, carried)
