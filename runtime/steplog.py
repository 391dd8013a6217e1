"""iterations.csv: every train step's loss and metrics, for the training-progress plot.

The loop already reads each step's loss and metrics back; recording them must cost next to
nothing, so a step only appends to a list, and the rows are written in bulk: by `flush`, which
the trainer calls every few seconds, before each checkpoint and at the end. A resumed run keeps
the rows up to its checkpoint's step and drops any written after it (they will be run again).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from nnc.runtime.checkpoint import append_whole, atomic_write_bytes

FLUSH_SECONDS = 10.0


class IterationLog:
    """Columns: step (1-based: the step just taken), epoch (the one it belongs to, 1-based),
    then `names` (loss and the metrics), each a float as read back from the step."""

    def __init__(self, path: Path, names: list[str], *, resume_step: int | None = None):
        self.path = Path(path)
        self.names = list(names)
        self.columns = ["step", "epoch", *self.names]
        self._buffer: list[tuple] = []
        kept = self._kept_rows(resume_step) if resume_step is not None else []
        atomic_write_bytes(self.path, (self._header() + "".join(kept)).encode())

    def record(self, step: int, epoch: int, values: tuple) -> None:
        """One step: `values` in the order of `names`."""
        self._buffer.append((step, epoch, values))

    def flush(self) -> None:
        """Appends the buffered steps to the file in one write."""
        if not self._buffer:
            return
        buf = io.StringIO()
        for step, epoch, values in self._buffer:
            buf.write(f"{step},{epoch}," + ",".join(repr(float(v)) for v in values) + "\n")
        append_whole(self.path, buf.getvalue().encode("utf-8"))  # whole rows, or none
        self._buffer.clear()

    def _header(self) -> str:
        return ",".join(self.columns) + "\n"

    def _kept_rows(self, resume_step: int) -> list[str]:
        """The file's lines up to and including `resume_step`, if it has this run's columns."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            return []
        if not lines or lines[0] != self._header():
            return []
        kept = []
        for line in lines[1:]:
            head = line.split(",", 1)[0]
            if not line.endswith("\n") or not head.isdigit() or int(head) > resume_step:
                break
            kept.append(line)
        return kept


def read_iterations(path: Path) -> dict[str, np.ndarray] | None:
    """iterations.csv as column arrays (step, epoch, loss, ...), or None when absent or empty;
    a last line cut short (a crash mid-write) is left out."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    columns = next(csv.reader([lines[0]]))
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) != len(columns):
            break
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            break
    if not rows:
        return None
    table = np.array(rows, dtype=np.float64)
    return {c: table[:, j] for j, c in enumerate(columns)}
