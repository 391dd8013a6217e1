"""curves.png: the figure's panels, axes and data (not just that a file exists)."""

from __future__ import annotations

import numpy as np
import pytest

from nnc.runtime.metrics import MetricsLog, read_metrics
from nnc.runtime.plot import curves_figure, plot_curves, smooth
from nnc.runtime.steplog import IterationLog, read_iterations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPE = 25  # steps per epoch of the synthetic run


def synthetic_run(epochs: int = 3, validate_every: int = 10):
    """metrics.csv rows (mid-epoch validations every 10 steps, epoch rows every 25) and the
    per-step record, as the trainer writes them."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, epochs * SPE + 1)
    loss = 2.0 * np.exp(-steps / 30) + 0.1 * rng.random(len(steps))
    acc = 1 - loss / 3
    iterations = {"step": steps.astype(float), "epoch": (steps - 1) // SPE + 1.0}
    iterations.update(loss=loss, accuracy=acc)
    rows = []
    for s in steps:
        epoch = (s - 1) // SPE + 1
        val = {"val_loss": 1.8 * np.exp(-s / 30), "val_accuracy": 0.5 + s / 200}
        if s % validate_every == 0:
            rows.append({"epoch": epoch, "step": s, "loss": 1.0, **val, "kind": "mid"})
        if s % SPE == 0:
            mean = loss[s - SPE : s].mean()
            rows.append({"epoch": epoch, "step": s, "loss": mean, **val, "kind": "epoch"})
    return rows, iterations


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def test_the_figure_plots_every_step_and_validation_at_its_iterations():
    rows, it = synthetic_run()
    fig = curves_figure(rows, it, title="run")
    axes = [ax for ax in fig.axes if ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    assert axes[-1].get_xlabel() == "iteration"
    assert fig.texts[0].get_text() == "run"
    for ax, name in zip(axes, ["loss", "accuracy"]):
        lines = lines_by_label(ax)
        raw = lines["training (per iteration)"]
        np.testing.assert_array_equal(raw.get_xdata(), it["step"])
        np.testing.assert_array_equal(raw.get_ydata(), it[name])
        smoothed = lines["training (smoothed)"]
        np.testing.assert_array_equal(smoothed.get_xdata(), it["step"])
        assert np.std(np.diff(smoothed.get_ydata())) < np.std(np.diff(it[name]))
        val = lines["validation"]
        # at the iterations it ran: 10, 20, 25 (epoch end), 30, ... -- not stacked on epochs
        expected = [r["step"] for r in rows]
        np.testing.assert_array_equal(val.get_xdata(), expected)
        np.testing.assert_allclose(val.get_ydata(), [r[f"val_{name}"] for r in rows])
        assert val.get_marker() == "o" and val.get_linestyle() == "--"
        bounds = [line.get_xdata()[0] for line in ax.get_lines() if line.get_label() == "_epoch"]
        assert bounds == [25, 50, 75]
    assert axes[1].get_ylim() == (-0.02, 1.02)
    # the top axis counts epochs: iteration 50 is epoch 2
    top = [c for c in axes[0].child_axes if c.get_xlabel() == "epoch"]
    assert len(top) == 1


def test_every_recorded_metric_has_a_panel_and_validation_only_ones_too():
    rows = [
        {
            "epoch": e,
            "step": 4 * e,
            "loss": 1 / e,
            "mae": 2 / e,
            "val_top5": 0.1 * e,
            "kind": "epoch",
        }
        for e in range(1, 5)
    ]
    fig = curves_figure(rows)
    axes = [ax for ax in fig.axes if ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in axes] == ["loss", "mae", "top5"]
    mae = lines_by_label(axes[1])["training (epoch mean)"]
    np.testing.assert_array_equal(mae.get_xdata(), [4, 8, 12, 16])
    np.testing.assert_allclose(mae.get_ydata(), [2, 1, 2 / 3, 0.5])
    np.testing.assert_allclose(
        lines_by_label(axes[2])["validation"].get_ydata(), [0.1, 0.2, 0.3, 0.4]
    )


def test_an_old_metrics_csv_without_kind_or_iterations_still_plots(tmp_path):
    """metrics.csv from before the kind column: every row an epoch, plotted at its step."""
    log = MetricsLog(tmp_path / "metrics.csv", ["epoch", "step", "loss", "lr", "val_loss"])
    for e in range(1, 5):
        log.append({"epoch": e, "step": 10 * e, "loss": 10.0**-e, "lr": 0.1, "val_loss": None})
    rows = read_metrics(tmp_path / "metrics.csv")
    fig = curves_figure(rows, read_iterations(tmp_path / "missing.csv"))
    (ax,) = [ax for ax in fig.axes if ax.get_ylabel()]
    line = lines_by_label(ax)["training (epoch mean)"]
    np.testing.assert_array_equal(line.get_xdata(), [10, 20, 30, 40])
    assert ax.get_yscale() == "log"  # three decades of loss
    assert "validation" not in lines_by_label(ax)
    assert sum(1 for line in ax.get_lines() if line.get_label() == "_epoch") == 4


def test_many_epochs_get_an_epoch_axis_instead_of_boundary_lines():
    rows = [{"epoch": e, "step": e, "loss": 1 / e, "kind": "epoch"} for e in range(1, 301)]
    fig = curves_figure(rows)
    ax = fig.axes[0]
    assert not [line for line in ax.get_lines() if line.get_label() == "_epoch"]
    assert [c.get_xlabel() for c in ax.child_axes] == ["epoch"]


def test_plot_curves_writes_a_png_of_the_figure(tmp_path):
    from matplotlib.image import imread

    rows, it = synthetic_run()
    plot_curves(rows, tmp_path / "curves.png", it)
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_MAGIC
    image = imread(tmp_path / "curves.png")
    assert image.shape[:2] == (640, 800)  # 8 x (1.2 + 2 x 2.6) inches at 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]  # no temp file left
    plot_curves([], tmp_path / "empty.png")  # nothing logged yet is no error
    assert (tmp_path / "empty.png").read_bytes()[:8] == PNG_MAGIC


def test_smoothing_has_no_lag_and_removes_noise():
    x = np.linspace(0, 1, 400)
    ramp = 3 * x + 1
    np.testing.assert_allclose(smooth(ramp)[60:-60], ramp[60:-60], atol=1e-5)
    one_way = ramp.copy()  # an EMA run forwards only lags behind a ramp by (span - 1) / 2 steps
    for i in range(1, len(ramp)):
        one_way[i] = 0.8 * one_way[i - 1] + 0.2 * ramp[i]  # span 9: alpha 2 / (9 + 1)
    assert np.abs(one_way - ramp)[60:-60].min() > 100 * np.abs(smooth(ramp, 9) - ramp)[60:-60].max()
    np.testing.assert_allclose(smooth(np.full(50, 2.5)), 2.5)
    noisy = np.sin(6 * x) + np.random.default_rng(0).normal(0, 0.3, len(x))
    assert np.abs(smooth(noisy) - np.sin(6 * x)).mean() < 0.4 * np.abs(noisy - np.sin(6 * x)).mean()
    assert smooth(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]


def test_iteration_log_buffers_and_resumes_at_a_step(tmp_path):
    path = tmp_path / "iterations.csv"
    log = IterationLog(path, ["loss", "accuracy"])
    for s in range(1, 8):
        log.record(s, 1 + (s - 1) // 4, (1.0 / s, 0.1 * s))
    assert path.read_text() == "step,epoch,loss,accuracy\n"  # buffered until flushed
    log.flush()
    it = read_iterations(path)
    np.testing.assert_array_equal(it["step"], np.arange(1, 8))
    np.testing.assert_array_equal(it["epoch"], [1, 1, 1, 1, 2, 2, 2])
    np.testing.assert_allclose(it["loss"], 1 / np.arange(1, 8))
    with open(path, "a") as f:
        f.write("8,2,0.12")  # a line cut short by a crash
    assert len(read_iterations(path)["step"]) == 7
    IterationLog(path, ["loss", "accuracy"], resume_step=4)  # resumed from step 4's checkpoint
    np.testing.assert_array_equal(read_iterations(path)["step"], [1, 2, 3, 4])
    IterationLog(path, ["loss", "mae"], resume_step=4)  # other columns: starts afresh
    assert read_iterations(path) is None


@pytest.mark.parametrize("text", ["", "step,epoch,loss\n", "garbage"])
def test_read_iterations_of_nothing(tmp_path, text):
    (tmp_path / "i.csv").write_text(text)
    assert read_iterations(tmp_path / "i.csv") is None
