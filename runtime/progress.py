"""Training progress: a tqdm bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import os
import sys


class Progress:
    def __init__(self, log, epochs: int, steps: int):
        self.log, self.epochs, self.steps = log, epochs, steps
        self.tty = sys.stderr.isatty() and not os.environ.get("NNC_NO_PROGRESS")
        self.bar = None

    def start_epoch(self, epoch: int, done: int) -> None:
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
