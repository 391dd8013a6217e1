"""curves.png, the training-progress plot, drawn like MATLAB's training-progress window.

Everything is plotted against the iteration (train step): the training loss and metrics of
every step (raw, light) with a smoothed line over them, validation as markers at the steps it ran
(end of epoch and, with train.validate_every, mid-epoch), and the epoch boundaries. One panel per
metric the run records: loss first, then accuracy (or MAE, ...). With no per-step record (a run
from before iterations.csv), the training curve is the per-epoch mean from metrics.csv.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from nnc.runtime.checkpoint import atomic_write_bytes

NOT_METRICS = ("epoch", "step", "kind", "lr", "time")
MAX_EPOCH_LINES = 50  # more epochs than this: the top axis counts epochs instead
MAX_POINTS = 20_000  # per line; longer runs are drawn from every k-th step
TRAIN, VALIDATION = "C0", "black"


def plot_curves(
    rows: list[dict],
    path: Path,
    iterations: dict[str, np.ndarray] | None = None,
    *,
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> None:
    """Renders curves_figure to a PNG at `path`, atomically (a viewer keeping it open sees the
    old picture or the new one)."""
    fig = curves_figure(rows, iterations, steps_per_epoch=steps_per_epoch, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(Path(path), buf.getvalue())


def curves_figure(
    rows: list[dict],
    iterations: dict[str, np.ndarray] | None = None,
    *,
    steps_per_epoch: int | None = None,
    title: str | None = None,
):
    """The figure: `rows` as in metrics.csv (epoch, step, kind, loss, metrics, val_...), and
    `iterations` as read from iterations.csv (step, epoch, loss, metrics), or None."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    iterations = iterations if iterations is not None and len(iterations.get("step", ())) else None
    names = _metric_names(rows, iterations)
    epoch_rows = [r for r in rows if r.get("kind", "epoch") in ("epoch", None, "")]
    boundaries = [s for s in (_number(r.get("step")) for r in epoch_rows) if s is not None]
    spe = steps_per_epoch or _steps_per_epoch(epoch_rows)

    # Figure + FigureCanvasAgg, not pyplot: no global backend or figure registry to disturb.
    fig = Figure(figsize=(8.0, 1.2 + 2.6 * len(names)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for k, (ax, name) in enumerate(zip(axes, names)):
        drawn = _training(ax, name, rows, epoch_rows, iterations)
        drawn += _validation(ax, name, rows)
        if len(boundaries) <= MAX_EPOCH_LINES:
            for s in boundaries:
                ax.axvline(s, color="0.75", linestyle=":", linewidth=0.9, zorder=0, label="_epoch")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        _scale(ax, name, drawn)
        if drawn and k == 0:  # the same styles in every panel: one legend
            ax.legend(loc="best", fontsize="small")
        if k == 0 and spe:
            top = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
            top.set_xlabel("epoch")
    axes[-1].set_xlabel("iteration")
    if title:
        fig.suptitle(title)
    # Fixed margins, in inches, rather than tight_layout: that lays the figure out by drawing it
    # once more, which took 0.2 s of a 0.8 s digits-mlp run (cProfile of nnc train).
    width, height = fig.get_figwidth(), fig.get_figheight()
    top = 0.7 + (0.25 if title else 0.0)  # room for the epoch axis and the title
    fig.subplots_adjust(
        left=0.9 / width,
        right=1 - 0.25 / width,
        bottom=0.55 / height,
        top=1 - top / height,
        hspace=0.12,
    )
    return fig


def _metric_names(rows: list[dict], iterations: dict | None) -> list[str]:
    """loss first, then every other metric of the run, in the order first seen."""
    seen: list[str] = []
    keys = list(iterations or {}) + [k for r in rows for k in r]
    for key in keys:
        if key in NOT_METRICS:
            continue
        name = key[4:] if key.startswith("val_") else key
        if name not in seen and _has_numbers(rows, iterations, name):
            seen.append(name)
    seen.sort(key=lambda n: n != "loss")
    return seen or ["loss"]


def _has_numbers(rows, iterations, name) -> bool:
    if iterations is not None and name in iterations:
        return True
    return any(_number(r.get(k)) is not None for r in rows for k in (name, f"val_{name}"))


def _training(ax, name: str, rows, epoch_rows, iterations) -> list[np.ndarray]:
    if iterations is not None and name in iterations:
        x, y = iterations["step"], iterations[name]
        ok = np.isfinite(y)
        x, y = x[ok], y[ok]
        every = max(1, len(y) // MAX_POINTS)  # a picture has no room for more
        raw = dict(color=TRAIN, alpha=0.3, linewidth=0.8, label="training (per iteration)")
        ax.plot(x[::every], y[::every], **raw)
        ax.plot(
            x[::every], smooth(y)[::every], color=TRAIN, linewidth=1.8, label="training (smoothed)"
        )
        return [y]
    xs, ys = _series(epoch_rows, name)
    if not xs:
        return []
    marker = "o" if len(xs) < 30 else None
    ax.plot(xs, ys, color=TRAIN, marker=marker, markersize=3, label="training (epoch mean)")
    return [np.asarray(ys)]


def _validation(ax, name: str, rows) -> list[np.ndarray]:
    xs, ys = _series(rows, f"val_{name}")
    if not xs:
        return []
    ax.plot(
        xs,
        ys,
        color=VALIDATION,
        linestyle="--",
        linewidth=1.0,
        marker="o",
        markersize=4 if len(xs) <= 60 else 2.5,
        markerfacecolor="white",
        label="validation",
    )
    return [np.asarray(ys)]


def _scale(ax, name: str, drawn: list[np.ndarray]) -> None:
    values = np.concatenate(drawn) if drawn else np.array([])
    if not len(values):
        return
    if name == "accuracy" and values.min() >= 0 and values.max() <= 1:
        ax.set_ylim(-0.02, 1.02)
    elif name == "loss" and values.min() > 0 and values.max() / values.min() > 100:
        ax.set_yscale("log")


def smooth(y: np.ndarray, span: int | None = None) -> np.ndarray:
    """An exponential moving average run forwards and backwards (zero phase: the smoothed line
    does not lag behind the raw one, as a one-way average would on a falling loss); the default
    span grows with the number of points (1/100 of them, at least 5, at most 200)."""
    from scipy.signal import filtfilt

    y = np.asarray(y, dtype=np.float64)
    if span is None:
        span = min(200, max(5, round(len(y) / 100)))
    if span <= 1 or len(y) < 3:
        return y.copy()
    alpha = 2.0 / (span + 1)
    return filtfilt([alpha], [1.0, alpha - 1.0], y, method="gust")


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for i, r in enumerate(rows):
        y = _number(r.get(key))
        if y is None:
            continue
        x = _number(r.get("step"))
        xs.append(x if x is not None else i + 1)
        ys.append(y)
    return xs, ys


def _steps_per_epoch(epoch_rows: list[dict]) -> float | None:
    for r in epoch_rows:
        step, epoch = _number(r.get("step")), _number(r.get("epoch"))
        if step and epoch:
            return step / epoch
    return None


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
