"""Where a run's parameters start: a resumed run from its newest checkpoint (the spec must be the
one it was trained with, but for train.epochs), a new run from the spec's initial values, warm
started from another run's checkpoint when train.init_from says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnc.compiler.spec.model import Spec, thaw
from nnc.runtime.checkpoint import load_checkpoint
from nnc.runtime.compiled import Compiled, apply_overrides, load_spec_file
from nnc.runtime.errors import RunError, UsageError
from nnc.runtime.rundir import RunDir
from nnc.runtime.trainer import Resume


def open_resume(path: Path) -> RunDir:
    """The run directory `--resume` names, if it has a checkpoint to resume from."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"--resume {path}: no such run directory")
    run = RunDir(path)
    if run.latest_checkpoint() is None:
        raise RunError(f"--resume {path}: no checkpoint to resume from in {path / 'checkpoints'}")
    return run


def resume_spec(run: RunDir, spec_path: str | None, overrides: dict) -> Spec:
    """The spec to resume with: the one given, or the run's own, with the overrides."""
    if spec_path:
        return load_spec_file(spec_path, overrides)
    spec = run.load_spec()
    return apply_overrides(spec, overrides) if overrides else spec


def resume_point(run: RunDir, spec: Spec) -> tuple[Resume, str]:
    """The run's newest checkpoint, checked against `spec`; -> (resume, a line saying where)."""
    ckpt = run.latest_checkpoint()
    if ckpt is None:  # gone since open_resume looked
        raise RunError(f"--resume {run.path}: no checkpoint to resume from")
    tensors, meta = load_checkpoint(ckpt)
    changes = spec_changes(_without_epochs(meta["spec"]), _without_epochs(thaw(spec.document)))
    if changes:
        raise RunError(
            f"--resume {run.path}: the spec differs from the one this run was trained with "
            "(only train.epochs may change):\n  " + "\n  ".join(changes)
        )
    where = f"resuming {run.path} from {ckpt.name} at epoch {meta['epoch']}, step {meta['step']}"
    return Resume(tensors, meta), where


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
