"""Loss and metrics of parameter values on a data split (the eval graph, in batches), the
confusion matrix of a trained classifier, and the NaN guard's search for the first non-finite
tensor."""

from __future__ import annotations

import numpy as np
import onnx

from nnc.runtime.compiled import Compiled
from nnc.runtime.data import Dataset, Split
from nnc.runtime.engines import Engine

EVAL_BATCH = 256  # at least this many samples per eval call: fewer calls, same result


def short_name(output: str) -> str:
    """metric.accuracy -> accuracy; loss stays loss."""
    return output[len("metric.") :] if output.startswith("metric.") else output


class Evaluator:
    """The eval graph (batch norm and dropout in inference mode) run over a split in batches; the
    session is created on first use."""

    def __init__(self, compiled: Compiled, engine: Engine):
        graphs = compiled.graphs
        if graphs is None:
            raise ValueError("evaluation needs a spec with a loss")
        self.model = graphs.eval
        self.engine = engine
        self.outputs = [o.name for o in self.model.graph.output]
        self.params = [p.name for p in compiled.net.params]
        self.batch_size = max(compiled.batch_size, EVAL_BATCH)
        self._run = None

    @property
    def metric_names(self) -> list[str]:
        return [short_name(o) for o in self.outputs if o.startswith("metric.")]

    def __call__(self, split: Split, values: dict[str, np.ndarray]) -> dict[str, float]:
        if self._run is None:
            self._run = self.engine.session(self.model)
        params = {name: values[name] for name in self.params}
        totals: dict[str, float] = {}
        n = len(split)
        for a in range(0, n, self.batch_size):
            b = min(a + self.batch_size, n)
            outs = self._run(self.outputs, {"x": split.x[a:b], "y": split.y[a:b], **params})
            for name, v in zip(self.outputs, outs):
                totals[name] = totals.get(name, 0.0) + float(v) * (b - a)
        return {short_name(k): v / n for k, v in totals.items()}


def confusion_report(
    compiled: Compiled, data: Dataset, engine: Engine, values: dict[str, np.ndarray]
) -> str | None:
    """The test split's confusion matrix as text, for class and binary targets; else None."""
    from nnc.runtime.metrics import confusion_matrix, format_confusion_matrix

    target = compiled.net.target()
    if target.kind not in ("class_index", "binary") or data.test is None:
        return None
    run = engine.session(compiled.export(values))
    label = run(["label"], {"x": data.test.x})[0].reshape(-1)
    y = data.test.y.reshape(-1).astype(np.int64)
    k = target.num_classes or 2
    names = data.class_names or [str(i) for i in range(k)]
    cm = format_confusion_matrix(confusion_matrix(y, label, k), names)
    return "confusion matrix (rows: true, columns: predicted):\n" + cm


def first_nonfinite(model: onnx.ModelProto, feeds: dict) -> str | None:
    """Re-runs a graph (the step's gradient graph) on the NumPy interpreter and names the first
    tensor that is not finite."""
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
