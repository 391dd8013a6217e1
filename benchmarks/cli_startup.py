"""How long the quick commands take, as a user runs them: `nnc --version`, and `nnc validate` and
`nnc summary` of every spec in specs/, each as a fresh process, timed from start to exit.

    .venv/bin/python benchmarks/cli_startup.py [--repeats 7] [--specs specs/*.yaml] [--json]

Prints min and median wall time per command (seconds), and the median CPU time (user + system) of
the process, which other load on a shared machine inflates less than the wall time. Each command
gets one untimed run first, so that the file cache is warm and the modules' bytecode is cached (in
a temporary PYTHONPYCACHEPREFIX, even where PYTHONDONTWRITEBYTECODE is set: an installed nnc has
its bytecode, and compiling the sources again on every run is no part of a command's cost). Also
reports which heavy modules the command imported.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("onnx", "onnxruntime", "matplotlib", "sklearn", "scipy", "torch")
PYCACHE = tempfile.mkdtemp(prefix="nnc-pycache-")
atexit.register(shutil.rmtree, PYCACHE, ignore_errors=True)
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": PYCACHE,
    "NNC_NO_PROGRESS": "1",
}


def nnc_command() -> list[str]:
    """The installed `nnc` script next to this interpreter, else `python -m nnc.runtime.cli`."""
    script = Path(sys.executable).with_name("nnc")
    if script.exists():
        return [str(script)]
    found = shutil.which("nnc")
    return [found] if found else [sys.executable, "-m", "nnc.runtime.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(argv: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `repeats` runs."""
    env = ENV
    subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, check=False)  # warm the caches
    wall, cpu = [], []
    for _ in range(repeats):
        cpu0, start = _children_cpu(), time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=ROOT, check=False)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return wall, cpu


def heavy_imports(args: list[str]) -> list[str]:
    """The heavy modules a command imports, run in-process in a fresh interpreter."""
    code = (
        "import sys; from nnc.runtime.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=ENV, check=False
    )
    last = [line for line in out.stdout.splitlines() if line.startswith("heavy:")][-1:]
    return [m for m in last[0][len("heavy:") :].split(",") if m] if last else ["?"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--specs", nargs="*", default=sorted(glob.glob(str(ROOT / "specs" / "*.yaml"))))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    args = p.parse_args()
    nnc = nnc_command()
    cases = [["--version"]]
    for spec in args.specs:
        rel = os.path.relpath(spec, ROOT)
        cases += [["validate", rel], ["summary", rel]]
    rows = []
    for case in cases:
        wall, cpu = time_command(nnc + case, args.repeats)
        rows.append(
            {
                "command": "nnc " + " ".join(case),
                "min_s": min(wall),
                "median_s": statistics.median(wall),
                "cpu_median_s": statistics.median(cpu),
                "heavy_imports": heavy_imports(case),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(r["command"]) for r in rows)
    print(f"{'command':{width}s}  {'min s':>6s}  {'median s':>8s}  {'cpu s':>6s}  heavy imports")
    for r in rows:
        heavy = ", ".join(r["heavy_imports"]) or "-"
        print(
            f"{r['command']:{width}s}  {r['min_s']:6.3f}  {r['median_s']:8.3f}  "
            f"{r['cpu_median_s']:6.3f}  {heavy}"
        )
    worst = max(rows, key=lambda r: r["median_s"])
    print(
        f"slowest median: {worst['command']} {worst['median_s']:.3f} s wall, "
        f"{worst['cpu_median_s']:.3f} s CPU ({args.repeats} runs; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
