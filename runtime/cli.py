"""The nnc command line: parses, calls the runtime, and turns every failure into one line and an
exit code through one table (`_failures`): 0 ok, 1 invalid spec/data or failed run, 2 usage
error, 3 stopped by the NaN guard or a failed gradient check, 130 interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHECK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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


def cmd_compile(args) -> int:
    import onnx

    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_with_data, load_spec_file
    from nnc.runtime.errors import RunError
    from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info, write_data

    out = Path(args.output)
    data = None
    if args.with_data:
        compiled, data = compile_with_data(load_spec_file(args.spec), recurrent=args.recurrent)
    else:
        compiled = _compile(args.spec, args.recurrent)
    out.mkdir(parents=True, exist_ok=True)
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


def _predict_model(target: str):
    """A run directory, an .onnx file, or a spec (compiled with its initial/hand-set values)."""
    import onnx

    p = Path(target)
    if p.is_dir():
        m = p / "model.onnx"
        if not m.exists():
            raise FileNotFoundError(f"{p} has no model.onnx (did its training finish?)")
        return onnx.load(str(m))
    if p.suffix == ".onnx":
        return onnx.load(str(p))
    return _compile(target).export()


def cmd_predict(args) -> int:
    import numpy as np

    from nnc.runtime.data import read_features
    from nnc.runtime.engines import make_engine

    model = _predict_model(args.target)
    x_info = model.graph.input[0]
    shape = tuple(d.dim_value for d in x_info.type.tensor_type.shape.dim[1:])
    x = read_features(Path(args.input), input_shape=shape)
    engine = make_engine(args.engine, args.device)
    outputs = [o.name for o in model.graph.output]
    dtype = np.float64 if x_info.type.tensor_type.elem_type == 11 else np.float32
    res = dict(zip(outputs, engine.session(model)(outputs, {x_info.name: x.astype(dtype)})))
    if args.output:
        out = Path(args.output)
        if out.suffix == ".npz":
            np.savez(out, **{k.replace("/", "_"): v for k, v in res.items()})
        elif out.suffix == ".npy":
            np.save(out, res[outputs[0]])
        else:
            np.savetxt(out, res[outputs[0]].reshape(len(x), -1), delimiter=",", fmt="%.8g")
        print(f"wrote predictions for {len(x)} samples to {out}")
        return EXIT_OK
    y = res[outputs[0]].reshape(len(x), -1)
    labels = res.get("label")
    for i in range(len(x)):
        row = " ".join(f"{v:.6g}" for v in y[i])
        print(row + (f"  label={labels[i].tolist()}" if labels is not None else ""))
    return EXIT_OK


TRAIN_OVERRIDES = (
    ("train.epochs", "epochs"),
    ("train.batch_size", "batch_size"),
    ("train.seed", "seed"),
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
        run = resuming.open_resume(Path(args.resume))
        with run:  # the run's lock, held until training ends
            spec = resuming.resume_spec(run, args.spec, overrides)
            resume, where = resuming.resume_point(run, spec)
            print(where)
            return _train(args, spec, run, overrides, resume)
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


def _train(args, spec, run, overrides: dict, resume) -> int:
    """Trains `spec` in `run` (locked by the caller), from scratch or from `resume`."""
    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_with_data
    from nnc.runtime.engines import make_engine
    from nnc.runtime.evaluation import confusion_report
    from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info
    from nnc.runtime.resume import initial_values
    from nnc.runtime.rundir import MODEL
    from nnc.runtime.trainer import Trainer

    engine = make_engine(args.engine, args.device)
    print(f"engine: {engine.describe()}")
    compiled, data = compile_with_data(spec)
    print(f"data: {data.description}")
    trainer = Trainer(compiled, data, engine, run)
    if resume is None:
        run.write_spec(spec, overrides)
        graphs = compiled.graphs.models()
        values = initial_values(compiled)
        files = {**run.write_graphs(graphs), "model": MODEL, "initial": INITIAL}
        atomic_write_bytes(run.file(INITIAL), initial_values_bytes(compiled, values))
        models = {"model": compiled.export(data=data), **graphs}
        manifest = compiled.manifest(
            models, files, engine=engine.describe(), preprocess=preprocess_info(data)
        )
        run.write_manifest(manifest)
    else:
        values = resume.values
    print(f"run: {run.path}")
    result = trainer.fit(values, resume)
    if result.message:
        print(result.message, file=sys.stderr if result.exit_code else sys.stdout)
    if result.exit_code == EXIT_OK:
        if result.test:
            print("test: " + "  ".join(f"{k} {v:.4f}" for k, v in result.test.items()))
            report = confusion_report(compiled, data, engine, result.values)
            if report:
                print(report)
        print(f"model: {run.file(MODEL)}")
    return result.exit_code


def cmd_eval(args) -> int:
    from nnc.runtime.compiled import compile_with_data
    from nnc.runtime.engines import make_engine
    from nnc.runtime.evaluation import Evaluator
    from nnc.runtime.rundir import RunDir

    run = RunDir.existing(Path(args.run))
    compiled, data = compile_with_data(run.load_spec())
    values, _ = run.load_checkpoint("final")
    evaluate = Evaluator(compiled, make_engine(args.engine, args.device))
    for part in ("train", "validation", "test"):
        split = getattr(data, part)
        if split is not None:
            res = evaluate(split, values)
            print(f"{part}: " + "  ".join(f"{k} {v:.4f}" for k, v in res.items()))
    return EXIT_OK


def cmd_export(args) -> int:
    import onnx

    from nnc.runtime.checkpoint import atomic_write_bytes
    from nnc.runtime.compiled import compile_with_data
    from nnc.runtime.rundir import RunDir

    run = RunDir.existing(Path(args.run))
    compiled, data = compile_with_data(run.load_spec(), recurrent=args.recurrent)
    values, _ = run.load_checkpoint("final")
    model = compiled.export(values, data, opset=args.opset)
    onnx.checker.check_model(model, full_check=True)
    atomic_write_bytes(Path(args.output), model.SerializeToString())
    print(f"wrote {args.output} (opset {model.opset_import[0].version}, IR {model.ir_version})")
    return EXIT_OK


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
    results = gradcheck(compiled.net, samples=args.samples, per_param=args.entries, seed=args.seed)
    print(f"{'parameter':30s} {'entries':>7s} {'max abs err':>12s} {'rel err':>10s}")
    for r in results:
        flag = "" if r.ok(args.tol) else "  FAIL"
        print(f"{r.name:30s} {r.checked:7d} {r.max_abs_error:12.3e} {r.rel_error:10.3e}{flag}")
    failed = [r for r in results if not r.ok(args.tol)]
    ok = not failed
    worst = max((r.rel_error for r in failed or results), default=0.0)
    print(
        f"{'ok' if ok else 'FAILED'}: {len(results) - len(failed)}/{len(results)} parameters "
        f"within relative error {args.tol:g} (or absolute {ATOL:g}); "
        f"worst relative error {worst:.3e}"
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


def build_parser() -> argparse.ArgumentParser:
    from nnc.compiler import __version__

    p = argparse.ArgumentParser(
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
        sp.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

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
    s.add_argument("--input", required=True)
    s.add_argument("-o", "--output", help="write predictions to .npy, .npz or .csv")
    engine_opts(s)
    s.set_defaults(fn=cmd_predict)
    s = sub.add_parser("train", help="train a spec; writes a run directory")
    s.add_argument("spec", nargs="?")
    s.add_argument("--resume", metavar="RUN_DIR")
    s.add_argument("--run-dir", help="where to write the run (default: runs/<name>-<k>)")
    s.add_argument("--runs", default="runs", help="parent folder of new run directories")
    s.add_argument(
        "--overwrite", action="store_true", help="allow --run-dir to be a non-empty folder"
    )
    s.add_argument("--epochs", type=int)
    s.add_argument("--batch-size", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--seed", type=int)
    engine_opts(s)
    s.set_defaults(fn=cmd_train)
    s = sub.add_parser("eval", help="loss and metrics of a trained run on its data splits")
    s.add_argument("run")
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
    s.add_argument("--batch-size", type=int, help="default: the spec's train.batch_size")
    s.add_argument("--repeats", type=int, default=7, help="timed blocks (the median is reported)")
    s.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    engine_opts(s)
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("gradcheck", help="check the gradient graph against finite differences")
    s.add_argument("spec")
    s.add_argument("--samples", type=int, default=4)
    s.add_argument("--entries", type=int, default=12, help="entries checked per parameter")
    s.add_argument("--tol", type=float, default=1e-5)
    s.add_argument("--seed", type=int, default=0)
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
    from nnc.compiler.autodiff import GradientError
    from nnc.runtime.checkpoint import CheckpointError
    from nnc.runtime.data import DataError
    from nnc.runtime.engines import EngineError
    from nnc.runtime.interpreter.errors import UnsupportedOpError

    failed = (RunError, DataError, CheckpointError, EngineError, GradientError, UnsupportedOpError)
    yield (*failed, FileNotFoundError, ValueError), EXIT_INVALID, lambda e: [f"error: {e}"]


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
    return code


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
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - one clear line, never a traceback
        code = exit_code(e)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
