"""The nnc command line: parses, calls the runtime, and turns every failure into one line and an
exit code through one table (`_failures`): 0 ok, 1 invalid spec/data or failed run, 2 usage
error, 3 stopped by the NaN guard (non-finite step results, or parameters that would be
checkpointed or exported) or a failed gradient check, 130 interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHECK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# the oldest opset `nnc export --opset` converts to: 13 is where the ops nnc emits (ReduceSum with
# axes as an input, Softmax on any axis) took their current form
MIN_EXPORT_OPSET = 13


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _compile(path: str, recurrent: str = "native"):
    from nnc.runtime.compiled import compile_spec, load_spec_file

    return compile_spec(load_spec_file(path), recurrent=recurrent)


def cmd_validate(args) -> int:
    compiled = _compile(args.spec)
    layers, shape = len(compiled.spec.layers), list(compiled.net.output_shape)
    print(f"{args.spec}: ok ({layers} layers, output {shape})")
    return EXIT_OK


def cmd_summary(args) -> int:
    compiled = _compile(args.spec)
    print(f"Model: {compiled.spec.name}")
    print(compiled.net.summary())
    return EXIT_OK


def cmd_graph(args) -> int:
    from nnc.runtime.graph import render
    from nnc.runtime.outputs import check_output, write_output

    out = check_output(Path(args.output))
    write_output(out, render(_compile(args.spec).net, out, args.direction))
    print(f"wrote {out}")
    return EXIT_OK


def cmd_compile(args) -> int:
    import onnx

    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_with_data, load_spec_file
    from nnc.runtime.errors import RunError
    from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info, write_data
    from nnc.runtime.outputs import check_output

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise RunError(f"-o {out}: exists and is not a directory (compile writes a folder)")
    for name in ("model.onnx", "manifest.json"):
        check_output(out / name)
    data = None
    if args.with_data:
        compiled, data = compile_with_data(load_spec_file(args.spec), recurrent=args.recurrent)
    else:
        compiled = _compile(args.spec, args.recurrent)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"-o {out}: cannot create the folder: {e.strerror or e}") from None
    models = {"model": compiled.export(data=data)}
    if compiled.trainable and not args.inference_only:
        try:
            models.update(compiled.graphs.models())
        except Exception as e:  # a GradientError names the op
            raise RunError(f"{args.spec}: cannot build training graphs: {e}") from e
    files = {kind: f"{kind}.onnx" for kind in models}
    for kind, model in models.items():
        onnx.checker.check_model(model, full_check=True)
        atomic_write_bytes(out / files[kind], model.SerializeToString())
    files["initial"] = INITIAL
    atomic_write_bytes(out / INITIAL, initial_values_bytes(compiled, compiled.initial_values()))
    extra = {}
    if data is not None:
        extra = {"data": write_data(out, data), "preprocess": preprocess_info(data)}
    manifest = compiled.manifest(models, files, **extra)
    atomic_write_bytes(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    written = [f for kind, f in files.items() if kind != "initial"] + [INITIAL]
    print(f"wrote {', '.join(written)}{', data/' if data else ''} and manifest.json to {out}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from nnc.runtime.predict import run_predict

    run_predict(
        args.target,
        args.input,
        args.output,
        engine=args.engine,
        device=args.device,
        untrained=args.untrained,
    )
    return EXIT_OK


TRAIN_OVERRIDES = (
    ("train.epochs", "epochs"),
    ("train.batch_size", "batch_size"),
    ("train.seed", "seed"),
    ("train.workers", "workers"),
    ("optimizer.lr", "lr"),
)


def cmd_train(args) -> int:
    from nnc.runtime import resume as resuming
    from nnc.runtime.compiled import load_spec_file
    from nnc.runtime.errors import RunError, UsageError
    from nnc.runtime.rundir import RunDir

    overrides = {
        key: getattr(args, a) for key, a in TRAIN_OVERRIDES if getattr(args, a) is not None
    }
    if args.resume:
        if args.run_dir or args.overwrite:
            raise UsageError("nnc train --resume continues in the run's own folder: no --run-dir")
        run = resuming.open_resume(Path(args.resume))
        with run:  # the run's lock, held until training ends
            spec = resuming.resume_spec(run, args.spec, overrides)
            resume, where = resuming.resume_point(run, spec, args.from_checkpoint)
            return _train(args, spec, run, overrides, resume, where)
    if args.from_checkpoint:
        raise UsageError("--from-checkpoint goes with --resume RUN_DIR")
    if not args.spec:
        raise UsageError("nnc train: give a SPEC, or --resume RUN_DIR")
    spec = load_spec_file(args.spec, overrides)
    if spec.loss is None:
        raise RunError(f"{spec.filename}: the spec has no loss: nothing to train (try nnc predict)")
    if args.run_dir:
        run = RunDir.at(Path(args.run_dir), overwrite=args.overwrite)
    else:
        run = RunDir.new(Path(args.runs), spec.name)
    with run:
        return _train(args, spec, run, overrides, None)


def _confined(args, spec):
    """--untrusted: the spec's paths (data, init_from) must stay inside its folder."""
    from nnc.runtime.data.base import confined

    return confined(Path(spec.base_dir) if getattr(args, "untrusted", False) else None)


def _train(args, spec, run, overrides: dict, resume, where: str = "") -> int:
    """Trains `spec` in `run` (locked by the caller), from scratch or from `resume`. Everything
    that can fail before training (data, graphs, warm start) runs before the first write."""
    with _confined(args, spec):
        return _train_confined(args, spec, run, overrides, resume, where)


def _train_confined(args, spec, run, overrides: dict, resume, where: str) -> int:
    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_with_data
    from nnc.runtime.engines import make_engine
    from nnc.runtime.evaluation import confusion_report
    from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info
    from nnc.runtime.metrics import format_metrics
    from nnc.runtime.predict import learned_table
    from nnc.runtime.resume import check_resume_tensors, initial_values, run_fitted
    from nnc.runtime.rundir import MODEL
    from nnc.runtime.trainer import Trainer

    engine = make_engine(args.engine, args.device)
    print(f"engine: {engine.describe()}")
    fitted = None
    if resume is not None:
        fitted, changed = run_fitted(run, spec, args.accept_new_data, "resume")
    compiled, data = compile_with_data(spec, fitted=fitted)
    print(f"data: {data.description}")
    parallel = None
    if int(spec.train.get("workers", 1)) > 1:
        from nnc.runtime.distributed import DataParallel

        parallel = DataParallel(spec, int(spec.train["workers"]), args.address, data.fitted)
    trainer = Trainer(compiled, data, engine, run, parallel=parallel)
    if resume is None:
        graphs = compiled.graphs.models()
        models = {"model": compiled.export(data=data), **graphs}
        values = initial_values(compiled)
        run.begin()
        run.write_spec(spec, overrides)
        run.write_data(data.fitted, data.fingerprint, data.description)
        files = {**run.write_graphs(graphs), "model": MODEL, "initial": INITIAL}
        atomic_write_bytes(run.file(INITIAL), initial_values_bytes(compiled, values))
        manifest = compiled.manifest(
            models, files, engine=engine.describe(), preprocess=preprocess_info(data)
        )
        run.write_manifest(manifest)
    else:
        carried = {**compiled.graphs.initial_state(), **compiled.initial_values()}
        check_resume_tensors(resume, compiled, carried, len(data.train))
        if changed or fitted is None:  # from now on, the run's data is this data
            fitted = fitted or data.fitted
            run.write_data(fitted, data.fingerprint, data.description)
        print(where)
        values = resume.values
    print(f"run: {run.path}")
    result = trainer.fit(values, resume)
    if result.message:
        print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    if result.exit_code == EXIT_OK:
        if result.test:
            print("test: " + format_metrics(result.test))
            report = confusion_report(compiled, data, engine, result.values)
            if report:
                print(report)
        table = learned_table(compiled, data, engine, result.values)
        if table:
            print(table)
        print(f"model: {run.file(MODEL)}")
    return result.exit_code


def _trained_values(run, compiled) -> dict:
    """The run's final parameters, checked against its network (a damaged or crafted
    checkpoint is one line, never a traceback)."""
    from nnc.runtime.errors import RunError
    from nnc.runtime.nanguard import check_finite
    from nnc.runtime.resume import values_problem

    path = run.checkpoint_path("final")
    if not path.exists():
        raise RunError(f"{run.path}: no {path.name} (did its training finish?)")
    tensors, _ = run.load_checkpoint("final")
    expected = compiled.initial_values()
    values = {k: v for k, v in tensors.items() if k in expected}
    problem = values_problem(values, expected)
    if problem:
        raise RunError(f"{path}: does not fit the run's network: {problem}")
    check_finite(values, "an evaluation or an export")
    return values


def cmd_eval(args) -> int:
    from nnc.runtime.compiled import compile_with_data
    from nnc.runtime.engines import make_engine
    from nnc.runtime.evaluation import Evaluator
    from nnc.runtime.metrics import format_metrics
    from nnc.runtime.resume import run_fitted
    from nnc.runtime.rundir import RunDir

    run = RunDir.existing(Path(args.run))
    with run.reading():
        spec = run.load_spec()
        with _confined(args, spec):
            fitted, _ = run_fitted(run, spec, args.accept_new_data, "eval")
            compiled, data = compile_with_data(spec, fitted=fitted)
        values = _trained_values(run, compiled)
    evaluate = Evaluator(compiled, make_engine(args.engine, args.device))
    for part in ("train", "validation", "test"):
        split = getattr(data, part)
        if split is not None:
            res = evaluate(split, values)
            print(f"{part}: " + format_metrics(res))
    return EXIT_OK


def cmd_export(args) -> int:
    import onnx

    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_spec, compile_with_data
    from nnc.runtime.errors import RunError
    from nnc.runtime.outputs import check_output
    from nnc.runtime.rundir import RunDir

    out = check_output(Path(args.output))  # before the work, not after
    run = RunDir.existing(Path(args.run))
    with run.reading():
        spec = run.load_spec()
        record = run.load_data_record()
        if record is not None:  # the run's own preprocessing: the data is not read at all
            compiled, fitted = compile_spec(spec, recurrent=args.recurrent), record.fitted
        else:
            print("note: this run predates data.json: its preprocessing is refitted on the data")
            compiled, fitted = compile_with_data(spec, recurrent=args.recurrent)
        values = _trained_values(run, compiled)
    opset = _opset(args.opset)
    try:
        model = compiled.export(values, fitted, opset=opset)
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 - the converter fails in many ways, all "cannot"
        if opset is None:
            raise
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise RunError(f"--opset {opset}: the model cannot be converted to it ({why})") from None
    atomic_write_bytes(out, model.SerializeToString())
    print(f"wrote {out} (opset {model.opset_import[0].version}, IR {model.ir_version})")
    return EXIT_OK


def _opset(opset: int | None) -> int | None:
    """An --opset the exporter can convert to: from the first with every op nnc emits to the
    newest this onnx knows."""
    import onnx

    from nnc.runtime.errors import UsageError

    if opset is None:
        return None
    newest = onnx.defs.onnx_opset_version()
    if not MIN_EXPORT_OPSET <= opset <= newest:
        raise UsageError(
            f"--opset {opset}: nnc exports opsets {MIN_EXPORT_OPSET} to {newest} (this onnx)"
        )
    return opset


def cmd_web(args) -> int:
    from nnc.runtime.web import write_page

    out = Path(args.output)
    page = write_page(args.target, out, ort_dir=args.ort_dir, recurrent=args.recurrent)
    print(f"wrote {page}; serve the folder and open the page, e.g. python3 -m http.server -d {out}")
    return EXIT_OK


def cmd_gradcheck(args) -> int:
    from nnc.runtime.gradcheck import ATOL, gradcheck

    compiled = _compile(args.spec)
    if not compiled.trainable or not compiled.net.trainable():
        print(f"{args.spec}: no loss or no trainable parameters: nothing to check")
        return EXIT_OK
    print(
        f"float64 central differences with eps {args.eps:g} on {args.samples} random samples, at "
        "the spec's initial values and moved off them"
    )
    results = gradcheck(
        compiled.net, samples=args.samples, per_param=args.entries, seed=args.seed, eps=args.eps
    )
    print(f"{'at':8s} {'parameter':30s} {'entries':>7s} {'max abs err':>12s} {'rel err':>10s}")
    for r in results:
        flag = "" if r.ok(args.tol) else "  FAIL"
        corners = f"  ({r.corners} at a corner)" if r.corners else ""
        print(
            f"{r.point:8s} {r.name:30s} {r.checked:7d} {r.max_abs_error:12.3e} "
            f"{r.rel_error:10.3e}{flag}{corners}"
        )
    failed = [r for r in results if not r.ok(args.tol)]
    ok = not failed
    worst = max((r.rel_error for r in failed or results), default=0.0)
    print(
        f"{'ok' if ok else 'FAILED'}: {len(results) - len(failed)}/{len(results)} checks "
        f"within relative error {args.tol:g} (or absolute {ATOL:g}); "
        f"worst relative error {worst:.3e}; eps {args.eps:g}"
    )
    return EXIT_OK if ok else EXIT_CHECK


def cmd_bench(args) -> int:
    from nnc.runtime.bench import bench, format_result
    from nnc.runtime.engines import make_engine

    compiled = _compile(args.spec)
    engine = make_engine(args.engine, args.device)
    result = bench(compiled.net, engine, args.batch_size, args.repeats, args.warmup)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return EXIT_OK


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


def _failures():
    """The exit-code table: (exception classes, exit code, the lines to print), tried in order.

    A generator, so that each row's classes are imported only when an error gets that far: the
    first row needs no import at all (a Ctrl-C can cut an import in half, after which that module
    cannot be imported again), and `nnc --version` imports none of them."""
    yield (KeyboardInterrupt,), EXIT_INTERRUPTED, lambda e: [str(e) or "interrupted"]
    from nnc.compiler.spec.errors import SpecError

    def diagnostics(e):
        n = len(e.diagnostics)
        return [str(d) for d in e.diagnostics] + [f"{n} error{'s' if n != 1 else ''}"]

    yield (SpecError,), EXIT_INVALID, diagnostics
    from nnc.runtime.errors import RunError, UsageError

    yield (UsageError,), EXIT_USAGE, lambda e: [str(e)]
    from nnc.runtime.nanguard import NonFiniteValues

    yield (NonFiniteValues,), EXIT_CHECK, lambda e: [f"error: {e}"]
    from nnc.compiler.autodiff import GradientError
    from nnc.runtime.checkpoint import CheckpointError
    from nnc.runtime.data import DataError
    from nnc.runtime.engines import EngineError
    from nnc.runtime.interpreter.errors import UnsupportedOpError

    failed = (RunError, DataError, CheckpointError, EngineError, GradientError, UnsupportedOpError)
    yield (*failed, FileNotFoundError, ValueError), EXIT_INVALID, lambda e: [f"error: {e}"]
    # the file system said no (read-only, full, permissions) where no caller said it better
    yield (OSError,), EXIT_INVALID, lambda e: [f"error: {_os_error(e)}"]


def _os_error(e: OSError) -> str:
    what = f"{e.filename}: " if e.filename else ""
    return f"{what}{e.strerror or e}"


def exit_code(e: BaseException) -> int | None:
    """Prints what went wrong and -> its exit code; None for a failure nnc does not expect (a
    bug, to be shown with its traceback)."""
    for classes, code, lines in _failures():
        if isinstance(e, classes):
            for line in lines(e):
                _err(line)
            return code
    return None


def main(argv: list[str] | None = None) -> int:
    """Runs one command -> its exit code. argv None: the process's own command line, and the
    process ends with this command: once its exit code is decided, Ctrl-C is ignored, since the
    interpreter's shutdown would otherwise die of it (exit -2, no message) after a finished run."""
    try:
        code = _run(argv)
    except KeyboardInterrupt:  # landed between _run's own handler and here
        _err("interrupted")
        code = EXIT_INTERRUPTED
    if argv is None:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            sys.stdout.flush()  # here, not in the interpreter's shutdown, which would complain
        except BrokenPipeError:
            code = _closed_pipe()
    return code


def _closed_pipe() -> int:
    """stdout's reader went away (`nnc predict ... | head`): stop quietly, as Unix tools do.
    stdout is pointed at /dev/null so that no later flush fails again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # a stdout without a file descriptor (captured in tests)
        pass
    return EXIT_OK


def _run(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:
            return int(e.code or 0) and EXIT_USAGE
        if not getattr(args, "fn", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return args.fn(args)
    except BrokenPipeError:
        return _closed_pipe()
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - one clear line, never a traceback
        code = exit_code(e)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
