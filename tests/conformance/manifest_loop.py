"""The training loop of examples/train-in-node and of `nnc web`'s page, in Python, read from the
manifest alone: the oracle their losses are compared with (on onnxruntime, Python).

Both JavaScript loops draw batches and dropout samples from mulberry32 seeded with
training.seed: each epoch shuffles the training split (Fisher-Yates, when training.shuffle),
then each step draws its dropout samples, input after input in the manifest's order, as
float32 values of 24 bits in [0, 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

MASK = 0xFFFFFFFF


def _imul(a: int, b: int) -> int:
    return (a * b) & MASK


def mulberry32(seed: int) -> Callable[[], float]:
    """JavaScript's mulberry32 as the two loops write it (uint32 arithmetic)."""
    state = seed & MASK

    def draw() -> float:
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK
        t = state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & MASK
        return ((t ^ (t >> 14)) >> 8) / 16777216

    return draw


def read_tensor(folder: Path, ref: dict) -> np.ndarray:
    dtype = np.dtype(ref["dtype"]).newbyteorder("<")
    count = int(np.prod(ref["shape"], dtype=np.int64))
    raw = (folder / ref["file"]).read_bytes()
    offset = ref.get("offset", 0)
    values = np.frombuffer(raw, dtype, count, offset).reshape(ref["shape"])
    return values.astype(dtype.newbyteorder("="))


def initial_state(folder: Path, manifest: dict) -> dict[str, np.ndarray]:
    """Every carried input at step 0: parameters from the initial-values file, zero state."""
    init = manifest["initial_values"]
    state = {
        p["name"]: read_tensor(folder, {**p, "file": init["file"]}) for p in manifest["parameters"]
    }
    for name, s in manifest["optimizer"]["state"].items():
        state[name] = np.zeros(s["shape"], s["dtype"])
    return state


def batches(folder: Path, manifest: dict, steps: int) -> Iterator[dict[str, np.ndarray]]:
    """The feeds of steps 0..steps-1 besides the carried tensors."""
    train = manifest["data"]["train"]
    x, y = read_tensor(folder, train["x"]), read_tensor(folder, train["y"])
    n, size = train["samples"], manifest["training"]["batch_size"]
    random = mulberry32(manifest["training"]["seed"])
    lr = manifest["step_inputs"]["lr"]
    lr_value = np.array(lr["value"], lr["dtype"])
    step = 0
    while True:
        order = list(range(n))
        if manifest["training"]["shuffle"]:
            for i in range(n - 1, 0, -1):
                j = int(random() * (i + 1))
                order[i], order[j] = order[j], order[i]
        for a in range(0, n, size):
            if step == steps:
                return
            index = order[a : a + size]
            feeds = {"x": x[index], "y": y[index], "lr": lr_value, "step": np.array(step, np.int64)}
            for name, r in manifest["random_inputs"].items():
                shape = (len(index), *r["per_sample_shape"])
                values = [random() for _ in range(int(np.prod(shape)))]
                feeds[name] = np.array(values, r["dtype"]).reshape(shape)
            yield feeds
            step += 1


def train(folder: Path, steps: int) -> tuple[list[float], dict[str, np.ndarray]]:
    """`steps` train steps on onnxruntime (Python, CPU) -> (losses, final carried tensors)."""
    import onnxruntime as ort

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    graph = folder / manifest["graphs"]["train_step"]["file"]
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    outputs = [o.name for o in session.get_outputs()]
    carried = manifest["carried"]["train_step"]
    state = initial_state(folder, manifest)
    losses = []
    for feeds in batches(folder, manifest, steps):
        feeds = {**feeds, **{k: state[k] for k in carried.values()}}
        feeds = {k: v for k, v in feeds.items() if k in wanted}
        out = dict(zip(outputs, session.run(outputs, feeds)))
        losses.append(float(out["loss"]))
        for output, name in carried.items():
            state[name] = out[output]
    return losses, state
