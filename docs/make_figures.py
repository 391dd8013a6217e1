"""Makes the README's figures and examples from real runs:

docs/training-progress.png  curves.png of specs/digits-mlp.yaml trained with validate_every: 50
docs/residual-mlp.svg       nnc graph of examples/residual-mlp.yaml (needs Graphviz's dot)
the predict-on-a-CSV example: iris.csv written from scikit-learn's iris, a spec that trains on
it, nnc predict on that very file; the commands and what they print go to stdout.

  .venv/bin/python docs/make_figures.py [--out docs]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

IRIS_SPEC = """\
nnc: 1
name: iris-csv
input: {shape: [4]}
layers:
  - {type: dense, units: 16, activation: relu}
  - {type: dense, units: 3, activation: softmax}
loss: cross_entropy
optimizer: {type: adam, lr: 0.01}
train: {epochs: 100, batch_size: 16, seed: 0}
data:
  csv: {path: iris.csv, target: species}
  preprocess: {x: {standardize: true}}
  split: {test: 0.2, seed: 0}
"""


def nnc(*argv: str) -> tuple[int, str]:
    """Runs an nnc command in this process -> (exit code, what it printed)."""
    from nnc.runtime.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


def progress_figure(out_dir: Path, work: Path) -> Path:
    """digits-mlp with a validation every 50 steps (as MATLAB's default): its curves.png."""
    doc = yaml.safe_load((ROOT / "specs" / "digits-mlp.yaml").read_text())
    doc["train"]["validate_every"] = 50
    spec = work / "digits-mlp.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, _ = nnc("train", spec, "--run-dir", work / "digits-mlp", "--device", "cpu")
    if code != 0:
        raise SystemExit(f"training digits-mlp failed (exit {code})")
    target = out_dir / "training-progress.png"
    shutil.copyfile(work / "digits-mlp" / "curves.png", target)
    return target


def network_figure(out_dir: Path) -> Path | None:
    if shutil.which("dot") is None:
        print("skipped residual-mlp.svg: Graphviz's dot is not installed", file=sys.stderr)
        return None
    target = out_dir / "residual-mlp.svg"
    code, _ = nnc("graph", ROOT / "examples" / "residual-mlp.yaml", "-o", target)
    if code != 0:
        raise SystemExit(f"nnc graph failed (exit {code})")
    return target


def write_iris_csv(path: Path) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row, t in zip(iris.data, iris.target):
            w.writerow([*(f"{v:g}" for v in row), iris.target_names[t]])


def predict_example(work: Path) -> str:
    """Trains on iris.csv and predicts on it: the transcript, as a shell session."""
    write_iris_csv(work / "iris.csv")
    (work / "iris-csv.yaml").write_text(IRIS_SPEC)
    run = work / "runs" / "iris-csv-1"
    lines = ["$ head -3 iris.csv"]
    lines += (work / "iris.csv").read_text().splitlines()[:3]
    code, out = nnc("train", work / "iris-csv.yaml", "--run-dir", run, "--device", "cpu")
    if code != 0:
        raise SystemExit(f"training iris-csv failed (exit {code})")
    test = next(line for line in out.splitlines() if line.startswith("test: "))
    lines += ["$ nnc train iris-csv.yaml", "...", test, "..."]
    code, out = nnc("predict", run, "--input", work / "iris.csv")
    lines += ["$ nnc predict runs/iris-csv-1 --input iris.csv | head -3"]
    lines += out.splitlines()[:3]
    code, out = nnc("predict", run, "--input", work / "iris.csv", "-o", work / "predictions.csv")
    lines += ["$ nnc predict runs/iris-csv-1 --input iris.csv -o predictions.csv"]
    lines += [out.strip().replace(str(work / "predictions.csv"), "predictions.csv")]
    lines += ["$ head -3 predictions.csv"]
    lines += (work / "predictions.csv").read_text().splitlines()[:3]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="where the figures go")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"wrote {progress_figure(args.out, work)}")
        figure = network_figure(args.out)
        if figure:
            print(f"wrote {figure}")
        print("\nthe predict-on-a-CSV example:\n")
        print(predict_example(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
