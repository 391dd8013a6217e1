"""The trainer: epochs of shuffled mini-batches, one train-step session call per batch,
validation, early stopping, checkpoints and resume, the NaN guard, and the exported model."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from nnc.compiler.network import Network
from nnc.compiler.spec.model import Spec, thaw
from nnc.runtime.compiled import Compiled
from nnc.runtime.data import Dataset, Split
from nnc.runtime.engines import Engine, Stepper
from nnc.runtime.errors import RunError
from nnc.runtime.rundir import RunDir

EXIT_OK, EXIT_ERROR, EXIT_NAN, EXIT_INTERRUPTED = 0, 1, 3, 130
CHECKPOINT_SECONDS = 10.0
# the loop state a checkpoint carries so that a resumed run continues bit for bit
RESUMED = ("epoch", "batch", "step", "history", "best", "best_epoch", "wait", "sums", "count")


class NanGuardStop(Exception):
    pass


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # completed | early_stopped | nan | interrupted
    epochs: int
    steps: int
    history: list[dict] = field(default_factory=list)
    test: dict | None = None
    exit_code: int = EXIT_OK
    message: str = ""


def _batches(n: int, size: int):
    return [(i, min(i + size, n)) for i in range(0, n, size)]


class Trainer:
    def __init__(
        self, spec: Spec, net: Network, data: Dataset, engine: Engine, run: RunDir, log=print
    ):
        self.spec, self.net, self.data, self.engine = spec, net, data, engine
        self.run = run
        self.run_dir = run.path
        self.log = log
        self.compiled = Compiled(net, n_train=len(data.train))
        g = self.compiled.graphs
        self.random_inputs = g.random_inputs
        self.state_names = g.state_names
        self.lr = np.array(spec.optimizer["lr"], dtype=np.float32)
        self._eval = None

    # -- files -----------------------------------------------------------------------------------
    def write_graphs(self) -> None:
        """graphs/*.onnx and manifest.json (the format nnc compile writes too)."""
        graphs = self.compiled.graphs.models()
        files = {**self.run.write_graphs(graphs), "model": "model.onnx"}
        models = {"model": self.compiled.export(data=self.data), **graphs}
        self.run.write_manifest(self.compiled.manifest(models, files, self.engine.describe()))

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, split: Split, values: dict[str, np.ndarray]) -> dict[str, float]:
        if self._eval is None:
            self._eval = self.engine.session(self.compiled.graphs.eval)
            self._eval_out = [o.name for o in self.compiled.graphs.eval.graph.output]
        params = {p.name: values[p.name] for p in self.net.params}
        totals: dict[str, float] = {}
        n = len(split)
        for a, b in _batches(n, max(self.compiled.batch_size, 256)):
            outs = self._eval(self._eval_out, {"x": split.x[a:b], "y": split.y[a:b], **params})
            for name, v in zip(self._eval_out, outs):
                totals[name] = totals.get(name, 0.0) + float(v) * (b - a)
        return {_short(k): v / n for k, v in totals.items()}

    # -- the loop --------------------------------------------------------------------------------
    def fit(self, values: dict[str, np.ndarray], resume: dict | None = None) -> TrainResult:
        spec, data = self.spec, self.data
        epochs = int(spec.train["epochs"])
        carried = {**self.compiled.graphs.initial_state(), **values}
        stepper: Stepper = self.engine.stepper(self.compiled.graphs.train_step, carried)
        rng = np.random.default_rng(int(spec.train["seed"]))
        n = len(data.train)
        bsz = self.compiled.batch_size
        batches = _batches(n, bsz)
        state = {
            "epoch": 0,
            "batch": 0,
            "step": 0,
            "history": [],
            "best": None,
            "best_epoch": None,
            "wait": 0,
            "sums": {},
            "count": 0,
            "perm": None,
        }
        if resume is not None:
            tensors, meta = resume["tensors"], resume["meta"]
            stepper.load(tensors)
            for k in RESUMED:
                state[k] = meta[k]
            rng.bit_generator.state = meta["rng"]
            state["perm"] = tensors.get("__perm__")
        es = spec.train.get("early_stopping")
        monitor, mode = self._monitor(es)
        validate_every = spec.train.get("validate_every")
        status, message = "completed", ""
        self._safe = None
        self._best = None
        self._last_ckpt = time.monotonic()
        t_start = time.perf_counter()
        progress = _Progress(self.log, epochs, len(batches))
        try:
            while state["epoch"] < epochs:
                if state["perm"] is None:
                    state["perm"] = rng.permutation(n) if spec.train["shuffle"] else np.arange(n)
                perm = state["perm"]
                progress.start_epoch(state["epoch"] + 1, state["batch"])
                while state["batch"] < len(batches):
                    self._safe = (dict(state, sums=dict(state["sums"])), rng.bit_generator.state)
                    a, b = batches[state["batch"]]
                    idx = perm[a:b]
                    feeds = {
                        "x": data.train.x[idx],
                        "y": data.train.y[idx],
                        "step": np.array(state["step"], np.int64),
                        "lr": self.lr,
                    }
                    for name, shape in self.random_inputs.items():
                        feeds[name] = rng.random((b - a, *shape), dtype=np.float32)
                    out = stepper.step(feeds)
                    if spec.train["nan_guard"] and not all(np.isfinite(v) for v in out.values()):
                        raise NanGuardStop(self._diagnose_nan(stepper, feeds, out, state))
                    for k, v in out.items():
                        if k in ("loss",) or k.startswith("metric."):
                            state["sums"][_short(k)] = state["sums"].get(_short(k), 0.0) + v * (
                                b - a
                            )
                    state["count"] += b - a
                    state["step"] += 1
                    state["batch"] += 1
                    progress.step(state["batch"], state["sums"].get("loss", 0.0) / state["count"])
                    if (
                        validate_every
                        and state["step"] % validate_every == 0
                        and data.validation is not None
                    ):
                        row = self._row(state, stepper, out, partial=True)
                        state["history"].append(row)
                        self._append_csv(row)
                row = self._row(state, stepper, out, partial=False)
                state["history"].append(row)
                self._append_csv(row)
                progress.end_epoch(row)
                state["epoch"] += 1
                state["batch"], state["sums"], state["count"], state["perm"] = 0, {}, 0, None
                stop = False
                if monitor is not None:
                    val = row.get(monitor)
                    if val is None:
                        have = ", ".join(k for k in row if k not in ("epoch", "step", "time"))
                        raise RunError(
                            f"early_stopping.monitor: no metric {monitor!r}; have {have}"
                        )
                    better = state["best"] is None or (
                        val < state["best"] - es["min_delta"]
                        if mode == "min"
                        else val > state["best"] + es["min_delta"]
                    )
                    if better:
                        state["best"], state["best_epoch"], state["wait"] = val, state["epoch"], 0
                        self._best = (stepper.values(), dict(state), rng.bit_generator.state)
                    else:
                        state["wait"] += 1
                        stop = state["wait"] > es["patience"]
                if self._checkpoint_due(state["epoch"]) or stop or state["epoch"] == epochs:
                    self._save_best()
                    self._save("last", stepper, state, rng)
                if stop:
                    status = "early_stopped"
                    message = (
                        f"early stopping: {monitor} has not improved for {es['patience']} epochs; "
                        f"best {state['best']:.6g} at epoch {state['best_epoch']}"
                    )
                    break
        except KeyboardInterrupt:
            progress.close()
            safe_state, rng_state = self._safe if self._safe else (state, rng.bit_generator.state)
            rng.bit_generator.state = rng_state
            self._save_best()
            path = self._save("interrupted", stepper, safe_state, rng)
            msg = (
                f"interrupted at step {safe_state['step']}; state saved to {path}; "
                f"resume with: nnc train --resume {self.run_dir}"
            )
            return TrainResult(
                self.run_dir,
                "interrupted",
                safe_state["epoch"],
                safe_state["step"],
                state["history"],
                exit_code=EXIT_INTERRUPTED,
                message=msg,
            )
        except NanGuardStop as e:
            progress.close()
            return TrainResult(
                self.run_dir,
                "nan",
                state["epoch"],
                state["step"],
                state["history"],
                exit_code=EXIT_NAN,
                message=str(e),
            )
        progress.close()
        final = stepper.values()
        if (
            es
            and es["restore_best"]
            and state["best_epoch"] is not None
            and state["best_epoch"] != state["epoch"]
        ):
            best, _ = self.run.load_checkpoint("best")
            final.update({k: v for k, v in best.items() if k in final})
            message += (
                "; " if message else ""
            ) + f"restored the parameters of epoch {state['best_epoch']}"
        result = TrainResult(
            self.run_dir, status, state["epoch"], state["step"], state["history"], message=message
        )
        self._finish(final, result, time.perf_counter() - t_start)
        return result

    def _checkpoint_due(self, epoch: int) -> bool:
        every = self.spec.train.get("checkpoint_every")
        if every:
            return epoch % int(every) == 0
        # default: after every epoch, but at most every CHECKPOINT_SECONDS (an fsync per epoch
        # of a tiny model would cost more than its training)
        return time.monotonic() - self._last_ckpt >= CHECKPOINT_SECONDS

    def _save_best(self) -> None:
        if self._best is None:
            return
        values, state, rng_state = self._best
        meta = {
            "kind": "best",
            "spec_hash": self.spec.hash,
            "epoch": state["epoch"],
            "step": state["step"],
        }
        self.run.save_checkpoint("best", values, meta)
        self._best = None

    def _monitor(self, es):
        if not es:
            return None, None
        monitor = es["monitor"]
        if monitor.startswith("val_") and self.data.validation is None:
            self.log(
                f"note: no validation data; early stopping monitors {monitor[4:]}, not {monitor}"
            )
            monitor = monitor[4:]
        mode = es["mode"]
        if mode == "auto":
            mode = "max" if any(w in monitor for w in ("acc", "accuracy")) else "min"
        return monitor, mode

    def _row(self, state, stepper, out, partial: bool) -> dict:
        row = {"epoch": state["epoch"] + (0 if partial else 1), "step": state["step"]}
        for k, v in state["sums"].items():
            row[k] = v / max(state["count"], 1)
        row["lr"] = out.get("lr_used", float(self.lr))
        if self.data.validation is not None:
            vals = self.evaluate(self.data.validation, stepper.values())
            row.update({f"val_{k}": v for k, v in vals.items()})
        return row

    def _append_csv(self, row: dict) -> None:
        if not hasattr(self, "_csv"):
            self.start_metrics([])
        self._csv.append(row)

    def start_metrics(self, history: list[dict]) -> None:
        """metrics.csv afresh, holding `history` (a resumed run's rows so far)."""
        cols = ["epoch", "step", "loss", *[f"{k}" for k in self._metric_names()], "lr"]
        if self.data.validation is not None:
            cols += ["val_loss", *[f"val_{k}" for k in self._metric_names()]]
        self._csv = self.run.metrics_log(cols, history)

    def _metric_names(self) -> list[str]:
        return [
            o.name[len("metric.") :]
            for o in self.compiled.graphs.eval.graph.output
            if o.name.startswith("metric.")
        ]

    def _save(self, kind: str, stepper: Stepper, state: dict, rng) -> Path:
        tensors = stepper.values()
        if state.get("perm") is not None and state["batch"] > 0:
            tensors["__perm__"] = np.asarray(state["perm"])
        meta = {k: state[k] for k in RESUMED}
        meta.update(
            {
                "kind": kind,
                "spec_hash": self.spec.hash,
                "rng": rng.bit_generator.state,
                "spec": thaw(self.spec.document),
                "time": time.time(),
            }
        )
        if state["batch"] == 0:
            meta["perm"] = None
        path = self.run.save_checkpoint(kind, tensors, meta)
        self._last_ckpt = time.monotonic()
        return path

    def _diagnose_nan(self, stepper, feeds, out, state) -> str:
        bad = ", ".join(f"{k}={v}" for k, v in out.items() if not np.isfinite(v))
        where = f"step {state['step']} (epoch {state['epoch'] + 1}, batch {state['batch'] + 1})"
        first = _first_nonfinite(self.compiled.graphs.gradient, {**feeds, **stepper.values()})
        msg = f"NaN guard: non-finite {bad} at {where}"
        if first:
            msg += f"; the first non-finite tensor is {first}"
        last = self.run.checkpoint_path("last")
        msg += (
            f"; the last good checkpoint is {last}"
            if last.exists()
            else "; no checkpoint was written before it"
        )
        return msg

    def _finish(self, final: dict, result: TrainResult, seconds: float) -> None:
        self.run.save_checkpoint(
            "final",
            final,
            {
                "kind": "final",
                "spec_hash": self.spec.hash,
                "spec": thaw(self.spec.document),
                "epoch": result.epochs,
                "step": result.steps,
            },
        )
        if self.data.test is not None:
            result.test = self.evaluate(self.data.test, final)
        model = self.compiled.export(final, self.data)
        onnx.checker.check_model(model, full_check=True)
        self.run.write_model(model)
        try:
            self.run.write_curves(result.history)
        except Exception as e:  # noqa: BLE001 - curves are a convenience; never lose the run for them
            self.log(f"warning: could not draw curves.png: {e}")
        summary = {
            "status": result.status,
            "epochs": result.epochs,
            "steps": result.steps,
            "seconds": round(seconds, 3),
            "final": result.history[-1] if result.history else None,
            "test": result.test,
            "engine": self.engine.describe(),
            "message": result.message,
        }
        self.run.write_summary(summary)


def _short(name: str) -> str:
    return name[len("metric.") :] if name.startswith("metric.") else name


def _first_nonfinite(model: onnx.ModelProto, feeds: dict) -> str | None:
    """Re-run the step's gradient graph on the NumPy interpreter and name the first tensor that
    is not finite."""
    from nnc.runtime.interpreter import Interpreter

    names = {i.name for i in model.graph.input}
    found: list[str] = []

    def observe(node, outputs):
        if found:
            return
        for name, v in outputs.items():
            arr = np.asarray(v)
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                found.append(f"{name!r} (output of {node.op_type} node {node.name!r})")
                return

    for name in names:
        v = feeds.get(name)
        if v is not None and np.asarray(v).dtype.kind == "f" and not np.all(np.isfinite(v)):
            return f"the input {name!r}"
    try:
        Interpreter(model).run(
            None, {k: v for k, v in feeds.items() if k in names}, observer=observe
        )
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the original stop
        pass
    return found[0] if found else None


class _Progress:
    """A tqdm bar on a terminal, one plain line per epoch otherwise."""

    def __init__(self, log, epochs: int, steps: int):
        self.log, self.epochs, self.steps = log, epochs, steps
        self.tty = sys.stderr.isatty() and not os.environ.get("NNC_NO_PROGRESS")
        self.bar = None

    def start_epoch(self, epoch: int, done: int) -> None:
        self.epoch = epoch
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.steps,
                initial=done,
                desc=f"epoch {epoch}/{self.epochs}",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def step(self, done: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if done % 10 == 0:
                self.bar.set_postfix(loss=f"{loss:.4g}")

    def end_epoch(self, row: dict) -> None:
        self.close()
        parts = [f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step", "lr")]
        if (
            self.epochs <= 50
            or row["epoch"] % max(1, self.epochs // 20) == 0
            or row["epoch"] == self.epochs
        ):
            self.log(f"epoch {row['epoch']}/{self.epochs}  step {row['step']}  " + "  ".join(parts))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def install_sigint():
    """Make SIGINT raise KeyboardInterrupt even when the parent set it to be ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
