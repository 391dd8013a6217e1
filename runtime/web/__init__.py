"""`nnc web`: a static page that trains a spec in the browser with onnxruntime-web.

The page's folder holds everything it needs, and nothing is fetched from elsewhere:

    index.html, trainer.js    the page and its training loop (this package's files)
    train_step.onnx, eval.onnx, model.onnx, initial.bin, data/*.bin, manifest.json
                              as `nnc compile --with-data` writes them (runtime/manifest.py)
    ort/                      onnxruntime-web: ort.min.js and its WebAssembly build (WebGPU and
                              wasm execution providers), copied from an installed package

The training loop is the one the manifest describes (examples/train-in-node is the same loop in
node), with batches and dropout samples from a seeded generator so that a run is reproducible.
The trained model is built in the browser from model.onnx: the page writes the trained
parameters over the initial ones, whose raw bytes sit at offsets recorded in the manifest
(`model_template`). Same shapes, same lengths, so the protobuf framing around them does not
change, and the page needs no ONNX or protobuf code.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import onnx

from nnc.runtime.checkpoint import atomic_write_bytes
from nnc.runtime.compiled import Compiled, compile_with_data, load_spec_file
from nnc.runtime.errors import RunError
from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info, write_data

ORT_VERSION = "1.30.0"  # that of scripts/conformance/node/package-lock.json, tested
# ort.min.js runs the WebGPU (JSEP) and wasm execution providers from one WebAssembly build
ORT_FILES = ("ort.min.js", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
ROOT = Path(__file__).resolve().parents[2]
ORT_SEARCH = (
    ROOT / ".cache" / "conformance" / "node" / "node_modules" / "onnxruntime-web" / "dist",
    Path("node_modules") / "onnxruntime-web" / "dist",
)
PAGE_FILES = ("index.html", "trainer.js")


def find_ort(given: str | None) -> Path:
    """The folder holding onnxruntime-web's dist files: --ort-dir, $NNC_ORT_WEB, or where
    scripts/conformance/install.sh or `npm install onnxruntime-web` put them."""
    candidates = [Path(given)] if given else []
    if os.environ.get("NNC_ORT_WEB"):
        candidates.append(Path(os.environ["NNC_ORT_WEB"]))
    if not given:
        candidates += list(ORT_SEARCH)
    for folder in candidates:
        if all((folder / f).is_file() for f in ORT_FILES):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise RunError(
        f"onnxruntime-web not found (looked in {looked}); install it with `npm install "
        f"onnxruntime-web@{ORT_VERSION}` and pass --ort-dir node_modules/onnxruntime-web/dist"
    )


def parameter_offsets(model: onnx.ModelProto, names: list[str]) -> tuple[bytes, dict[str, int]]:
    """The serialized model, and the byte offset of each named initializer's raw data in it.

    Each initializer's raw data is first replaced by a marker of the same length that occurs
    once in the serialized model; the marker's position is its offset, where the real values
    are then written back."""
    inits = {t.name: t for t in model.graph.initializer}
    marked = onnx.ModelProto()
    marked.CopyFrom(model)
    marked_inits = {t.name: t for t in marked.graph.initializer}
    rng = np.random.default_rng(0)
    for _attempt in range(8):
        markers = {}
        for name in names:
            if not inits[name].raw_data:
                raise ValueError(f"initializer {name!r} is not stored as raw data")
            markers[name] = rng.integers(0, 256, len(inits[name].raw_data), np.uint8).tobytes()
            marked_inits[name].raw_data = markers[name]
        data = marked.SerializeToString()
        if all(data.count(m) == 1 for m in markers.values()):
            break
    else:  # pragma: no cover - eight collisions in a row
        raise RuntimeError("could not place unique markers in the model")
    buf = bytearray(data)
    offsets = {}
    for name, marker in markers.items():
        at = data.index(marker)
        buf[at : at + len(marker)] = inits[name].raw_data
        offsets[name] = at
    out = bytes(buf)
    assert onnx.load_from_string(out) == model  # the framing is untouched
    return out, offsets


def write_page(
    target: str,
    output: Path,
    *,
    ort_dir: str | None = None,
    recurrent: str = "native",
) -> Path:
    """Writes the page for a spec, or for a run directory (starting from its final parameters),
    into `output`; -> the path of index.html."""
    path = Path(target)
    if path.is_dir():
        from nnc.runtime.rundir import RunDir

        run = RunDir.existing(path)
        compiled, data = compile_with_data(run.load_spec(), recurrent=recurrent)
        kind = "final" if run.checkpoint_path("final").exists() else "last"
        tensors, _ = run.load_checkpoint(kind)
        values = {p.name: tensors[p.name] for p in compiled.net.params}
        start = f"the parameters of {path} ({kind} checkpoint)"
    else:
        compiled, data = compile_with_data(load_spec_file(target), recurrent=recurrent)
        from nnc.runtime.resume import initial_values

        values = initial_values(compiled)
        start = "the spec's initial values"
    if compiled.graphs is None:
        raise RunError(f"{target}: the spec has no loss: nothing to train in the browser")
    ort = find_ort(ort_dir)
    output.mkdir(parents=True, exist_ok=True)
    _write_graphs_and_data(compiled, data, values, output, start)
    (output / "ort").mkdir(exist_ok=True)
    for f in ORT_FILES:
        shutil.copyfile(ort / f, output / "ort" / f)
    page = resources.files(__package__)
    for f in PAGE_FILES:
        atomic_write_bytes(output / f, page.joinpath(f).read_bytes())
    return output / "index.html"


def _write_graphs_and_data(compiled: Compiled, data, values, output: Path, start: str) -> None:
    graphs = compiled.graphs
    assert graphs is not None
    model = compiled.export(values, data)
    models = {"model": model, **graphs.models()}
    files = {kind: f"{kind}.onnx" for kind in models}
    names = [p.name for p in compiled.net.params]
    template, offsets = parameter_offsets(model, names)
    atomic_write_bytes(output / files["model"], template)
    for kind in ("train_step", "eval"):
        atomic_write_bytes(output / files[kind], models[kind].SerializeToString())
    files["initial"] = INITIAL
    atomic_write_bytes(output / INITIAL, initial_values_bytes(compiled, values))
    manifest = compiled.manifest(
        {k: v for k, v in models.items() if k in ("model", "train_step", "eval")},
        files,
        data=write_data(output, data),
        preprocess=preprocess_info(data),
    )
    manifest["initial_values"]["start"] = start
    manifest["model_template"] = {
        "file": files["model"],
        "offsets": offsets,
        "meaning": "model.onnx holds every parameter as an initializer whose raw little-endian "
        "bytes start at this byte offset of the file: writing other values of the same shapes "
        "there gives the model with those parameters",
    }
    text = json.dumps(manifest, indent=1) + "\n"
    atomic_write_bytes(output / "manifest.json", text.encode())
