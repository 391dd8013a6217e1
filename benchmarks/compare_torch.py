"""nnc against PyTorch eager, in one process, alternating timed blocks after warm-up.

    python benchmarks/compare_torch.py [--repeats 7] [--device cpu|cuda] [--only NAME ...]

Prints ms/step for each and the nnc/PyTorch throughput ratio (PyTorch time / nnc time) as
min/median/max over the repeats, and an end-to-end digits-mlp training comparison. Needs
`pip install torch==2.13.0` (an optional benchmark dependency: `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import flops  # noqa: E402
import torch_model  # noqa: E402

from nnc.compiler.network import Network  # noqa: E402
from nnc.compiler.spec.model import load_spec, parse_spec  # noqa: E402
from nnc.runtime.bench import TrainLoop, calibrate, time_steps  # noqa: E402
from nnc.runtime.engines import make_engine  # noqa: E402

MLP = """
name: {name}
input: {{shape: [784]}}
layers:
{layers}
  - {{type: dense, units: 10, activation: softmax}}
loss: cross_entropy
optimizer: {opt}
train: {{batch_size: {batch}}}
"""
XOR = """
name: xor-{tag}
input: {{shape: [2]}}
layers:
  - {{type: dense, units: 4, activation: sigmoid}}
  - {{type: dense, units: 1, activation: sigmoid}}
loss: mse
optimizer: {opt}
train: {{batch_size: 4}}
"""
OPTS = {"sgdm": "{type: sgd, lr: 0.01, momentum: 0.9}", "adam": "{type: adam, lr: 0.001}"}


def models(device: str = "cpu"):
    """The rows: on CUDA the issue's four at batch 128 (MLP 784-512-512-10, LeNet-BN, the LSTM,
    AlexNet); on the CPU the small and medium ones."""
    if device == "cuda":
        return [m for m in _cpu_rows() if any(k in m[0] for k in ("512", "LSTM", "LeNet"))] + [
            (
                "AlexNet b128 (sgdm)",
                parse_spec(
                    (ROOT / "specs" / "alexnet.yaml").read_text(),
                    "alexnet.yaml",
                    str(ROOT / "specs"),
                ),
                128,
            )
        ]
    return _cpu_rows()


def _cpu_rows():
    out = []
    for tag, opt in OPTS.items():
        out.append((f"XOR 2-4-1 ({tag})", parse_spec(XOR.format(tag=tag, opt=opt)), 4))
    for tag, opt in OPTS.items():
        layers = "  - {type: dense, units: 128, activation: relu}"
        out.append(
            (
                f"MLP 784-128-10 b64 ({tag})",
                parse_spec(MLP.format(name="mlp-a", layers=layers, opt=opt, batch=64)),
                64,
            )
        )
    for tag, opt in OPTS.items():
        layers = "\n".join(["  - {type: dense, units: 512, activation: relu}"] * 2)
        out.append(
            (
                f"MLP 784-512-512-10 b128 ({tag})",
                parse_spec(MLP.format(name="mlp-b", layers=layers, opt=opt, batch=128)),
                128,
            )
        )
    out.append(
        (
            "LSTM T28 F28 H128 b64 (adam)",
            parse_spec(
                "name: lstm-bench\ninput: {shape: [28, 28]}\nlayers:\n"
                "  - {type: lstm, units: 128}\n  - {type: dense, units: 10}\n"
                "loss: cross_entropy\noptimizer: {type: adam, lr: 0.001}\n"
                "train: {batch_size: 64}\n"
            ),
            64,
        )
    )
    lenet = (ROOT / "specs" / "lenet.yaml").read_text()
    for tag, opt in OPTS.items():
        text = lenet.replace("optimizer: {type: sgd, lr: 0.01, momentum: 0.9}", f"optimizer: {opt}")
        out.append(
            (f"LeNet-BN b128 ({tag})", parse_spec(text, "lenet.yaml", str(ROOT / "specs")), 128)
        )
    return out


class TorchLoop:
    def __init__(self, net: Network, values, batches, device, compiled: bool = False):
        self.model = torch_model.build(
            net, values, drop_final_softmax=net.spec.loss[0] == "cross_entropy"
        ).to(device)
        if compiled:  # torch.compile of the model (the optimizer step stays eager)
            self.model = torch.compile(self.model)
        self.model.train()
        self.loss, _ = torch_model.loss_fn(net)
        self.opt = torch_model.optimizer(net.spec, self.model.parameters())
        self.batches = [
            (torch.from_numpy(b["x"]).to(device), torch.from_numpy(b["y"]).to(device))
            for b in batches
        ]
        self.i = 0
        self.device = device

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.opt.step()
        if self.device == "cuda":
            return loss.item()  # like nnc, bring the loss back every step
        return loss.detach()


def compare(label, spec, batch, device, repeats, compiled: bool = False):
    net = Network(spec)
    engine = make_engine("ort", device)
    ours = TrainLoop(net, engine, batch)
    theirs = TorchLoop(net, net.initial_values(0), ours.batches, device, compiled)
    for _ in range(20):
        ours.step()
        theirs.step()
    n_ours, n_theirs = calibrate(ours.step), calibrate(theirs.step)
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t_ours.append(time_steps(ours.step, n_ours))
        t_theirs.append(time_steps(theirs.step, n_theirs))
    ratios = sorted(a / b for a, b in zip(t_theirs, t_ours))
    work = flops.step_flops(ours.graphs.train_step, batch)
    return {
        "model": label,
        "gflops": work / statistics.median(t_ours) / 1e9,
        "nnc_ms": statistics.median(t_ours) * 1e3,
        "torch_ms": statistics.median(t_theirs) * 1e3,
        "ratio_min": ratios[0],
        "ratio_median": statistics.median(ratios),
        "ratio_max": ratios[-1],
    }


def digits_end_to_end(device, repeats=3):
    """`nnc train` of digits-mlp against the same recipe written in PyTorch, alternating."""
    import tempfile

    from nnc.runtime.cli import main as nnc_main
    from nnc.runtime.compiled import load_dataset

    spec = load_spec(ROOT / "specs" / "digits-mlp.yaml")
    net = Network(spec)
    data = load_dataset(spec, net)
    ours_t, ours_acc, theirs_t, theirs_acc = [], [], [], []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            import contextlib
            import io
            import json

            with contextlib.redirect_stdout(io.StringIO()):
                code = nnc_main(
                    [
                        "train",
                        str(ROOT / "specs" / "digits-mlp.yaml"),
                        "--run-dir",
                        f"{tmp}/r",
                        "--device",
                        device,
                    ]
                )
            ours_t.append(time.perf_counter() - t0)
            assert code == 0
            ours_acc.append(
                json.loads(Path(f"{tmp}/r/summary.json").read_text())["test"]["accuracy"]
            )
        t0 = time.perf_counter()
        theirs_acc.append(_torch_digits(net, data, spec, device, seed=r))
        theirs_t.append(time.perf_counter() - t0)
    return ours_t, ours_acc, theirs_t, theirs_acc


def _torch_digits(net, data, spec, device, seed):
    """The digits-mlp recipe in PyTorch: same split, init, Adam, L2, dropout, early stopping."""
    torch.manual_seed(seed)
    model = torch_model.build(net, net.initial_values(0), drop_final_softmax=True).to(device)
    opt = torch_model.optimizer(spec, model.parameters())
    ce = torch.nn.CrossEntropyLoss()
    l2 = float(spec.regularization["l2"])
    xs, ys = torch.from_numpy(data.train.x).to(device), torch.from_numpy(data.train.y).to(device)
    xv, yv = (
        torch.from_numpy(data.validation.x).to(device),
        torch.from_numpy(data.validation.y).to(device),
    )
    bs, es = int(spec.train["batch_size"]), spec.train["early_stopping"]
    best, best_state, wait = float("inf"), None, 0
    g = torch.Generator().manual_seed(seed)
    for _ in range(int(spec.train["epochs"])):
        model.train()
        perm = torch.randperm(len(xs), generator=g)
        for i in range(0, len(xs), bs):
            idx = perm[i : i + bs]
            opt.zero_grad(set_to_none=True)
            loss = ce(model(xs[idx]), ys[idx])
            loss = loss + l2 / 2 * sum((w * w).sum() for w in torch_model.l2_weights(net, model))
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = ce(model(xv), yv).item()
        if v < best - es["min_delta"]:
            best, wait = v, 0
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        else:
            wait += 1
            if wait > es["patience"]:
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(data.test.x).to(device)).argmax(-1).cpu().numpy()
    return float((pred == data.test.y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--only", nargs="*", help="substrings of model names to run")
    ap.add_argument("--skip-end-to-end", action="store_true")
    ap.add_argument(
        "--torch-compile",
        action="store_true",
        help="also against torch.compile of the PyTorch model (where it compiles)",
    )
    args = ap.parse_args()
    # both sides flush denormals (nnc sets session.set_denormal_as_zero): without it, Adam's
    # second moments go subnormal and PyTorch slows several-fold as training goes on
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}")
    peak = flops.matmul_gflops()
    print(f"onnxruntime MatMul 1024^3 in this run: {peak:.1f} GFLOP/s")
    print(
        f"{'model':34s} {'nnc ms/step':>12s} {'torch ms/step':>14s}   "
        "nnc/PyTorch throughput min / median / max   nnc GFLOP/s (of MatMul's)"
    )
    for label, spec, batch in models(args.device):
        if args.only and not any(s in label for s in args.only):
            continue
        variants = [(label, False)]
        if args.torch_compile:
            variants.append((f"{label} vs compile", True))
        for name, compiled in variants:
            try:
                r = compare(name, spec, batch, args.device, args.repeats, compiled)
            except Exception as e:  # noqa: BLE001 - torch.compile does not compile everything
                print(f"{name:34s} failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}")
                continue
            print(
                f"{r['model']:34s} {r['nnc_ms']:12.4f} {r['torch_ms']:14.4f}   "
                f"{r['ratio_min']:.2f}x / {r['ratio_median']:.2f}x / {r['ratio_max']:.2f}x   "
                f"{r['gflops']:7.1f} ({r['gflops'] / peak:.0%})",
                flush=True,
            )
    if not args.skip_end_to_end:
        ot, oa, tt, ta = digits_end_to_end(args.device)
        print(
            f"\ndigits-mlp end to end (nnc train vs the same recipe in PyTorch, "
            f"{len(ot)} runs each):"
        )
        print(
            f"  nnc:     {statistics.median(ot):.2f} s (min {min(ot):.2f}), "
            f"test accuracy {statistics.median(oa):.4f}"
        )
        print(
            f"  PyTorch: {statistics.median(tt):.2f} s (min {min(tt):.2f}), "
            f"test accuracy {statistics.median(ta):.4f}"
        )
        print(f"  time ratio PyTorch/nnc: {statistics.median(tt) / statistics.median(ot):.2f}x")


if __name__ == "__main__":
    main()
