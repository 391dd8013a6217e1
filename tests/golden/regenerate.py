"""Golden graphs: the `onnx.printer` text of what the compiler emits for a few specs, so that a
change in the emitted graphs shows up as a readable diff in review.

Regenerate (only ever with this script) after an intended change, and review the diff:
    .venv/bin/python tests/golden/regenerate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.printer

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SPECS = {
    "xor": ROOT / "specs" / "xor.yaml",
    "digits-mlp": ROOT / "specs" / "digits-mlp.yaml",
    "digits-cnn": ROOT / "specs" / "digits-cnn.yaml",
    "residual-mlp": ROOT / "examples" / "residual-mlp.yaml",
}
KINDS = ("model", "train_step", "eval")
_DATA_FIELDS = ("raw_data", "float_data", "double_data", "int32_data", "int64_data")


def render(spec_path: Path, kind: str) -> str:
    """The printer text of one graph, without parameter values and the model's metadata (they
    change with seeds and specs' prose, not with what the compiler emits)."""
    from nnc.compiler.graphs import inference_model, training_graphs
    from nnc.compiler.network import Network
    from nnc.compiler.spec.model import load_spec

    net = Network(load_spec(spec_path))
    if kind == "model":
        model = inference_model(net, net.initial_values(0))
    else:
        model = training_graphs(net).models()[kind]
    params = {p.name for p in net.params}
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.metadata_props[:]
    model.producer_version = ""
    for t in model.graph.initializer:
        if t.name in params or int(np.prod(t.dims)) > 64:
            for f in _DATA_FIELDS:
                t.ClearField(f)
    return onnx.printer.to_text(model) + "\n"


def path_of(name: str, kind: str) -> Path:
    return HERE / f"{name}.{kind}.txt"


def main() -> int:
    for name, spec in SPECS.items():
        for kind in KINDS:
            text = render(spec, kind)
            path = path_of(name, kind)
            old = path.read_text() if path.exists() else None
            if old != text:
                path.write_text(text)
                print(f"{'updated' if old is not None else 'wrote'} {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
