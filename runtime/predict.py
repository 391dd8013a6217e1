"""nnc predict: a trained model (a run directory or an .onnx file) or a spec's hand-set network
run on inputs from a file, with predictions printed or written to .csv, .json, .npy or .npz.

A CSV is read with the run's own CSV settings (delimiter, feature columns; the target column is
skipped when present), so the very file a model trained on can be served. Classifiers report the
predicted class by name, when the model knows its class names, and per-class probabilities:
the softmax (or sigmoid) of the scores its `label` output decides on.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnc.runtime.errors import RunError


@dataclass
class Served:
    """A model to predict with, and what its metadata says about its outputs."""

    model: object  # onnx.ModelProto
    where: str  # the file (or spec) it came from, for messages
    kind: str | None  # class_index | binary | multilabel | real; None: unknown or no loss
    activation: str | None  # the output's final activation, as the network applies it
    class_names: list[str] | None
    csv_settings: dict  # the run's data.csv settings (delimiter, features, target), or {}

    @property
    def input_shape(self) -> tuple[int, ...]:
        dims = self.model.graph.input[0].type.tensor_type.shape.dim[1:]
        return tuple(int(d.dim_value) for d in dims)


@dataclass
class Prediction:
    outputs: dict[str, np.ndarray]  # every model output by name
    kind: str | None
    probabilities: np.ndarray | None  # classifiers: in the shape of y (binary: p of class 1)
    labels: np.ndarray | None  # class_index [N]; binary/multilabel [N, C] of 0/1
    class_names: list[str] | None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def y(self) -> np.ndarray:
        return self.outputs["y"] if "y" in self.outputs else next(iter(self.outputs.values()))

    def names(self, count: int) -> list[str]:
        if self.class_names is not None and len(self.class_names) == count:
            return [str(c) for c in self.class_names]
        return [str(i) for i in range(count)]

    def class_table(self) -> tuple[list[str], np.ndarray]:
        """-> (class names, probabilities [N, C]); binary: both classes, p(0) = 1 - p(1)."""
        p = self.probabilities.reshape(len(self), -1)
        if self.kind == "binary":
            p = np.concatenate([1 - p, p], axis=1)
        return self.names(p.shape[1]), p


# -- the model -----------------------------------------------------------------------------------
def load_target(target: str, *, untrained: bool = False) -> Served:
    """A run directory, an .onnx file, or a spec (refused while its parameters are random initial
    values, unless `untrained`)."""
    p = Path(target)
    if p.is_dir():
        model_file = p / "model.onnx"
        if not model_file.exists():
            raise RunError(f"{p} has no model.onnx (did its training finish?)")
        return _served(load_onnx(model_file), str(model_file))
    if p.suffix.lower() == ".onnx":
        return _served(load_onnx(p), str(p))
    return _served_spec(target, untrained)


def load_onnx(path: Path):
    """An .onnx file, checked: one line for a file that is missing, damaged or not a model."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: no such file")
    if path.is_dir():
        raise RunError(f"{path}: is a directory, not an .onnx file")
    try:
        model = onnx.load(str(path))
    except DecodeError:
        raise RunError(f"{path}: not an ONNX model (damaged or truncated file)") from None
    except onnx.checker.ValidationError as e:  # external data outside the model's folder
        raise RunError(f"{path}: onnx refuses to load it: {_first_line(e)}") from None
    except OSError as e:
        raise RunError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not model.graph.input or not model.graph.output:
        raise RunError(f"{path}: not an ONNX model (empty file, or a model without inputs)")
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 - any checker failure: one line
        raise RunError(f"{path}: not a valid ONNX model: {_first_line(e)}") from None
    return model


def _served(model, where: str) -> Served:
    meta = {p.key: p.value for p in model.metadata_props}
    names = _json(meta.get("class_names"))
    kind = activation = None
    settings: dict = {}
    doc = _json(meta.get("spec"))
    if isinstance(doc, dict):
        settings = csv_settings(doc)
        try:
            from nnc.compiler.network import Network
            from nnc.compiler.spec.model import parse_spec

            net = Network(parse_spec(meta["spec"], f"{where} (metadata)"))
            activation = net.output_activation()[0]
            kind = net.target().kind if net.spec.loss is not None else None
        except Exception:  # noqa: BLE001 - a spec from another nnc version: raw outputs still serve
            kind = activation = None
    return Served(
        model, where, kind, activation, names if isinstance(names, list) else None, settings
    )


def _served_spec(path: str, untrained: bool) -> Served:
    from nnc.runtime.compiled import compile_spec, load_spec_file

    compiled = compile_spec(load_spec_file(path))
    drawn = [p.name for p in compiled.net.params if p.value is None and not p.state]
    if drawn and not untrained:
        raise RunError(
            f"{path}: an untrained spec: {len(drawn)} of its parameters ({drawn[0]}, ...) are "
            "random initial values; predict with a trained run (nnc predict RUN_DIR, after "
            "nnc train), or pass --untrained to predict with them anyway"
        )
    return _served(compiled.export(), path)


def csv_settings(spec_doc: dict) -> dict:
    """The data.csv settings of a spec document that reads its training data from a CSV."""
    data = spec_doc.get("data")
    src = data.get("csv") if isinstance(data, dict) else None
    return dict(src) if isinstance(src, dict) else {}


# -- the inputs ----------------------------------------------------------------------------------
def read_inputs(path: Path, served: Served) -> np.ndarray:
    """Features for the model: a CSV per the run's settings, else what read_features takes."""
    from nnc.runtime.data import read_features

    path = Path(path)
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_csv_inputs(path, served.input_shape, served.csv_settings)
    return read_features(path, input_shape=served.input_shape)


def read_csv_inputs(path: Path, input_shape: tuple[int, ...], settings: dict) -> np.ndarray:
    """A CSV's feature columns -> float32 [N, *input_shape].

    The columns are the settings' `features` when given; else every column when the file has
    exactly as many as the model takes, or every column but the target(s) (`target`, default
    the last column) when it has those too. The header is detected (a first row whose feature
    cells are not all numbers): what is read are the features, never the targets, so text class
    labels need not be known."""
    from nnc.runtime.data import DataError
    from nnc.runtime.data.base import check_features
    from nnc.runtime.data.sources.csv import read_csv

    delimiter = settings.get("delimiter", ",")
    first = _first_record(path, delimiter)
    ncols, need = len(first), math.prod(input_shape)
    features = settings.get("features")
    if features is not None:
        cols = [_column(ref, first, path, "features") for ref in features]
    elif ncols == need:
        cols = list(range(ncols))
    else:
        target = settings.get("target", -1)
        targets = target if isinstance(target, list) else [-1 if target is None else target]
        if ncols != need + len(targets):
            what = f"{need} feature{'s' if need != 1 else ''}"
            with_target = f" (or {need + len(targets)} with the target)" if targets else ""
            raise DataError(
                f"{path}: {ncols} column{'s' if ncols != 1 else ''}, but the model takes "
                f"{what}: expected {need} columns{with_target}"
            )
        skip = {_column(ref, first, path, "target") for ref in targets}
        cols = [j for j in range(ncols) if j not in skip]
    header = not all(_is_number(first[j]) for j in cols)
    x, _, _ = read_csv(path, delimiter=delimiter, header=header, target=None, features=cols)
    return check_features(x, input_shape, str(path))


def _first_record(path: Path, delimiter: str) -> list[str]:
    from nnc.runtime.data import DataError

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f, delimiter=delimiter):
                if any(c.strip() for c in row):
                    return [c.strip() for c in row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    raise DataError(f"{path}: the file is empty")


def _column(ref, first: list[str], path: Path, what: str) -> int:
    """A column named by the run's settings (a name from the header, or an index)."""
    from nnc.runtime.data import DataError

    n = len(first)
    if isinstance(ref, int) and not isinstance(ref, bool):
        if not -n <= ref < n:
            raise DataError(f"{path}: {what} column {ref} is out of range for {n} columns")
        return ref % n
    if ref in first:
        return first.index(ref)
    if all(_is_number(c) for c in first):
        raise DataError(
            f"{path}: the run names its {what} column(s) ({ref!r}, ...), so the file needs a "
            "header row naming its columns"
        )
    raise DataError(
        f"{path}: no column named {ref!r} (the run's {what} column); the first row is: "
        + ", ".join(first[:12])
        + (", ..." if n > 12 else "")
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# -- running it ----------------------------------------------------------------------------------
def predict(served: Served, x: np.ndarray, engine) -> Prediction:
    """Runs the model on x; a model the engine cannot run is one line (RunError)."""
    model = served.model
    x_info = model.graph.input[0]
    dtype = np.float64 if x_info.type.tensor_type.elem_type == 11 else np.float32
    names = [o.name for o in model.graph.output]
    try:
        run = engine.session(model)
        outs = run(names, {x_info.name: x.astype(dtype)})
    except Exception as e:  # noqa: BLE001 - the engine's own error, cut to one line
        who = {"ort": "onnxruntime", "numpy": "the NumPy interpreter"}.get(engine.name, "")
        raise RunError(
            f"{served.where}: {who or engine.name} cannot run this model: {_first_line(e)}"
        ) from None
    outputs = dict(zip(names, (np.asarray(o) for o in outs)))
    y = outputs.get("y", outputs[names[0]])
    probs = labels = None
    kind = served.kind if "label" in outputs else None
    if kind is not None:
        probs = probabilities(y, kind, served.activation)
        labels = outputs["label"]
    return Prediction(outputs, kind, probs, labels, served.class_names)


def probabilities(y: np.ndarray, kind: str, activation: str | None) -> np.ndarray:
    """Class probabilities from the output y: itself after a softmax (sigmoid), else the softmax
    (sigmoid) of the scores the label is decided on."""
    y = np.asarray(y, dtype=np.float64)
    if kind == "class_index":
        if activation == "softmax":
            return y
        if activation == "log_softmax":
            return np.exp(y)
        z = np.exp(y - y.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return y
    return 0.5 * (1 + np.tanh(0.5 * y))  # the logistic sigmoid, without overflow


# -- reporting it --------------------------------------------------------------------------------
def lines(pred: Prediction):
    """One line per sample: `setosa 0.97` (class and its probability), or the outputs."""
    n = len(pred)
    if pred.kind in ("class_index", "binary"):
        names, p = pred.class_table()
        chosen = pred.labels.reshape(n).astype(np.int64)
        width = max(len(s) for s in names)
        for i in range(n):
            yield f"{names[chosen[i]]:<{width}}  {_p(p[i, chosen[i]])}"
    elif pred.kind == "multilabel":
        names, p = pred.class_table()
        on = pred.labels.reshape(n, -1)
        for i in range(n):
            chosen = ",".join(names[j] for j in np.flatnonzero(on[i])) or "(none)"
            yield f"{chosen}  " + " ".join(_p(v) for v in p[i])
    else:
        y = pred.y.reshape(n, -1)
        for i in range(n):
            yield " ".join(f"{v:.6g}" for v in y[i])


def encode(pred: Prediction, suffix: str) -> bytes:
    """The predictions as a file of this type: .csv, .json, .npy or .npz."""
    suffix = suffix.lower()
    if suffix == ".npz":
        arrays = {k.replace("/", "_"): v for k, v in pred.outputs.items()}
        if pred.probabilities is not None:
            arrays["probabilities"] = pred.probabilities.astype(np.float32)
        return _np_bytes(np.savez, **arrays)
    if suffix == ".npy":
        data = pred.probabilities if pred.probabilities is not None else pred.y
        return _np_bytes(np.save, np.asarray(data, dtype=pred.y.dtype))
    header, rows = _table(pred)
    if suffix == ".json":
        records = ",\n ".join(json.dumps(_record(header, row)) for row in rows)
        return f"[{records}]\n".encode()
    if suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue().encode()
    raise RunError(f"-o: unsupported output type {suffix!r}; use .csv, .json, .npy or .npz")


def _table(pred: Prediction) -> tuple[list[str], list[list]]:
    """Header and rows: label and p_<class> per class, or y (y0, y1, ... for several)."""
    n = len(pred)
    if pred.kind is not None:
        names, p = pred.class_table()
        if pred.kind == "multilabel":
            on = pred.labels.reshape(n, -1)
            label = [" ".join(names[j] for j in np.flatnonzero(r)) for r in on]
        else:
            label = [names[j] for j in pred.labels.reshape(n).astype(np.int64)]
        header = ["label", *(f"p_{c}" for c in names)]
        return header, [[label[i], *(_num(v) for v in p[i])] for i in range(n)]
    y = pred.y.reshape(n, -1)
    header = ["y"] if y.shape[1] == 1 else [f"y{j}" for j in range(y.shape[1])]
    return header, [[_num(v) for v in row] for row in y]


def _record(header: list[str], row: list) -> dict:
    if header[0] == "label":
        return {"label": row[0], "probabilities": dict(zip((h[2:] for h in header[1:]), row[1:]))}
    return {"y": row[0] if len(row) == 1 else row}


def _num(v) -> float:
    """A float32 result as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(v)))


def _g(v) -> str:
    return f"{float(v):.4g}"


def _p(v) -> str:
    """A probability: four decimals (0.9999, 1.0000), as a share is read."""
    return f"{float(v):.4f}"


def _np_bytes(save, *args, **kwargs) -> bytes:
    buf = io.BytesIO()
    save(buf, *args, **kwargs)
    return buf.getvalue()


def _json(text: str | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def run_predict(
    target: str,
    input_path: str,
    output: str | None = None,
    *,
    engine: str = "ort",
    device: str = "auto",
    untrained: bool = False,
    out=print,
) -> None:
    """nnc predict: predictions printed one line per sample, or written to `output`."""
    from nnc.runtime.engines import make_engine
    from nnc.runtime.outputs import check_output, write_output

    if output:
        check_output(Path(output))  # before the work, not after
    served = load_target(target, untrained=untrained)
    x = read_inputs(Path(input_path), served)
    pred = predict(served, x, make_engine(engine, device))
    if output:
        write_output(Path(output), encode(pred, Path(output).suffix))
        out(f"wrote predictions for {len(pred)} samples to {output}")
        return
    for line in lines(pred):
        out(line)
