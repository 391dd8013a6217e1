"""Where a run's parameters start: a resumed run from its newest checkpoint (the spec must be the
one it was trained with, but for train.epochs), a new run from the spec's initial values, warm
started from another run's checkpoint when train.init_from says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnc.compiler.spec.model import Spec, thaw
from nnc.runtime.checkpoint import CheckpointError, load_checkpoint
from nnc.runtime.compiled import Compiled, apply_overrides, load_spec_file
from nnc.runtime.data.base import confine
from nnc.runtime.errors import RunError, UsageError
from nnc.runtime.loop import PERM, loop_meta_problem
from nnc.runtime.nanguard import describe, nonfinite
from nnc.runtime.rundir import RunDir
from nnc.runtime.trainer import Resume


def open_resume(path: Path) -> RunDir:
    """The run directory `--resume` names, if it has a checkpoint to resume from."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"--resume {path}: no such run directory")
    run = RunDir(path)
    if not run.resume_candidates():
        raise RunError(f"--resume {path}: no checkpoint to resume from in {path / 'checkpoints'}")
    return run


def resume_spec(run: RunDir, spec_path: str | None, overrides: dict) -> Spec:
    """The spec to resume with: the one given, or the run's own, with the overrides."""
    if spec_path:
        return load_spec_file(spec_path, overrides)
    spec = run.load_spec()
    return apply_overrides(spec, overrides) if overrides else spec


def resume_point(run: RunDir, spec: Spec, choice: str | None = None) -> tuple[Resume, str]:
    """The checkpoint to continue from, checked against `spec`; -> (resume, a line saying
    where). By default the one further along of interrupted and last; when one of them cannot be
    used (corrupt, damaged, non-finite) and the other can, the run stops and names the usable
    one, to be chosen with --from-checkpoint: continuing from an earlier point than the user
    expects is their call."""
    kinds = run.resume_candidates()
    if not kinds:  # gone since open_resume looked
        raise RunError(f"--resume {run.path}: no checkpoint to resume from")
    if choice is not None and choice not in kinds:
        raise RunError(f"--from-checkpoint {choice}: {run.path} has no {choice}.ckpt")
    good: dict[str, Resume] = {}
    bad: dict[str, str] = {}
    for kind in [choice] if choice else kinds:
        path = run.checkpoint_path(kind)
        try:
            tensors, meta = load_checkpoint(path)
        except CheckpointError as e:
            bad[kind] = str(e)
            continue
        problem = checkpoint_problem(tensors, meta)
        if problem:
            bad[kind] = f"{path}: {problem}"
        else:
            good[kind] = Resume(tensors, meta)
    if bad:
        if not good:
            why = "; ".join(bad.values())
            raise RunError(f"--resume {run.path}: no good checkpoint to resume from: {why}")
        (kind, resume), *_ = good.items()
        where = f"epoch {resume.meta['epoch']}, step {resume.meta['step']}"
        raise RunError(
            f"--resume {run.path}: {'; '.join(bad.values())}; {kind}.ckpt ({where}) is good: "
            f"resume from it with --from-checkpoint {kind}"
        )
    kind, resume = max(good.items(), key=lambda kv: kv[1].meta["step"])
    meta = resume.meta
    changes = spec_changes(_without_epochs(meta["spec"]), _without_epochs(thaw(spec.document)))
    if changes:
        raise RunError(
            f"--resume {run.path}: the spec differs from the one this run was trained with "
            "(only train.epochs may change): " + "; ".join(changes)
        )
    path = run.checkpoint_path(kind)
    where = f"resuming {run.path} from {path.name} at epoch {meta['epoch']}, step {meta['step']}"
    return resume, where


def checkpoint_problem(tensors: dict[str, np.ndarray], meta: dict) -> str | None:
    """What makes a loaded checkpoint unusable to resume from (its meta malformed, its values
    not finite); None when it is fine. Shapes are checked against the network later."""
    problem = loop_meta_problem(meta)
    if problem:
        return problem
    bad = nonfinite(tensors)
    if bad:
        return f"holds non-finite values ({describe(tensors, bad)}): not a good checkpoint"
    return None


def check_resume_tensors(resume: Resume, compiled: Compiled, carried: dict, n_train: int) -> None:
    """The checkpoint's tensors against the network: every carried tensor (parameters and
    optimizer state) present with its shape and dtype, nothing unknown, and the epoch's sample
    order a permutation of the training set."""
    where = f"checkpoint (epoch {resume.meta['epoch']}, step {resume.meta['step']})"
    problem = values_problem(resume.values, carried)
    if problem:
        raise RunError(f"--resume: the {where} does not fit this network: {problem}")
    perm = resume.tensors.get(PERM)
    if perm is not None:
        p = np.asarray(perm)
        if (
            p.ndim != 1
            or p.dtype.kind not in "iu"
            or len(p) != n_train
            or not np.array_equal(np.sort(p), np.arange(n_train))
        ):
            raise RunError(
                f"--resume: the {where} holds a sample order that is not a permutation of the "
                f"{n_train} training samples (did the data change?)"
            )
    batches = -(-n_train // compiled.batch_size)
    if resume.meta["batch"] > batches:
        raise RunError(
            f"--resume: the {where} is at batch {resume.meta['batch']} of an epoch of {batches}"
        )


def values_problem(values: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> str | None:
    """How `values` (from a checkpoint) differ from `expected` (name -> an array of the right
    shape and dtype): a missing or unknown tensor, a shape or a dtype; None when they fit."""
    missing = [k for k in expected if k not in values]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"no tensor {missing[0]!r}{more}"
    unknown = [k for k in values if k not in expected]
    if unknown:
        return f"a tensor {unknown[0][:60]!r} this network does not have"
    for k, want in expected.items():
        got = np.asarray(values[k])
        if got.shape != np.shape(want):
            return f"{k} has shape {list(got.shape)}, not {list(np.shape(want))}"
        if got.dtype != np.asarray(want).dtype:
            return f"{k} has dtype {got.dtype}, not {np.asarray(want).dtype}"
    return None


def run_fitted(run: RunDir, spec: Spec, accept_new_data: bool, command: str):
    """The run's fitted preprocessing (None for a run from before nnc kept it), after checking
    that the data is the data it was trained on; -> (fitted, whether the data changed)."""
    from nnc.runtime.data import data_fingerprint, fingerprint_changes

    record = run.load_data_record()
    if record is None:
        print(f"note: {run.path} predates data.json: its preprocessing is refitted on the data")
        return None, False
    changes: list[str] = []
    if record.fingerprint is not None and spec.data is not None:
        now = data_fingerprint(thaw(spec.data), Path(spec.base_dir))
        changes = fingerprint_changes(record.fingerprint, now)
    if changes and not accept_new_data:
        raise RunError(
            f"{command} {run.path}: the data differs from the data this run was trained on: "
            + "; ".join(changes[:3])
            + (f" (and {len(changes) - 3} more)" if len(changes) > 3 else "")
            + "; pass --accept-new-data to go on with it (the run's preprocessing is kept)"
        )
    if changes:
        print(f"note: the data changed since the run started ({changes[0]}); going on with it")
    return record.fitted, bool(changes)


def _without_epochs(doc: dict) -> dict:
    doc = dict(doc)
    if isinstance(doc.get("train"), dict):
        doc["train"] = {k: v for k, v in doc["train"].items() if k != "epochs"}
    return doc


def spec_changes(old, new, path: str = "") -> list[str]:
    """What differs between two spec documents, one line per changed, added or removed key."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if path else str(k)
            if k not in old:
                out.append(f"{sub}: added ({new[k]!r})")
            elif k not in new:
                out.append(f"{sub}: removed (was {old[k]!r})")
            else:
                out.extend(spec_changes(old[k], new[k], sub))
        return out
    return [] if old == new else [f"{path}: {old!r} -> {new!r}"]


def initial_values(compiled: Compiled, log=print) -> dict[str, np.ndarray]:
    """A new run's parameters (warm started per train.init_from) and zero optimizer state."""
    values = compiled.initial_values()
    init_from = compiled.spec.train.get("init_from")
    if init_from:
        values = warm_start(init_from, compiled, values, log)
    if compiled.graphs is not None:
        values.update(compiled.graphs.initial_state())
    return values


def warm_start(cfg: dict, compiled: Compiled, values: dict, log=print) -> dict[str, np.ndarray]:
    """Copies parameters from another run's checkpoint (train.init_from): the named layers', or
    every parameter whose name and shape match."""
    base_dir = Path(compiled.spec.base_dir)
    src = Path(cfg["run"])
    if not src.is_absolute():
        src = (base_dir / src) if (base_dir / src).exists() else src
    confine(src, "train.init_from.run")
    if src.is_dir():
        for name in ("final", "last", "interrupted"):
            if (src / "checkpoints" / f"{name}.ckpt").exists():
                src = src / "checkpoints" / f"{name}.ckpt"
                break
        else:
            raise FileNotFoundError(f"train.init_from.run: no checkpoint in {src}")
    tensors, _ = load_checkpoint(src)
    params = compiled.net.params
    layers = cfg.get("layers") or sorted({p.name.rsplit(".", 1)[0] for p in params})
    copied, reshaped = [], []
    for p in params:
        if p.name.rsplit(".", 1)[0] not in layers:
            continue
        if p.name not in tensors:
            if cfg.get("layers"):
                raise ValueError(f"train.init_from: {src} has no parameter {p.name!r}")
            continue
        if tuple(tensors[p.name].shape) != tuple(p.shape):
            if cfg.get("layers"):
                raise ValueError(
                    f"train.init_from: {p.name} has shape {list(tensors[p.name].shape)} in {src} "
                    f"but {list(p.shape)} here"
                )
            reshaped.append(f"{p.name} ({list(tensors[p.name].shape)} there, {list(p.shape)} here)")
            continue
        values[p.name] = tensors[p.name].astype(values[p.name].dtype)
        copied.append(p.name)
    log(f"init_from: copied {len(copied)} tensors from {src}: {', '.join(copied)}")
    if reshaped:
        tensors_ = "tensors" if len(reshaped) > 1 else "tensor"
        log(
            f"init_from: skipped {len(reshaped)} same-name {tensors_} whose shape differs, "
            f"which keep their initial values: {', '.join(reshaped)}"
        )
    return values
