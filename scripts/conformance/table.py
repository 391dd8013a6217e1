"""The README's tables of tested runtimes, from the record the conformance suite writes.

    .venv/bin/python -m pytest tests/conformance -m conformance     # writes the record
    .venv/bin/python scripts/conformance/table.py [--detail] [RESULTS_JSON]

Default RESULTS_JSON: .cache/conformance/results.json (NNC_CONFORMANCE_RESULTS). The summary
says, per runtime, on how many specs the inference model and the train step agreed with
onnxruntime (Python, CPU), out of those the suite ran; --detail adds one table per mode with
every cell's numbers. A cell claims only what the record holds: a runtime that was not
installed, or a cell that did not run, shows as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = Path(
    os.environ.get("NNC_CONFORMANCE_RESULTS", ROOT / ".cache" / "conformance" / "results.json")
)
REFERENCE = "onnxruntime"
DEFAULT_TOLERANCE = 1e-4  # test_conformance.LOOP_TOL
MODES = {"infer": "inference (model.onnx)", "train": "training (train_step.onnx, 20 steps)"}


def _runtimes(doc: dict) -> list[str]:
    """The runtimes compared with the reference: the suite's runners, then the other tests'
    (the browser page, the node example)."""
    named = [r for r in doc["versions"] if r != REFERENCE]
    return named + sorted({c["runtime"] for c in doc["cells"]} - set(named) - {REFERENCE})


def _count(cells: list[dict]) -> str:
    ran = [c for c in cells if c["status"] != "skipped"]
    ok = [c for c in ran if c["status"] == "passed"]
    if not cells:
        return "-"
    if not ran:
        return "not run"
    text = f"{len(ok)}/{len(ran)} specs"
    lowered: dict[str, list[str]] = {}
    for c in ok:
        if c.get("recurrent"):
            lowered.setdefault(c["recurrent"], []).append(c["spec"])
    notes = [f"{', '.join(sorted(specs))} with `--recurrent {r}`" for r, specs in lowered.items()]
    return text + (f" ({'; '.join(notes)})" if notes else "")


def summary(doc: dict) -> str:
    ref = doc["versions"].get(REFERENCE) or REFERENCE
    lines = [
        f"| runtime | version | {MODES['infer']} | {MODES['train']} |",
        "|---|---|---|---|",
        f"| onnxruntime (Python, CPU) | {ref.split()[-1]} | reference | reference |",
    ]
    for rt in _runtimes(doc):
        cells = [c for c in doc["cells"] if c["runtime"] == rt]
        version = doc["versions"].get(rt) or next(
            (c["version"] for c in cells if "version" in c), None
        )
        counts = [_count([c for c in cells if c["mode"] == m]) for m in MODES]
        lines.append(
            f"| {rt} | {version.split()[-1] if version else 'not installed'} | "
            + " | ".join(counts)
            + " |"
        )
    failures = [c for c in doc["cells"] if c["status"] in ("failed", "known")]
    out = "\n".join(lines)
    loose = [
        c
        for c in doc["cells"]
        if c["status"] == "passed" and c.get("tolerance", 0) > DEFAULT_TOLERANCE
    ]
    if loose:
        out += "\n\nWithin a looser tolerance (see tests/conformance/README.md): " + ", ".join(
            f"{c['spec']} {c['mode']} on {c['runtime']} ({max(c['loss_rel'], c['param_diff']):.1e}"
            f" <= {c['tolerance']:g})"
            for c in loose
            if max(c["loss_rel"], c["param_diff"]) > DEFAULT_TOLERANCE
        )
    if failures:
        out += "\n\n" + "\n".join(
            f"- {c['runtime']}, {c['spec']}, {c['mode']}: {c['status']}: {c.get('note', '')}"
            for c in failures
        )
    return out


def _cell(c: dict | None, mode: str) -> str:
    if c is None:
        return ""
    if c["status"] == "skipped":
        return "no loss" if "no loss" in c.get("note", "") else "skipped"
    if c["status"] in ("failed", "known"):
        return c["status"]
    mark = "*" if c.get("recurrent") else ""
    if mode == "train":
        return f"{c['loss_rel']:.1e} / {c['param_diff']:.1e}{mark}"
    return f"{c['out_diff']:.1e}{mark}"


def detail(doc: dict) -> str:
    runtimes = _runtimes(doc)
    out = []
    for mode, what in (
        ("train", "max relative loss difference / max scaled final-tensor difference"),
        ("infer", "max scaled output difference, labels equal"),
    ):
        cells = [c for c in doc["cells"] if c["mode"] == mode]
        shown = [
            rt for rt in runtimes if rt in doc["versions"] or any(c["runtime"] == rt for c in cells)
        ]
        out += [f"{MODES[mode]}: {what}", "", "| spec | " + " | ".join(shown) + " |"]
        out.append("|---" * (len(shown) + 1) + "|")
        for spec in sorted({c["spec"] for c in cells}):
            row = {c["runtime"]: c for c in cells if c["spec"] == spec}
            out.append(f"| {spec} | " + " | ".join(_cell(row.get(rt), mode) for rt in shown) + " |")
        out.append("")
    out.append("\\* with `--recurrent unrolled` (tinygrad has neither RNN/GRU/LSTM nor Scan)")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("results", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--detail", action="store_true", help="also every cell's numbers")
    args = ap.parse_args()
    if not args.results.exists():
        print(f"{args.results}: no record; run the conformance suite first", file=sys.stderr)
        return 1
    doc = json.loads(args.results.read_text())
    print(summary(doc))
    if args.detail:
        print()
        print(detail(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
