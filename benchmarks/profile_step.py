"""Where a train step's time goes: onnxruntime's own profiler over the rows of compare_torch.py.

    python benchmarks/profile_step.py [--steps 200] [--only NAME ...]

For each row: the step's wall time per call, and its kernels' time split by phase (the emitted
node names say it: forward layers, loss, metrics, grad/ for the backward pass, optimizer/ for the
update), by op type, and the costliest nodes. The gap between the wall time and the kernels' sum
is onnxruntime's per-call and per-node overhead (feeds, fetches, scheduling). This is the profile
that the README's performance section cites for every target it misses.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare_torch import models  # noqa: E402

from nnc.compiler.network import Network  # noqa: E402
from nnc.runtime.bench import TrainLoop  # noqa: E402
from nnc.runtime.engines import OrtEngine  # noqa: E402

PHASES = ("forward", "loss", "metrics", "grad", "optimizer")


class ProfilingEngine(OrtEngine):
    def __init__(self, prefix: str):
        super().__init__("cpu")
        self.prefix = prefix

    def options(self):
        so = super().options()
        so.enable_profiling = True
        so.profile_file_prefix = self.prefix
        return so


def phase(node: str) -> str:
    head = node.split("/", 1)[0]
    return head if head in PHASES else "forward"


def wall_time(loop, steps: int) -> float:
    for _ in range(20):
        loop.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return (time.perf_counter() - t0) / steps


def profile(spec, batch: int, steps: int, tmp: Path) -> dict:
    plain = wall_time(TrainLoop(Network(spec), OrtEngine("cpu"), batch), steps)
    prefix = str(tmp / f"p{time.monotonic_ns()}")
    loop = TrainLoop(Network(spec), ProfilingEngine(prefix), batch)
    wall = wall_time(loop, steps)
    del loop
    gc.collect()  # the session writes its profile when it is destroyed
    files = sorted(tmp.glob(Path(prefix).name + "*.json"))
    if not files:
        raise SystemExit("onnxruntime wrote no profile")
    events = json.loads(files[-1].read_text())
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    runs = sum(1 for e in events if e.get("name") == "model_run")
    by_node: dict[str, float] = collections.defaultdict(float)
    by_op: dict[str, float] = collections.defaultdict(float)
    by_phase: dict[str, float] = collections.defaultdict(float)
    for e in kernels:
        node = e["name"][: -len("_kernel_time")]
        us = e["dur"] / runs
        by_node[node] += us
        by_op[e["args"].get("op_name", "?")] += us
        by_phase[phase(node)] += us
    return {
        "plain_us": plain * 1e6,
        "wall_us": wall * 1e6,
        "nodes": by_node,
        "ops": by_op,
        "phases": by_phase,
    }


def report(label: str, p: dict, top: int) -> None:
    total = sum(p["phases"].values())
    print(
        f"\n{label}: {p['plain_us']:.1f} us/step without the profiler; profiled "
        f"{p['wall_us']:.1f} us/step, of which kernels {total:.1f} us in {len(p['nodes'])} "
        f"nodes (the rest, {p['wall_us'] - total:.1f} us: per-call and per-node overhead)"
    )
    print(
        "  by phase: "
        + ", ".join(
            f"{k} {p['phases'][k]:.1f} us ({p['phases'][k] / total:.0%})"
            for k in PHASES
            if k in p["phases"]
        )
    )
    ops = sorted(p["ops"].items(), key=lambda kv: -kv[1])[:top]
    print("  by op:    " + ", ".join(f"{k} {v:.1f} us ({v / total:.0%})" for k, v in ops))
    nodes = sorted(p["nodes"].items(), key=lambda kv: -kv[1])[:top]
    for name, us in nodes:
        print(f"    {us:9.1f} us  {us / total:4.0%}  {name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--only", nargs="*", help="substrings of model names to run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, batch in models("cpu"):
            if args.only and not any(s in label for s in args.only):
                continue
            steps = args.steps if batch <= 64 else max(20, args.steps // 10)
            report(label, profile(spec, batch, steps, Path(tmp)), args.top)


if __name__ == "__main__":
    main()
