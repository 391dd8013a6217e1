"""The nnc commands, one function each: `nnc X` calls `cmd_X(args)` with the parsed arguments and
gets its exit code back. Failures are raised, not printed; runtime/cli.py turns them into one line
and an exit code. Each command imports what it needs when it runs, so that the quick ones
(validate, summary, --version) never load onnx or onnxruntime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nnc.runtime.errors import EXIT_CHECK, EXIT_OK

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
    from nnc.runtime.learned import learned_table
    from nnc.runtime.manifest import INITIAL, initial_values_bytes, preprocess_info
    from nnc.runtime.metrics import format_metrics
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
