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
        if (
            self.epochs <= 50
            or row["epoch"] % max(1, self.epochs // 20) == 0
            or row["epoch"] == self.epochs
        ):
            self.log(self._line(row))

    def validation(self, row: dict) -> None:
        """A mid-epoch validation (train.validate_every), printed above the bar."""
        if self.bar is not None:
            self.bar.clear()
        self.log(self._line(row) + "  (mid-epoch)")
        if self.bar is not None:
            self.bar.refresh()

    def _line(self, row: dict) -> str:
        from nnc.runtime.metrics import format_metrics

        return f"epoch {row['epoch']}/{self.epochs}  step {row['step']}  " + format_metrics(row)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
