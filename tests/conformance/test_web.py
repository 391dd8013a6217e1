"""`nnc web`'s page in headless Chromium: it trains 20 steps with onnxruntime-web (wasm), its
losses equal those of the same loop on onnxruntime in Python (manifest_loop.py), and the
model.onnx it downloads is the inference model with those trained parameters."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conformance import browser
from conformance.compare import scaled_diff
from conformance.conftest import record
from conformance.manifest_loop import train
from conformance.runners import ROOT
from nnc.runtime.cli import main
from nnc.runtime.compiled import compile_with_data, load_spec_file
from nnc.runtime.errors import RunError
from nnc.runtime.web import find_ort

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

RUNTIME = "onnxruntime-web in Chromium (nnc web)"
STEPS = 20
# onnxruntime-web 1.30 (wasm, one thread) against onnxruntime 1.31 (Python, CPU): measured within
# 2e-7 relative over these 20 steps (float32 summation order in a few kernels)
TOL = 1e-5


def test_page_trains_like_onnxruntime_and_downloads_the_model(tmp_path):
    chromium, driver = browser.find()
    if not chromium or not driver:
        pytest.skip("chromium and chromedriver are not installed (scripts/conformance/install.sh)")
    spec = ROOT / "specs" / "digits-mlp.yaml"  # dropout (random inputs), Adam (state), scaling
    try:
        find_ort(None)
    except RunError as e:
        pytest.skip(str(e))
    page = tmp_path / "page"
    assert main(["web", str(spec), "-o", str(page)]) == 0
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with browser.serve(page) as url:
        b = browser.Browser(tmp_path / "profile", downloads)
        try:
            b.open(url + f"index.html?ep=wasm&threads=1&steps={STEPS}")
            b.wait("return window.nnc && (window.nnc.ready || window.nnc.error)", 120)
            assert b.run("return window.nnc.error") is None
            assert b.run("return window.nnc.backend") == "wasm"
            b.click("#train")
            b.wait("return window.nnc.done || window.nnc.error", 600)
            assert b.run("return window.nnc.error") is None
            losses = b.run("return window.nnc.losses")
            shown = b.run("return document.getElementById('status').textContent")
            b.click("#download")
            b.wait("return true", 1)
            file = downloads / "model.onnx"
            for _ in range(100):
                if file.exists() and file.stat().st_size:
                    break
                b.wait("return true", 0.1)
        finally:
            b.close()

    want_losses, want_state = train(page, STEPS)
    assert len(losses) == STEPS
    rel = np.abs(np.array(losses) - want_losses) / np.abs(want_losses)
    chrome = browser.version()
    cell = {"spec": "digits-mlp", "runtime": RUNTIME, "mode": "train", "version": chrome}
    cell["loss_rel"] = float(rel.max())
    if rel.max() > TOL:
        record(cell, "failed")
    assert rel.max() <= TOL, (losses, want_losses)
    assert shown.startswith(f"done: {STEPS} steps")

    # the downloaded model: the exported model with the trained parameters, preprocessing baked in
    downloaded = onnx.load(str(file))
    onnx.checker.check_model(downloaded, full_check=True)
    inits = {t.name: numpy_helper.to_array(t) for t in downloaded.graph.initializer}
    manifest = json.loads((page / "manifest.json").read_text())
    diffs = {
        p["name"]: scaled_diff(inits[p["name"]], want_state[p["name"]])
        for p in manifest["parameters"]
    }
    cell["param_diff"] = max(diffs.values())
    record(cell, "passed" if cell["param_diff"] <= TOL else "failed")
    for name, diff in diffs.items():
        assert diff <= TOL, name
    compiled, data = compile_with_data(load_spec_file(spec))
    expected = compiled.export({k: want_state[k] for k in inits if k in want_state}, data)
    import onnxruntime as ort

    raw = np.random.default_rng(0).uniform(0, 16, (32, 64)).astype(np.float32)  # raw pixels
    run = {
        name: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        for name, m in (("got", downloaded), ("want", expected))
    }
    got, want = (dict(zip(["y", "label"], s.run(["y", "label"], {"x": raw}))) for s in run.values())
    assert scaled_diff(got["y"], want["y"]) <= TOL
    assert np.array_equal(got["label"], want["label"])
