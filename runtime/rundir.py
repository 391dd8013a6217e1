"""A run directory: its layout, every write into it (each atomic), and its lock.

    runs/<name>-<k>/
      .lock                 locked (flock) by the process training in it, for the whole run
      spec.yaml             the spec as trained, command-line overrides applied
      run.json              where the spec came from, the folder its relative data paths resolve
                            against, and the overrides
      manifest.json         how to drive the graphs (nnc.runtime.manifest)
      graphs/               gradient.onnx, train_step.onnx, eval.onnx
      metrics.csv           one row per epoch (and per validate_every steps: kind mid)
      iterations.csv        every train step's loss and metrics (nnc.runtime.steplog)
      checkpoints/          last, best, final and interrupted .ckpt (nnc.runtime.checkpoint)
      curves.png            the training-progress plot (nnc.runtime.plot)
      summary.json          how the run ended
      model.onnx            the trained model, preprocessing baked in

Every file is replaced atomically (written to a temporary file, fsynced, renamed), so a reader, or
a run cut short, sees the old file or the new one, never a mix. metrics.csv grows by whole
lines; a resumed run rewrites it from the history its checkpoint holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nnc.runtime.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from nnc.runtime.errors import RunInUse, UsageError

LOCK = ".lock"
SPEC = "spec.yaml"
RUN_INFO = "run.json"
MANIFEST = "manifest.json"
GRAPHS = "graphs"
METRICS = "metrics.csv"
ITERATIONS = "iterations.csv"
CURVES = "curves.png"
CHECKPOINTS = "checkpoints"
SUMMARY = "summary.json"
MODEL = "model.onnx"
CHECKPOINT_KINDS = ("last", "best", "final", "interrupted")


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- creating and opening ----------------------------------------------------------------------
    @classmethod
    def new(cls, root: Path, name: str) -> RunDir:
        """root/<name>-<k> with the first k not taken: a rerun never overwrites an earlier run."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        k = 1
        while True:
            candidate = root / f"{name}-{k}"
            try:
                candidate.mkdir()
                return cls(candidate)
            except FileExistsError:
                k += 1

    @classmethod
    def at(cls, path: Path, *, overwrite: bool = False) -> RunDir:
        """A run directory the user named: new or empty, or any folder with overwrite."""
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise UsageError(
                f"--run-dir {path} exists and is not empty; pass --overwrite to reuse it"
            )
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def existing(cls, path: Path) -> RunDir:
        """An earlier run, to resume, evaluate or export."""
        path = Path(path)
        if not (path / SPEC).exists():
            raise FileNotFoundError(f"{path} is not an nnc run directory (no {SPEC})")
        return cls(path)

    # -- the lock ----------------------------------------------------------------------------------
    def lock(self) -> RunDir:
        """Takes the run's exclusive lock, held until unlock() or the process ends; another
        process (or another lock() here) gets RunInUse."""
        import fcntl

        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise RunInUse(
                f"{self.path} is in use by another nnc process{by}; wait for it to finish, "
                "or train into another run directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the file releases the flock
            self._lock_fd = None

    def __enter__(self) -> RunDir:
        return self.lock()

    def __exit__(self, *exc) -> None:
        self.unlock()

    # -- paths -------------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    def checkpoint_path(self, kind: str) -> Path:
        if kind not in CHECKPOINT_KINDS:
            raise ValueError(f"unknown checkpoint kind {kind!r}; known: {CHECKPOINT_KINDS}")
        return self.path / CHECKPOINTS / f"{kind}.ckpt"

    # -- writes ------------------------------------------------------------------------------------
    def write_spec(self, spec, overrides: dict) -> None:
        """spec.yaml (the file as given, or with the overrides applied) and run.json."""
        import yaml

        from nnc.compiler.spec.model import thaw

        src = Path(spec.filename)
        if overrides or not src.exists():
            given = ", ".join(f"{k}={v}" for k, v in overrides.items())
            text = (
                f"# the spec of this run, with the command line's {given or 'settings'} applied\n"
            )
            text += yaml.safe_dump(thaw(spec.document), sort_keys=False)
            data = text.encode()
        else:
            data = src.read_bytes()
        atomic_write_bytes(self.path / SPEC, data)
        info = {
            "spec_source": str(src.resolve()) if src.exists() else None,
            "base_dir": str(Path(spec.base_dir).resolve()),
            "overrides": overrides,
        }
        self._write_json(RUN_INFO, info)

    def write_graphs(self, models: dict) -> dict[str, str]:
        """graphs/<kind>.onnx for each model; -> kind: path relative to the run directory."""
        (self.path / GRAPHS).mkdir(parents=True, exist_ok=True)
        files = {}
        for kind, model in models.items():
            files[kind] = f"{GRAPHS}/{kind}.onnx"
            atomic_write_bytes(self.path / files[kind], model.SerializeToString())
        return files

    def write_manifest(self, manifest: dict) -> None:
        self._write_json(MANIFEST, manifest)

    def save_checkpoint(self, kind: str, tensors: dict[str, np.ndarray], meta: dict) -> Path:
        path = self.checkpoint_path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, tensors, meta)
        return path

    def metrics_log(self, columns: list[str], history: list[dict]):
        """metrics.csv started afresh with the rows so far (none, or a resumed run's history)."""
        from nnc.runtime.metrics import MetricsLog

        return MetricsLog(self.path / METRICS, columns, rows=history)

    def iteration_log(self, names: list[str], resume_step: int | None):
        """iterations.csv, started afresh, or kept up to `resume_step` for a resumed run."""
        from nnc.runtime.steplog import IterationLog

        return IterationLog(self.path / ITERATIONS, names, resume_step=resume_step)

    def write_curves(self, rows: list[dict]) -> None:
        """curves.png from the metrics rows and iterations.csv, titled with the run's name."""
        from nnc.runtime.plot import plot_curves
        from nnc.runtime.steplog import read_iterations

        iterations = read_iterations(self.path / ITERATIONS)
        plot_curves(rows, self.path / CURVES, iterations, title=self.path.resolve().name)

    def write_summary(self, summary: dict) -> None:
        self._write_json(SUMMARY, summary)

    def write_model(self, model) -> Path:
        atomic_write_bytes(self.path / MODEL, model.SerializeToString())
        return self.path / MODEL

    def _write_json(self, name: str, doc: dict) -> None:
        atomic_write_bytes(self.path / name, (json.dumps(doc, indent=2) + "\n").encode())

    # -- reads -------------------------------------------------------------------------------------
    def load_spec(self):
        """The spec this run was trained with, its relative data paths resolved as when it
        started (the spec file was copied here, the data was not)."""
        from nnc.compiler.spec.model import load_spec, spec_from_document, thaw

        spec = load_spec(self.path / SPEC)
        info = self.path / RUN_INFO
        if info.exists():
            base = json.loads(info.read_text()).get("base_dir")
            if base:
                spec = spec_from_document(thaw(spec.document), spec.source, spec.filename, base)
        return spec

    def load_checkpoint(self, kind: str) -> tuple[dict[str, np.ndarray], dict]:
        return load_checkpoint(self.checkpoint_path(kind))

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint a resume continues from: interrupted or last, whichever is further."""
        best, best_step = None, -1
        for kind in ("interrupted", "last"):
            path = self.checkpoint_path(kind)
            if path.exists():
                _, meta = load_checkpoint(path)
                if meta.get("step", -1) > best_step:
                    best, best_step = path, meta["step"]
        return best
