"""The trainer: epochs of shuffled mini-batches, one train-step session call per batch,
validation, early stopping, checkpoints and resume, the NaN guard, and the exported model.
The loop's parts live elsewhere (loop.py: early stopping and checkpoint timing; resume.py,
evaluation.py, nanguard.py, progress.py); what stays here (~450 lines) is their order within an
epoch and a step, which reads best in one place."""

from __future__ import annotations

import math
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from nnc.runtime.compiled import Compiled
from nnc.runtime.data import Dataset
from nnc.runtime.distributed import WorkerLost
from nnc.runtime.engines import Engine, Stepper
from nnc.runtime.errors import RunError
from nnc.runtime.evaluation import Evaluator, first_nonfinite, short_name
from nnc.runtime.interrupts import DeferredInterrupt, ForcedInterrupt
from nnc.runtime.loop import Checkpointer, EarlyStopping, LoopState
from nnc.runtime.nanguard import NonFiniteValues, describe, nonfinite
from nnc.runtime.progress import Progress
from nnc.runtime.rundir import RunDir
from nnc.runtime.steplog import FLUSH_SECONDS

EXIT_OK, EXIT_ERROR, EXIT_NAN, EXIT_INTERRUPTED = 0, 1, 3, 130
# the training split goes to a CUDA device whole when it is at most this large
DEVICE_DATA_BYTES = 2 * 1024**3
LIVE_CURVES_SECONDS = 5.0  # curves.png refreshed at most this often while training on a terminal


def live_curves_seconds(tty: bool) -> float | None:
    """How often curves.png is redrawn while training: NNC_LIVE_CURVES seconds (0: never), by
    default every LIVE_CURVES_SECONDS on a terminal and never elsewhere."""
    given = os.environ.get("NNC_LIVE_CURVES")
    if given:
        try:
            seconds = float(given)
        except ValueError:
            raise RunError(f"NNC_LIVE_CURVES={given!r}: expected seconds, e.g. 5") from None
        return seconds if seconds > 0 else None
    return LIVE_CURVES_SECONDS if tty else None


class NanGuardStop(NonFiniteValues):
    """The NaN guard stops the run: a step's results or the parameters are not finite."""


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
    values: dict[str, np.ndarray] | None = None  # the final parameters, when the run finished


@dataclass
class Resume:
    """Where a resumed run continues: a checkpoint's tensors and meta."""

    tensors: dict[str, np.ndarray]
    meta: dict

    @property
    def values(self) -> dict[str, np.ndarray]:
        """The carried tensors: parameters and optimizer state."""
        return {k: v for k, v in self.tensors.items() if not k.startswith("__")}


class Trainer:
    def __init__(
        self,
        compiled: Compiled,
        data: Dataset,
        engine: Engine,
        run: RunDir,
        log=print,
        parallel=None,
    ) -> None:
        if compiled.graphs is None:
            raise RunError(f"{compiled.spec.filename}: the spec has no loss: nothing to train")
        self.compiled, self.data, self.engine, self.log = compiled, data, engine, log
        self.run = run
        self.spec = compiled.spec
        self.graphs = compiled.graphs
        self.lr = np.array(self.spec.optimizer["lr"], dtype=np.float32)
        self.evaluate = Evaluator(compiled, engine)
        self.stopping = EarlyStopping(
            self.spec.train.get("early_stopping"), data.validation is not None
        )
        self.checkpoints = Checkpointer(run, self.spec)
        metric_names = self.evaluate.metric_names
        self.columns = ["epoch", "step", "loss", *metric_names, "lr"]
        if data.validation is not None:
            self.columns += ["val_loss", *[f"val_{k}" for k in metric_names]]
        self.columns.append("kind")  # epoch: an epoch's end; mid: a validate_every row
        self.metrics = None  # MetricsLog, opened by fit
        self._interrupt = DeferredInterrupt()  # the active one, set by fit
        self.parallel = parallel  # a distributed.DataParallel, or None for one process
        self.step_outputs = ["loss", *[f"metric.{k}" for k in metric_names]]
        self.iterations = None  # IterationLog (iterations.csv), opened by fit
        # curves.png refreshed while training, every this many seconds or more (None: only at
        # the end); on by default where the progress bar is (a terminal)
        self.live_curves: float | None = None

    # -- the loop --------------------------------------------------------------------------------
    def fit(self, values: dict[str, np.ndarray], resume: Resume | None = None) -> TrainResult:
        """Trains from `values` (or from where `resume` left off). Ctrl-C stops at the next step
        with an interrupted checkpoint, or, once the loop is done, after the run's files."""
        with DeferredInterrupt() as interrupt:
            carried = {**self.graphs.initial_state(), **values}
            if self.parallel is not None:
                stepper = self.parallel.stepper(carried)
                self.log(f"workers: {self.parallel.description}")
            elif self._gathering():
                from nnc.runtime.gather import GatheringStepper

                k = int(self.spec.train.get("steps_per_call", 1))
                stepper = GatheringStepper(
                    self.engine,
                    self.graphs.train_step,
                    self.graphs.random_inputs,
                    carried,
                    self.data.train,
                    k if self.spec.train["nan_guard"] else 1,
                )
            else:
                stepper = self.engine.stepper(self.graphs.train_step, carried)
            try:
                return self._fit(stepper, resume, interrupt)
            finally:
                stepper.close()

    def _fit(self, stepper: Stepper, resume: Resume | None, interrupt: DeferredInterrupt):
        self._interrupt = interrupt
        if self.stopping.note:
            self.log(self.stopping.note)
        rng = np.random.default_rng(int(self.spec.train["seed"]))
        loop = LoopState()
        if resume is not None:
            stepper.load(resume.tensors)
            loop = LoopState.from_checkpoint(resume.meta, resume.tensors)
            self.stopping.load(resume.meta)
            rng.bit_generator.state = resume.meta["rng"]
        self.metrics = self.run.metrics_log(self.columns, loop.history)
        names = [short_name(k) for k in self.step_outputs]
        self.iterations = self.run.iteration_log(names, loop.step if resume else None)
        t_start = time.perf_counter()
        safe = [loop.snapshot(), rng.bit_generator.state]
        progress = Progress(self.log, int(self.spec.train["epochs"]), self._batches())
        if self.live_curves is None:
            self.live_curves = live_curves_seconds(progress.tty)
        try:
            status = self._epochs(loop, stepper, rng, interrupt, progress, safe)
        except ForcedInterrupt:  # wherever it landed: the state may be half a step on
            progress.close()
            raise
        except KeyboardInterrupt:  # raised inside a step: back to the state before it
            progress.close()
            return self._interrupted(safe[0], stepper, safe[1])
        except NanGuardStop as e:
            progress.close()
            return self._stopped(loop, e, time.perf_counter() - t_start)
        except WorkerLost as e:
            progress.close()
            self.iterations.flush()
            last = self.run.checkpoint_path("last")
            where = f"the last checkpoint is {last}" if last.exists() else "no checkpoint yet"
            raise RunError(
                f"{e}; {where}; resume with: nnc train --resume {self.run.path}"
            ) from None
        progress.close()
        if status == "interrupted":
            return self._interrupted(loop, stepper, rng.bit_generator.state)
        try:
            result = self._finish(loop, stepper, status, time.perf_counter() - t_start)
        except NanGuardStop as e:
            return self._stopped(loop, e, time.perf_counter() - t_start)
        if interrupt.requested:
            result.exit_code = EXIT_INTERRUPTED
            result.message = (
                "interrupted while the run was finishing: it completed and wrote its files "
                f"(model: {self.run.file('model.onnx')}); there is nothing to resume"
            )
        return result

    def _gathering(self) -> bool:
        """Whether the training split goes to the device and the batches are gathered in the
        graph (runtime/gather.py): on CUDA when it fits, or with train.steps_per_call > 1."""
        if getattr(self.engine, "name", "") != "ort":
            return False
        if int(self.spec.train.get("steps_per_call", 1)) > 1:
            return True
        train = self.data.train
        size = train.x.nbytes + np.asarray(train.y).nbytes
        return getattr(self.engine, "device", "cpu") == "cuda" and size <= DEVICE_DATA_BYTES

    def _batches(self) -> int:
        return -(-len(self.data.train) // self.compiled.batch_size)

    def _epochs(self, loop, stepper, rng, interrupt, progress, safe: list) -> str:
        """Runs epochs until done -> completed | early_stopped | interrupted (asked for by
        Ctrl-C: stopped at a step boundary). Before each step, `safe` gets the loop state and RNG
        state to fall back on if the step raises KeyboardInterrupt."""
        train, spec, bsz = self.data.train, self.spec, self.compiled.batch_size
        n, epochs = len(train), int(spec.train["epochs"])
        batches = self._batches()
        validate_every = spec.train.get("validate_every")
        random_inputs = self.graphs.random_inputs.items()
        nan_guard = spec.train["nan_guard"]
        record = self.iterations.record  # ~0.25 us a step: a list append of a tuple
        outputs = self.step_outputs
        step_values = (
            operator.itemgetter(*outputs) if len(outputs) > 1 else lambda o: (o[outputs[0]],)
        )
        live = self.live_curves
        next_flush = time.monotonic() + FLUSH_SECONDS
        next_plot = time.monotonic() + live if live else math.inf
        while loop.epoch < epochs:
            if interrupt.requested:
                return "interrupted"
            if loop.perm is None:
                loop.perm = rng.permutation(n) if spec.train["shuffle"] else np.arange(n)
            progress.start_epoch(loop.epoch + 1, loop.batch)
            while loop.batch < batches:
                if interrupt.requested:
                    return "interrupted"
                safe[:] = loop.snapshot(), rng.bit_generator.state
                chunk = []
                for j in range(self._chunk(stepper, loop, batches, validate_every)):
                    a = (loop.batch + j) * bsz
                    b = min(a + bsz, n)
                    feeds = {
                        **stepper.batch_feeds(train, loop.perm[a:b]),
                        "step": np.array(loop.step + j, np.int64),
                        "lr": self.lr,
                    }
                    for name, shape in random_inputs:
                        feeds[name] = rng.random((b - a, *shape), dtype=np.float32)
                    chunk.append(feeds)
                outs = stepper.step_many(chunk) if len(chunk) > 1 else [stepper.step(chunk[0])]
                for feeds, out in zip(chunk, outs):
                    if nan_guard and not all(np.isfinite(v) for v in out.values()):
                        raise NanGuardStop(self._diagnose_nan(stepper, feeds, out, loop))
                    a = loop.batch * bsz
                    b = min(a + bsz, n)
                    self._account(loop, out, b - a, record, step_values, progress)
                if (
                    validate_every
                    and loop.step % validate_every == 0
                    and loop.batch < batches  # at an epoch's end, the epoch's row validates
                    and self.data.validation is not None
                ):
                    row = self._row(loop, stepper, out, partial=True)
                    self._log_row(row, loop)
                    progress.validation(row)
                if live or loop.batch == batches:
                    now = time.monotonic()
                    if now >= next_flush:
                        self.iterations.flush()
                        next_flush = now + FLUSH_SECONDS
                    if now >= next_plot:
                        next_plot = now + self._live_plot(loop)
            row = self._row(loop, stepper, out, partial=False)
            self._log_row(row, loop)
            progress.end_epoch(row)
            loop.end_epoch()
            stop = self.stopping.update(row, loop.epoch)
            due = self.checkpoints.due(loop.epoch) or stop or loop.epoch == epochs
            if self.stopping.improved or due:
                values = stepper.values()  # on the host anyway: checked for free
                self._guard(values, loop)
                if self.stopping.improved:
                    self.checkpoints.hold_best(values, loop)
                if due:
                    self.iterations.flush()  # the steps up to a checkpoint are on disk before it
                    state = rng.bit_generator.state
                    self.checkpoints.save("last", values, loop, self.stopping, state)
            if stop:
                return "early_stopped"
        return "completed"

    @staticmethod
    def _account(loop, out: dict, size: int, record, step_values, progress) -> None:
        """One step's report into the epoch's sums, the step log and the progress bar."""
        for k, v in out.items():
            if k == "loss" or k.startswith("metric."):
                key = short_name(k)
                loop.sums[key] = loop.sums.get(key, 0.0) + v * size
        loop.count += size
        loop.step += 1
        loop.batch += 1
        record(loop.step, loop.epoch + 1, step_values(out))
        progress.step(loop.batch, loop.sums.get("loss", 0.0) / loop.count)

    def _chunk(self, stepper, loop: LoopState, batches: int, validate_every) -> int:
        """How many steps the next call runs: the stepper's steps_per_call, within the epoch,
        before a mid-epoch validation, and never mixing the last, smaller batch with others."""
        k = min(getattr(stepper, "steps_per_call", 1), batches - loop.batch)
        if k <= 1:
            return 1
        if validate_every:
            k = min(k, validate_every - loop.step % validate_every)
        if len(self.data.train) % self.compiled.batch_size and loop.batch + k == batches:
            k = max(1, k - 1)  # the last batch is smaller: a call of its own
        return k

    def _row(self, loop: LoopState, stepper: Stepper, out: dict, partial: bool) -> dict:
        """A metrics.csv row: the epoch it belongs to (1-based, also mid-epoch), the step, the
        epoch's training means so far, the learning rate, validation, and its kind."""
        row = {"epoch": loop.epoch + 1, "step": loop.step}
        for k, v in loop.sums.items():
            row[k] = v / max(loop.count, 1)
        row["lr"] = out.get("lr_used", float(self.lr))
        if self.data.validation is not None:
            vals = self.evaluate(self.data.validation, stepper.values())
            row.update({f"val_{k}": v for k, v in vals.items()})
        row["kind"] = "mid" if partial else "epoch"
        return row

    def _live_plot(self, loop: LoopState) -> float:
        """Redraws curves.png mid-run; -> seconds until the next redraw: at least ten times
        what this one took, so that plotting never takes more than a tenth of the run."""
        started = time.monotonic()
        try:
            self.iterations.flush()
            self.run.write_curves(loop.history)
        except Exception as e:  # noqa: BLE001 - curves are a convenience; never stop a run for them
            self.log(f"warning: could not draw curves.png ({e}); not redrawing it until the end")
            return math.inf
        return max(self.live_curves or LIVE_CURVES_SECONDS, 10 * (time.monotonic() - started))

    def _log_row(self, row: dict, loop: LoopState) -> None:
        loop.history.append(row)
        self.metrics.append(row)

    # -- how a run ends --------------------------------------------------------------------------
    def _interrupted(self, loop: LoopState, stepper: Stepper, rng_state: dict) -> TrainResult:
        values = stepper.values()
        if nonfinite(values):  # never saved as a state to resume from
            e = NanGuardStop(
                f"interrupted at step {loop.step}, where {self._nonfinite_note(values)}; "
                f"no interrupted checkpoint was written; {self._last_good()}"
            )
            return self._stopped(loop, e, None)
        interrupt = self._interrupt
        with interrupt.shielded():  # a second Ctrl-C here would leave no checkpoint at all
            self.iterations.flush()
            path = self.checkpoints.save("interrupted", values, loop, self.stopping, rng_state)
            how = "terminated (SIGTERM)" if interrupt.signal_name == "SIGTERM" else "interrupted"
            msg = (
                f"{how} at step {loop.step}; state saved to {path}; "
                f"resume with: nnc train --resume {self.run.path}"
            )
            result = self._result("interrupted", loop, exit_code=EXIT_INTERRUPTED, message=msg)
            self._write_summary(result, None)
        if interrupt.again:
            result.message += " (a second interrupt waited for the save to finish)"
        return result

    def _guard(self, values: dict[str, np.ndarray], loop: LoopState) -> None:
        """Stops the run when `values` (parameters, optimizer state) are not finite."""
        if nonfinite(values):
            raise NanGuardStop(
                f"NaN guard: after step {loop.step} (epoch {loop.epoch}), "
                f"{self._nonfinite_note(values)}; {self._last_good()}"
            )

    @staticmethod
    def _nonfinite_note(values: dict[str, np.ndarray]) -> str:
        return f"the parameters are not finite: {describe(values, nonfinite(values))}"

    def _last_good(self) -> str:
        """Which checkpoint is good to go back to: last.ckpt, if it loads and is finite."""
        from nnc.runtime.checkpoint import CheckpointError

        last = self.run.checkpoint_path("last")
        if not last.exists():
            return "no checkpoint was written before it"
        try:
            tensors, meta = self.run.load_checkpoint("last")
        except CheckpointError as e:
            return f"{last} cannot be read either ({e})"
        if nonfinite(tensors):
            return f"{last} holds non-finite values too: there is no good checkpoint"
        return f"the last good checkpoint is {last} (epoch {meta.get('epoch')})"

    def _diagnose_nan(self, stepper: Stepper, feeds: dict, out: dict, loop: LoopState) -> str:
        bad = ", ".join(f"{k}={v}" for k, v in out.items() if not np.isfinite(v))
        where = f"step {loop.step} (epoch {loop.epoch + 1}, batch {loop.batch + 1})"
        key = next((k for k in ("__indices__", "indices") if k in feeds), None)
        if key is not None:  # a distributed or gathered step: the batch itself, for diagnosis
            idx = feeds[key]
            feeds = {**feeds, "x": self.data.train.x[idx], "y": self.data.train.y[idx]}
        values = stepper.values()
        msg = f"NaN guard: non-finite {bad} at {where}"
        if nonfinite(values):  # the previous update overflowed: the step only showed it
            msg += f"; before this step {self._nonfinite_note(values)}"
        else:
            first = first_nonfinite(self.graphs.gradient, {**feeds, **values})
            if first:
                msg += f"; the first non-finite tensor is {first}"
        return f"{msg}; {self._last_good()}"

    def _stopped(self, loop: LoopState, e: NanGuardStop, seconds: float | None) -> TrainResult:
        self.iterations.flush()
        result = self._result("nan", loop, exit_code=EXIT_NAN, message=str(e))
        self._write_summary(result, seconds)
        return result

    def _finish(self, loop: LoopState, stepper: Stepper, status: str, seconds: float):
        final = stepper.values()
        message = self.stopping.message() if status == "early_stopped" else ""
        if self.stopping.should_restore(loop.epoch):
            best, _ = self.run.load_checkpoint("best")
            final.update({k: v for k, v in best.items() if k in final})
            restored = f"restored the parameters of epoch {self.stopping.best_epoch}"
            message = f"{message}; {restored}" if message else restored
        self._guard(final, loop)
        result = self._result(status, loop, message=message)
        result.values = final
        self.checkpoints.save_final(final, loop.epoch, loop.step)
        if self.data.test is not None:
            result.test = self.evaluate(self.data.test, final)
        model = self.compiled.export(final, self.data)
        onnx.checker.check_model(model, full_check=True)
        self.run.write_model(model)
        self.iterations.flush()
        try:
            self.run.write_curves(loop.history)
        except Exception as e:  # noqa: BLE001 - curves are a convenience; never lose the run for them
            self.log(f"warning: could not draw curves.png: {e}")
        self._write_summary(result, seconds)
        return result

    def _write_summary(self, result: TrainResult, seconds: float | None) -> None:
        self.run.write_summary(
            {
                "status": result.status,
                "epochs": result.epochs,
                "steps": result.steps,
                "seconds": None if seconds is None else round(seconds, 3),
                "final": result.history[-1] if result.history else None,
                "test": result.test,
                "engine": self.engine.describe(),
                "message": result.message,
            }
        )

    def _result(self, status: str, loop: LoopState, **kw) -> TrainResult:
        return TrainResult(self.run.path, status, loop.epoch, loop.step, loop.history, **kw)
