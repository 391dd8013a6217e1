"""Measure conformance cases on runtimes against onnxruntime, outside pytest; print Markdown
tables (the README's tables come from the suite's record: scripts/conformance/table.py).

    .venv/bin/python scripts/conformance/measure.py [--runtimes a,b] [--specs x,y] [--json FILE]

Train: STEPS steps from the same start on fixed batches; the max relative loss difference over
the steps and the max final-tensor difference (parameters and optimizer state, |a-b| scaled by
max(1, max|ref|)). Inference: the max scaled difference of every output (labels: mismatches).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from conformance.cases import case, spec_paths  # noqa: E402
from conformance.compare import compare_infer, compare_train  # noqa: E402
from conformance.runners import REFERENCE, RUNNERS  # noqa: E402


def short(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = " | ".join(lines[:3])
    return f"{type(e).__name__}: {text}"[:400]


def markdown(results: list[dict]) -> str:
    """One table per mode: spec x runtime; a number where it ran, a footnote where it failed."""
    runtimes = [r for r in dict.fromkeys(row["runtime"] for row in results) if r != REFERENCE]
    notes: dict[str, int] = {}
    out = []
    for mode, what in (
        ("train", "max relative loss difference / max scaled final-tensor difference"),
        ("infer", "max scaled output difference (labels: all equal unless noted)"),
    ):
        rows = [r for r in results if r["mode"] == mode and r["runtime"] != REFERENCE]
        if not rows:
            continue
        out += [f"{mode}: {what}", "", "| spec | " + " | ".join(runtimes) + " |"]
        out.append("|---" * (len(runtimes) + 1) + "|")
        for spec in dict.fromkeys(r["spec"] for r in rows):
            cells = []
            for rt in runtimes:
                row = next((r for r in rows if r["spec"] == spec and r["runtime"] == rt), None)
                if row is None:
                    cells.append("")
                elif "error" in row:
                    n = notes.setdefault(row["error"], len(notes) + 1)
                    cells.append(f"fails [{n}]")
                elif mode == "train":
                    cells.append(f"{row['loss_rel']:.1e} / {row['param_diff']:.1e}")
                else:
                    lab = (
                        f", {row['label_mismatch']} labels differ" if row["label_mismatch"] else ""
                    )
                    cells.append(f"{row['out_diff']:.1e}{lab}")
            out.append(f"| {spec} | " + " | ".join(cells) + " |")
        out.append("")
    out += [f"[{n}] {err}" for err, n in notes.items()]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runtimes", default=",".join(RUNNERS))
    ap.add_argument("--specs", default=",".join(spec_paths()))
    ap.add_argument("--modes", default="infer,train")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from-json", type=Path, help="only print the tables of an earlier --json")
    args = ap.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return 0
    ref = RUNNERS[REFERENCE]
    results = []
    for spec in args.specs.split(","):
        c = case(spec)
        modes = [m for m in args.modes.split(",") if m == "infer" or c.trainable]
        for mode in modes:
            if mode == "infer":
                expected = ref.run(c.inference, c.infer_feeds)
            else:
                expected = ref.train(c.train_step, c.initial, c.batches, c.steps)
            for rname in args.runtimes.split(","):
                r = RUNNERS[rname]
                ok, why = r.available()
                row = {"spec": spec, "mode": mode, "runtime": rname, "version": why}
                rc = case(spec, r.recurrent)  # tinygrad: recurrent layers unrolled
                if not ok:
                    row["error"] = why
                else:
                    t = time.perf_counter()
                    try:
                        if mode == "infer":
                            got = r.run(rc.inference, c.infer_feeds)
                            row.update(compare_infer(got, expected))
                        else:
                            got = r.train(rc.train_step, c.initial, c.batches, c.steps)
                            row.update(compare_train(got, expected))
                    except Exception as e:  # noqa: BLE001 - every failure is a measurement
                        row["error"] = short(e)
                    row["seconds"] = round(time.perf_counter() - t, 3)
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
