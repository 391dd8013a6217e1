"""`nnc web` without a browser: the files of the page, and the model template whose parameters
the page overwrites in place (the browser itself: tests/conformance/test_web.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from nnc.runtime.cli import main
from nnc.runtime.compiled import compile_with_data, load_spec_file
from nnc.runtime.web import ORT_FILES, parameter_offsets

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_new_values_written_at_the_offsets_give_the_model_with_those_values():
    # zeros, ones, conv, batch norm; preprocessing constants that must stay as they are
    compiled, data = compile_with_data(load_spec_file(SPECS / "digits-cnn.yaml"))
    model = compiled.export(data=data)
    names = [p.name for p in compiled.net.params]
    template, offsets = parameter_offsets(model, names)
    assert onnx.load_from_string(template) == model
    rng = np.random.default_rng(0)
    new = {}
    buf = bytearray(template)
    for p in compiled.net.params:
        new[p.name] = rng.standard_normal(p.shape).astype(np.float32)
        raw = new[p.name].astype("<f4").tobytes()
        buf[offsets[p.name] : offsets[p.name] + len(raw)] = raw
    changed = onnx.load_from_string(bytes(buf))
    onnx.checker.check_model(changed, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in changed.graph.initializer}
    for name, value in new.items():
        np.testing.assert_array_equal(inits[name], value)
    # everything else (preprocessing constants, the graph) is untouched
    untouched = {t.name for t in model.graph.initializer} - set(names)
    original = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert untouched and all(np.array_equal(inits[k], original[k]) for k in untouched)


def test_the_page_folder_has_everything_the_page_fetches(tmp_path, capsys):
    ort = tmp_path / "ort-dist"
    ort.mkdir()
    for f in ORT_FILES:
        (ort / f).write_text("// stand-in")
    out = tmp_path / "page"
    assert main(["web", str(SPECS / "iris-mlp.yaml"), "-o", str(out), "--ort-dir", str(ort)]) == 0
    assert "python3 -m http.server" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    fetched = [g["file"] for g in manifest["graphs"].values()]
    fetched += [manifest["initial_values"]["file"], manifest["model_template"]["file"]]
    fetched += [t["file"] for split in manifest["data"].values() for t in (split["x"], split["y"])]
    fetched += ["index.html", "trainer.js", *(f"ort/{f}" for f in ORT_FILES)]
    for f in fetched:
        assert (out / f).is_file(), f
    assert set(manifest["model_template"]["offsets"]) == {p["name"] for p in manifest["parameters"]}
    assert manifest["data"]["train"]["samples"] > 0 and "affine" in manifest["preprocess"]


def test_without_onnxruntime_web_it_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NNC_ORT_WEB", raising=False)
    missing = tmp_path / "nowhere"
    spec = str(SPECS / "xor.yaml")
    assert main(["web", spec, "-o", str(tmp_path / "p"), "--ort-dir", str(missing)]) == 1
    assert "npm install onnxruntime-web@" in capsys.readouterr().err


def test_a_spec_without_data_is_refused(tmp_path, capsys):
    assert main(["web", str(SPECS / "and-gate.yaml"), "-o", str(tmp_path / "p")]) == 1
    assert "has no data: section to train on" in capsys.readouterr().err


def test_compile_with_data_writes_the_splits_as_the_manifest_describes(tmp_path):
    spec = SPECS / "iris-mlp.yaml"
    out = tmp_path / "compiled"
    assert main(["compile", str(spec), "-o", str(out), "--with-data"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    _, data = compile_with_data(load_spec_file(spec))
    for part in ("train", "validation", "test"):
        entry, split = manifest["data"][part], getattr(data, part)
        assert entry["samples"] == len(split)
        for key, want in (("x", split.x), ("y", split.y)):
            t = entry[key]
            got = np.frombuffer(
                (out / t["file"]).read_bytes(), np.dtype(t["dtype"]).newbyteorder("<")
            )
            np.testing.assert_array_equal(got.reshape(t["shape"]), want)
    # the features are preprocessed; model.onnx takes raw ones (the fitted affine baked in)
    assert manifest["preprocess"]["affine"]["scale"] == np.asarray(data.preprocess.scale).tolist()
    model = onnx.load(str(out / "model.onnx"))
    assert {"preprocess.scale", "preprocess.shift"} <= {t.name for t in model.graph.initializer}
