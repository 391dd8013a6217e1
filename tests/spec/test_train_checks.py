"""Training options that used to fail only once training ran, or when a run directory was made:
an early_stopping.monitor naming no metric, a spec name too long for a directory name."""

import pytest

from nnc.compiler.graphs import _loss_graph
from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.cli import main

SPEC = """\
nnc: 1
input: {shape: [4]}
layers:
  - {type: dense, units: UNITS}
loss: LOSS
train: {epochs: 2, early_stopping: {monitor: MONITOR}}
data: {inline: {x: [[0, 1, 2, 3], [1, 2, 3, 4]], y: [0, 1]}}
"""


def spec_text(monitor: str, loss: str = "cross_entropy", units: int = 3) -> str:
    return SPEC.replace("MONITOR", monitor).replace("LOSS", loss).replace("UNITS", str(units))


def network(text: str) -> Network:
    return Network(parse_spec(text, "spec.yaml"))


@pytest.mark.parametrize(
    "loss, units, names",
    [
        ("cross_entropy", 3, ["loss", "accuracy", "lr", "val_loss", "val_accuracy"]),
        ("binary_cross_entropy", 1, ["loss", "accuracy", "lr", "val_loss", "val_accuracy"]),
        ("mse", 2, ["loss", "mae", "lr", "val_loss", "val_mae"]),
    ],
)
def test_metric_names_are_those_the_graphs_output(loss, units, names):
    net = network(spec_text("loss", loss, units))
    assert net.metric_names() == names
    b, _, _ = _loss_graph(net, "float32", "eval")
    outputs = [o.name.removeprefix("metric.") for o in b.outputs if o.name != "loss"]
    assert ["loss", *outputs, "lr"] == names[:3]


@pytest.mark.parametrize("monitor", ["val_loss", "loss", "val_accuracy", "accuracy", "lr"])
def test_known_monitors_validate(monitor):
    network(spec_text(monitor))


@pytest.mark.parametrize(
    "monitor, loss, units, message",
    [
        (
            "val_acc",
            "cross_entropy",
            3,
            "no metric 'val_acc' to monitor (did you mean 'val_accuracy'?); this spec's training "
            "records loss, accuracy, lr, val_loss, val_accuracy",
        ),
        (
            "val_accuracy",
            "mse",
            2,
            "no metric 'val_accuracy' to monitor; this spec's training records loss, mae, lr, "
            "val_loss, val_mae",
        ),
        (
            "f1",
            "cross_entropy",
            3,
            "no metric 'f1' to monitor; this spec's training records loss, accuracy, lr, "
            "val_loss, val_accuracy",
        ),
    ],
)
def test_unknown_monitor_is_a_spec_error_at_its_line(monitor, loss, units, message):
    with pytest.raises(SpecError) as info:
        network(spec_text(monitor, loss, units))
    (d,) = info.value.diagnostics
    assert (d.line, d.path, d.message) == (6, "train.early_stopping.monitor", message)


def test_unknown_monitor_stops_train_before_the_first_epoch(tmp_path, capsys):
    p = tmp_path / "spec.yaml"
    p.write_text(spec_text("val_acc"))
    assert main(["validate", str(p)]) == 1
    assert main(["train", str(p), "--runs", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "no metric 'val_acc' to monitor" in err
    assert not list(tmp_path.glob("runs/*/metrics.csv"))  # no epoch ran


def test_a_300_character_name_is_refused_at_validate():
    with pytest.raises(SpecError) as info:
        parse_spec("name: " + "n" * 300 + "\n" + spec_text("loss"), "spec.yaml")
    (d,) = info.value.diagnostics
    assert (d.line, d.path) == (1, "name")
    assert d.message.endswith("is too long (at most 100 characters)")


def test_a_name_of_100_characters_trains_into_its_run_directory(tmp_path, capsys):
    p = tmp_path / "spec.yaml"
    p.write_text("name: " + "n" * 100 + "\n" + spec_text("loss").replace("epochs: 2", "epochs: 1"))
    assert main(["train", str(p), "--runs", str(tmp_path / "runs")]) == 0, capsys.readouterr()
    assert (tmp_path / "runs" / ("n" * 100 + "-1") / "model.onnx").exists()


@pytest.mark.parametrize(
    "filename, name",
    [
        ("digits.yaml", "digits"),
        ("my spec (v2).yaml", "my_spec_v2"),
        ("x" * 250 + ".yaml", "x" * 100),
        ("ü.yaml", "model"),
    ],
)
def test_the_default_name_comes_from_the_file_and_is_a_valid_name(filename, name):
    spec = parse_spec(spec_text("loss"), filename)
    assert spec.name == name
