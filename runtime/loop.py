"""The training loop's state and its two collaborators: early stopping and checkpointing.

A checkpoint's meta holds LoopState.meta() and EarlyStopping.meta() (plus kind, spec, spec hash,
the RNG state and the time), and its tensors the carried values (plus `__perm__`, the epoch's
sample order, mid-epoch): everything a resumed run needs to continue bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnc.compiler.spec.model import Spec, thaw
from nnc.runtime.errors import RunError
from nnc.runtime.nanguard import check_finite
from nnc.runtime.rundir import RunDir

CHECKPOINT_SECONDS = 10.0
PERM = "__perm__"  # checkpoint tensor: the current epoch's sample order


@dataclass
class LoopState:
    """Where the loop is: epochs and batches done, steps taken, and the epoch's running sums."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the current epoch completed
    step: int = 0  # train steps taken
    history: list[dict] = field(default_factory=list)  # metrics.csv rows so far
    sums: dict[str, float] = field(default_factory=dict)  # sample-weighted loss, metrics
    count: int = 0  # samples of the current epoch so far
    perm: np.ndarray | None = None  # the current epoch's sample order, once drawn

    _META = ("epoch", "batch", "step", "history", "sums", "count")

    def snapshot(self) -> LoopState:
        """A copy to fall back on if a step is interrupted (history only grows: shared)."""
        return LoopState(
            self.epoch, self.batch, self.step, self.history, dict(self.sums), self.count, self.perm
        )

    def end_epoch(self) -> None:
        self.epoch += 1
        self.batch, self.sums, self.count, self.perm = 0, {}, 0, None

    def meta(self) -> dict:
        return {k: getattr(self, k) for k in self._META}

    @classmethod
    def from_checkpoint(cls, meta: dict, tensors: dict[str, np.ndarray]) -> LoopState:
        state = cls(**{k: meta[k] for k in cls._META})
        state.perm = tensors.get(PERM)
        return state


def loop_meta_problem(meta: dict) -> str | None:
    """What is wrong with a resumable checkpoint's meta (a crafted or damaged file), or None:
    every field LoopState, EarlyStopping and the trainer read, with its type."""

    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    checks = {
        "epoch": count,
        "batch": count,
        "step": count,
        "count": count,
        "wait": count,
        "history": lambda v: (
            isinstance(v, list)
            and all(isinstance(r, dict) and all(isinstance(k, str) for k in r) for r in v)
        ),
        "sums": lambda v: isinstance(v, dict) and all(number(x) for x in v.values()),
        "best": lambda v: v is None or number(v),
        "best_epoch": lambda v: v is None or count(v),
        "rng": lambda v: isinstance(v, dict) and isinstance(v.get("bit_generator"), str),
        "spec": lambda v: isinstance(v, dict),
    }
    if not isinstance(meta, dict):
        return "its metadata is not a mapping"
    for key, ok in checks.items():
        if key not in meta:
            return f"its metadata has no {key!r}"
        if not ok(meta[key]):
            return f"its metadata's {key!r} is not valid ({str(meta[key])[:40]!r})"
    try:
        np.random.default_rng().bit_generator.state = meta["rng"]
    except (ValueError, TypeError, KeyError) as e:
        return f"its metadata's random generator state is not valid ({str(e)[:60]})"
    return None


class EarlyStopping:
    """Stops when `monitor` has not improved by min_delta for more than `patience` epochs.

    Without an early_stopping section it never stops, and best stays None. With no validation
    data a val_ monitor falls back to the training metric of the same name.
    """

    def __init__(self, cfg: dict | None, has_validation: bool):
        self.enabled = bool(cfg)
        cfg = dict(cfg or {})
        monitor = cfg.get("monitor")
        self.note: str | None = None  # for the run's log: what it monitors instead
        if self.enabled and monitor.startswith("val_") and not has_validation:
            self.note = (
                f"note: no validation data; early stopping monitors {monitor[4:]}, not {monitor}"
            )
            monitor = monitor[4:]
        mode = cfg.get("mode", "auto")
        if mode == "auto" and monitor is not None:
            mode = "max" if any(w in monitor for w in ("acc", "accuracy")) else "min"
        self.monitor: str | None = monitor
        self.mode: str | None = mode if self.enabled else None
        self.patience = int(cfg.get("patience", 0))
        self.min_delta = float(cfg.get("min_delta", 0.0))
        self.restore_best = bool(cfg.get("restore_best", False))
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.improved = False  # whether the last update saw a new best

    def update(self, row: dict, epoch: int) -> bool:
        """Takes an epoch's row; -> whether to stop."""
        self.improved = False
        if not self.enabled:
            return False
        value = row.get(self.monitor)
        if value is None:
            have = ", ".join(k for k in row if k not in ("epoch", "step", "time"))
            raise RunError(f"early_stopping.monitor: no metric {self.monitor!r}; have {have}")
        if self.best is None or (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        ):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.improved = True
            return False
        self.wait += 1
        return self.wait > self.patience

    def should_restore(self, epoch: int) -> bool:
        """Whether the run ends on parameters other than the best epoch's, which it wants."""
        return self.restore_best and self.best_epoch is not None and self.best_epoch != epoch

    def message(self) -> str:
        return (
            f"early stopping: {self.monitor} has not improved for {self.patience} epochs; "
            f"best {self.best:.6g} at epoch {self.best_epoch}"
        )

    def meta(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load(self, meta: dict) -> None:
        self.best, self.best_epoch, self.wait = meta["best"], meta["best_epoch"], meta["wait"]


class Checkpointer:
    """The run's checkpoints. `last` after an epoch when due: every train.checkpoint_every
    epochs, or by default after an epoch at most every CHECKPOINT_SECONDS (an fsync per epoch of
    a tiny model would cost more than its training). `best` is held in memory when early stopping
    sees a new best and written with the next `last` or `interrupted`. `final` at the end."""

    def __init__(self, run: RunDir, spec: Spec, clock=time.monotonic):
        self.run = run
        self.spec_hash = spec.hash
        self.spec_doc = thaw(spec.document)
        self.every = spec.train.get("checkpoint_every")
        self.clock = clock
        self.last_write = clock()
        self.pending_best: tuple[dict[str, np.ndarray], dict] | None = None

    def due(self, epoch: int) -> bool:
        if self.every:
            return epoch % int(self.every) == 0
        return self.clock() - self.last_write >= CHECKPOINT_SECONDS

    def hold_best(self, values: dict[str, np.ndarray], loop: LoopState) -> None:
        check_finite(values, str(self.run.checkpoint_path("best")))
        meta = {"kind": "best", "spec_hash": self.spec_hash, "epoch": loop.epoch, "step": loop.step}
        self.pending_best = (values, meta)

    def save(
        self,
        kind: str,
        values: dict[str, np.ndarray],
        loop: LoopState,
        stopping: EarlyStopping,
        rng_state: dict,
    ) -> Path:
        """A resumable checkpoint (last or interrupted), after any best one held; non-finite
        values are never written (NonFiniteValues)."""
        check_finite(values, str(self.run.checkpoint_path(kind)))
        self._write_best()
        tensors = dict(values)
        if loop.perm is not None:
            tensors[PERM] = np.asarray(loop.perm)
        meta = {
            **loop.meta(),
            **stopping.meta(),
            "kind": kind,
            "spec_hash": self.spec_hash,
            "rng": rng_state,
            "spec": self.spec_doc,
            "time": time.time(),
        }
        path = self.run.save_checkpoint(kind, tensors, meta)
        self.last_write = self.clock()
        return path

    def save_final(self, values: dict[str, np.ndarray], epochs: int, steps: int) -> Path:
        check_finite(values, str(self.run.checkpoint_path("final")))
        meta = {
            "kind": "final",
            "spec_hash": self.spec_hash,
            "spec": self.spec_doc,
            "epoch": epochs,
            "step": steps,
        }
        return self.run.save_checkpoint("final", values, meta)

    def _write_best(self) -> None:
        if self.pending_best is not None:
            values, meta = self.pending_best
            self.run.save_checkpoint("best", values, meta)
            self.pending_best = None
