"""The nnc command line's grammar: every command, option and help text, and the argument types
that turn a bad value into a one-line usage error (exit 2)."""

from __future__ import annotations

import argparse

from nnc.runtime.commands import (
    cmd_bench,
    cmd_compile,
    cmd_eval,
    cmd_export,
    cmd_gradcheck,
    cmd_graph,
    cmd_predict,
    cmd_summary,
    cmd_train,
    cmd_validate,
    cmd_web,
)
from nnc.runtime.errors import EXIT_USAGE


def _positive_int(text: str) -> int:
    value = _natural_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _natural_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive finite number")
    return value


class _Parser(argparse.ArgumentParser):
    """A usage error is one line (what is wrong, and where the help is), exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from nnc.compiler import __version__

    p = _Parser(
        prog="nnc", description="Compile YAML network specs to ONNX; train and export them."
    )
    p.add_argument("--version", action="version", version=f"nnc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def engine_opts(sp):
        sp.add_argument(
            "--engine",
            choices=["ort", "numpy"],
            default="ort",
            help="onnxruntime or the NumPy interpreter",
        )
        sp.add_argument(
            "--device",
            choices=["auto", "cpu", "cuda"],
            default="auto",
            help="auto: CUDA when an onnxruntime session can be created on it, else the CPU",
        )

    def untrusted(sp):
        sp.add_argument(
            "--untrusted",
            action="store_true",
            help="for a spec from elsewhere: its data paths and init_from runs must stay inside "
            "its folder (no absolute paths, '..' or symlinks leading out)",
        )

    def accept_new_data(sp):
        sp.add_argument(
            "--accept-new-data",
            action="store_true",
            help="go on when the data files differ from those the run was trained on (the "
            "run's preprocessing is kept)",
        )

    def recurrent_option(sp):
        sp.add_argument(
            "--recurrent",
            choices=["native", "scan", "unrolled"],
            default="native",
            help="how recurrent layers are spelt in every graph: native RNN/GRU/LSTM ops to "
            "deploy (the default; training uses a Scan or unrolled steps as each layer says), "
            "or the cell as a Scan or unrolled over the steps, for runtimes without those ops "
            "(tinygrad needs unrolled)",
        )

    s = sub.add_parser("validate", help="check a spec (schema, cross-field checks, shapes)")
    s.add_argument("spec")
    s.set_defaults(fn=cmd_validate)
    s = sub.add_parser("summary", help="layer table: output shapes and parameter counts")
    s.add_argument("spec")
    s.set_defaults(fn=cmd_summary)
    s = sub.add_parser("graph", help="draw the network: layers, shapes, parameters (Graphviz)")
    s.add_argument("spec")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        help="picture file: .svg, .png or .pdf (drawn by Graphviz's dot), or .dot/.gv source",
    )
    s.add_argument(
        "--direction",
        choices=["TB", "LR"],
        default="TB",
        help="top to bottom (default) or left to right",
    )
    s.set_defaults(fn=cmd_graph)
    s = sub.add_parser("compile", help="write model.onnx, training graphs and manifest.json")
    s.add_argument("spec")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.add_argument("--inference-only", action="store_true")
    s.add_argument(
        "--with-data",
        action="store_true",
        help="also write the spec's data (split, preprocessed) as raw binaries under data/, "
        "described in manifest.json, and bake the preprocessing into model.onnx",
    )
    recurrent_option(s)
    s.set_defaults(fn=cmd_compile)
    s = sub.add_parser("predict", help="run a model on inputs from .npy/.npz/.csv")
    s.add_argument("target", help="a run directory, a .onnx model, or a spec")
    s.add_argument(
        "--input",
        required=True,
        help="features in .csv (read with the run's CSV settings; a target column is skipped), "
        ".npy, .npz or IDX",
    )
    s.add_argument(
        "-o",
        "--output",
        help="write predictions to .csv or .json (label and per-class probabilities, or the "
        "outputs), .npy (probabilities, or the outputs) or .npz (every output)",
    )
    s.add_argument(
        "--untrained",
        action="store_true",
        help="allow a spec whose parameters are random initial values",
    )
    engine_opts(s)
    s.set_defaults(fn=cmd_predict)
    s = sub.add_parser("train", help="train a spec; writes a run directory")
    s.add_argument("spec", nargs="?", help="the spec to train (with --resume: default the run's)")
    s.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a run from its newest checkpoint (only --epochs may change)",
    )
    s.add_argument("--run-dir", help="where to write the run (default: runs/<name>-<k>)")
    s.add_argument("--runs", default="runs", help="parent folder of new run directories")
    s.add_argument(
        "--overwrite", action="store_true", help="allow --run-dir to be a non-empty folder"
    )
    s.add_argument("--epochs", type=int, help="override train.epochs")
    s.add_argument("--batch-size", type=int, help="override train.batch_size")
    s.add_argument("--lr", type=float, help="override optimizer.lr (the learning rate)")
    s.add_argument("--seed", type=int, help="override train.seed")
    s.add_argument(
        "--from-checkpoint",
        choices=["interrupted", "last"],
        help="with --resume: the checkpoint to continue from (default: the one further along)",
    )
    accept_new_data(s)
    untrusted(s)
    s.add_argument(
        "--workers",
        type=int,
        help="data-parallel training on this many Ray workers (train.workers; needs nnc[ray])",
    )
    s.add_argument(
        "--address",
        help="a running Ray cluster to use (default: start a local Ray instance)",
    )
    engine_opts(s)
    s.set_defaults(fn=cmd_train)
    s = sub.add_parser("eval", help="loss and metrics of a trained run on its data splits")
    s.add_argument("run")
    accept_new_data(s)
    untrusted(s)
    engine_opts(s)
    s.set_defaults(fn=cmd_eval)
    s = sub.add_parser("export", help="write the trained model as a self-contained ONNX file")
    s.add_argument("run")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--opset", type=int)
    recurrent_option(s)
    s.set_defaults(fn=cmd_export)
    s = sub.add_parser("web", help="write a static page that trains the model in the browser")
    s.add_argument("target", help="a spec, or a run directory (the page starts from its weights)")
    s.add_argument("-o", "--output", required=True, help="folder for the page and its files")
    s.add_argument(
        "--ort-dir",
        help="onnxruntime-web's dist folder (default: $NNC_ORT_WEB, scripts/conformance/"
        "install.sh's copy, or ./node_modules/onnxruntime-web/dist)",
    )
    recurrent_option(s)
    s.set_defaults(fn=cmd_web)
    s = sub.add_parser("bench", help="time train steps and inference on synthetic data")
    s.add_argument("spec")
    s.add_argument("--batch-size", type=_positive_int, help="default: the spec's train.batch_size")
    s.add_argument(
        "--repeats", type=_positive_int, default=7, help="timed blocks (the median is reported)"
    )
    s.add_argument("--warmup", type=_natural_int, default=10, help="untimed steps first")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    engine_opts(s)
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("gradcheck", help="check the gradient graph against finite differences")
    s.add_argument("spec")
    s.add_argument("--samples", type=_positive_int, default=4, help="random samples in the batch")
    s.add_argument(
        "--entries", type=_positive_int, default=12, help="entries checked per parameter"
    )
    s.add_argument("--eps", type=_positive_float, default=1e-6, help="finite-difference step")
    s.add_argument("--tol", type=_positive_float, default=1e-5, help="relative error allowed")
    s.add_argument("--seed", type=_natural_int, default=0)
    s.set_defaults(fn=cmd_gradcheck)
    return p
