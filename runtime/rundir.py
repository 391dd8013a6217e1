"""A run directory: its layout, every write into it (each atomic), and its lock.

    runs/<name>-<k>/
      .lock                 locked (flock): exclusively by the process training in it, for the
                            whole run; shared by eval and export while they read it
      spec.yaml             the spec as trained, command-line overrides applied
      run.json              where the spec came from, the folder its relative data paths resolve
                            against, and the overrides
      data.json             the fitted preprocessing, class names and the data's fingerprint
      manifest.json         how to drive the graphs (nnc.runtime.manifest)
      initial.bin           the parameters at step 0, as the manifest lays them out
      graphs/               gradient.onnx, update.onnx, train_step.onnx, eval.onnx
      metrics.csv           one row per epoch (and per validate_every steps: kind mid)
      iterations.csv        every train step's loss and metrics (nnc.runtime.steplog)
      checkpoints/          last, best, final and interrupted .ckpt (nnc.runtime.checkpoint)
      curves.png            the training-progress plot (nnc.runtime.plot)
      summary.json          how the run ended
      model.onnx            the trained model, preprocessing baked in

One class owns this layout and every write into it, which is why this file runs past ~400 lines:
splitting RunDir would scatter the atomic-write and lock discipline that it exists to keep in one
place.

Every file is replaced atomically (written to a temporary file, fsynced, renamed), so a reader, or
a run cut short, sees the old file or the new one, never a mix; the temporary files of a process
killed mid-write are removed by the next one to take the lock. metrics.csv grows by whole lines;
a resumed run rewrites it from the history its checkpoint holds. A start that fails before its
first write leaves nothing behind; --overwrite clears the earlier run's files at that point.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnc.runtime.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from nnc.runtime.errors import RunError, RunInUse, UsageError

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
DATA = "data.json"
INITIAL = "initial.bin"  # nnc.runtime.manifest.INITIAL
CHECKPOINT_KINDS = ("last", "best", "final", "interrupted")
RESUMABLE = ("interrupted", "last")  # the kinds a resume can continue from
DATA_FORMAT, DATA_VERSION = "nnc-run-data", 1


# what a run writes: cleared by an overwrite, and never replaced by an output path (-o, see
# nnc.runtime.outputs)
RUN_FILES = (
    SPEC,
    RUN_INFO,
    DATA,
    MANIFEST,
    INITIAL,
    GRAPHS,
    METRICS,
    ITERATIONS,
    CURVES,
    CHECKPOINTS,
    SUMMARY,
    MODEL,
)
# atomic_write_bytes' temporary files: .<name>.<pid>.<8 hex digits>.tmp
_TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")


def _entries(path: Path) -> set[str]:
    return {p.name for p in Path(path).iterdir()}


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _make_dirs(path: Path, what: str) -> list[Path]:
    """mkdir -p `path` -> the folders it created, outermost first."""
    missing = []
    p = Path(path)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    missing.reverse()
    created = []
    for p in missing:
        try:
            p.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            _remove_created(created)
            raise RunError(f"cannot create {what} {path}: {_why(e)}") from None
        created.append(p)
    return created


def _remove_created(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.rmdir()  # only if empty: never removes what someone else put there
        except OSError:
            pass


def json_bytes(doc) -> bytes:
    """Strict JSON (RFC 8259): a NaN or an infinity, which JSON cannot hold, is written as null."""
    return (json.dumps(_finite_or_null(doc), indent=2, allow_nan=False) + "\n").encode()


def _finite_or_null(obj):
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


class RunDir:
    """One run directory. A run started here (`new`, `at`) creates what it needs as it goes:
    until `begin()` (just before its first write) nothing of an earlier run is touched, and a
    start that fails before it removes what it created (folders, the lock file). `at` with
    overwrite clears the earlier run's own files at `begin()`, never a mix of two runs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._shared = False
        self._created: list[Path] = []  # folders this start created, outermost first
        self._created_lock = False
        self._clear = False  # overwrite: clear the earlier run's files at begin()
        self._must_be_empty = False  # at() without overwrite: checked again once locked
        self.begun = True  # False for a run being started, until begin()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- creating and opening ----------------------------------------------------------------------
    @classmethod
    def new(cls, root: Path, name: str) -> RunDir:
        """root/<name>-<k> with the first k not taken: a rerun never overwrites an earlier run."""
        root = Path(root)
        created = _make_dirs(root, "the runs folder")
        k = 1
        while True:
            candidate = root / f"{name}-{k}"
            try:
                candidate.mkdir()
            except FileExistsError:
                k += 1
                continue
            except OSError as e:
                _remove_created(created)
                raise RunError(f"cannot create the run directory {candidate}: {_why(e)}") from None
            run = cls(candidate)
            run._created, run.begun = [*created, candidate], False
            return run

    @classmethod
    def at(cls, path: Path, *, overwrite: bool = False) -> RunDir:
        """A run directory the user named: new or empty, or an earlier run with overwrite (its
        files are cleared at begin(); files that are not a run's are left alone)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UsageError(f"--run-dir {path} exists and is not a directory")
        if path.exists() and _entries(path) and not overwrite:
            raise UsageError(
                f"--run-dir {path} exists and is not empty; pass --overwrite to reuse it"
            )
        created = _make_dirs(path, "the run directory")
        run = cls(path)
        run._created, run.begun = created, False
        run._clear, run._must_be_empty = overwrite, not overwrite
        return run

    @classmethod
    def existing(cls, path: Path) -> RunDir:
        """An earlier run, to resume, evaluate or export."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such run directory")
        if not (path / SPEC).exists():
            raise FileNotFoundError(f"{path} is not an nnc run directory (no {SPEC})")
        return cls(path)

    def begin(self) -> None:
        """Called before a started run's first write: from here on the run's files are its own
        (an overwritten run's files are cleared now)."""
        if self.begun:
            return
        if self._clear:
            for name in RUN_FILES:
                target = self.path / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
        self.begun = True

    # -- the lock ----------------------------------------------------------------------------------
    def lock(self, shared: bool = False) -> RunDir:
        """Takes the run's lock, held until unlock() or the process ends: exclusive to write
        (train), shared to read (eval, export). A conflicting holder in another process (or
        another lock() here) gets RunInUse. Once exclusive, temporary files that a killed
        writer left behind are removed: nobody else can be writing here."""
        import fcntl

        fd = self._open_lock(shared)
        if fd is None:  # a read-only run that has no lock file: nobody can be writing to it
            return self
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise RunInUse(
                f"{self.path} is in use by another nnc process{by}; wait for it to finish"
                + ("" if shared else ", or train into another run directory")
            ) from None
        self._lock_fd, self._shared = fd, shared
        if shared:
            return self
        if self._must_be_empty and _entries(self.path) - {LOCK}:
            self.unlock()
            raise RunInUse(f"{self.path} was filled by another nnc run meanwhile; not reusing it")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.remove_stale_temp_files()
        return self

    def _open_lock(self, shared: bool) -> int | None:
        path = self.path / LOCK
        existed = path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            if not shared:
                raise RunError(f"cannot lock {self.path}: {_why(e)}") from None
            try:
                return os.open(path, os.O_RDONLY)
            except OSError:
                return None
        if not existed:
            self._created_lock = True
        return fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            if not self._shared:
                try:  # no stale pid for the next process that finds it held (by a reader)
                    os.ftruncate(fd, 0)
                except OSError:
                    pass
            os.close(fd)  # closing the file releases the flock

    def __enter__(self) -> RunDir:
        return self.lock()

    @contextmanager
    def reading(self) -> Iterator[RunDir]:
        """The shared lock, for reading a run (eval, export): no run trains here meanwhile."""
        self.lock(shared=True)
        try:
            yield self
        finally:
            self.unlock()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not self.begun:
            self._undo_start()
        self.unlock()

    def _undo_start(self) -> None:
        """A start that failed before writing anything leaves nothing behind."""
        if self._created_lock:
            try:
                (self.path / LOCK).unlink()
            except OSError:
                pass
        _remove_created(self._created)

    def remove_stale_temp_files(self) -> list[Path]:
        """Removes the temporary files of atomic writes that never finished (a process killed in
        the middle of one); -> what was removed. Call only while holding the exclusive lock."""
        removed = []
        for folder in (self.path, self.path / CHECKPOINTS, self.path / GRAPHS):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if _TEMP.match(p.name) and p.is_file():
                    try:
                        p.unlink()
                        removed.append(p)
                    except OSError:
                        pass
        return removed

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
        atomic_write_bytes(self.path / name, json_bytes(doc))

    # -- reads -------------------------------------------------------------------------------------
    def load_spec(self):
        """The spec this run was trained with, its relative data paths resolved as when it
        started (the spec file was copied here, the data was not)."""
        from nnc.compiler.spec.model import load_spec, spec_from_document, thaw

        spec = load_spec(self.path / SPEC)
        info = self.path / RUN_INFO
        if info.exists():
            try:
                base = json.loads(info.read_text(encoding="utf-8")).get("base_dir")
            except (OSError, ValueError, AttributeError) as e:
                raise RunError(f"{info}: damaged ({type(e).__name__}: {e})") from None
            if base:
                spec = spec_from_document(thaw(spec.document), spec.source, spec.filename, base)
        return spec

    def load_checkpoint(self, kind: str) -> tuple[dict[str, np.ndarray], dict]:
        return load_checkpoint(self.checkpoint_path(kind))

    def resume_candidates(self) -> list[str]:
        """The kinds of resumable checkpoint this run has files for: interrupted, last."""
        return [k for k in RESUMABLE if self.checkpoint_path(k).exists()]

    def write_data(self, fitted, fingerprint: list[dict] | None, description: str = "") -> None:
        """data.json: the run's fitted preprocessing, class names and feature shape (export and
        resume use these, never a refit) and the fingerprint of the data it read."""
        from nnc.runtime.checkpoint import encode_meta

        pre = fitted.preprocess
        doc = {
            "format": DATA_FORMAT,
            "version": DATA_VERSION,
            "description": description,
            "fingerprint": fingerprint,
            "class_names": fitted.class_names,
            "feature_shape": list(fitted.feature_shape) if fitted.feature_shape else None,
            "preprocess": None
            if pre is None
            else {"scale": encode_meta(pre.scale), "shift": encode_meta(pre.shift)},
        }
        self._write_json(DATA, doc)

    def load_data_record(self) -> RunData | None:
        """What write_data wrote; None for a run from before nnc kept it."""
        from nnc.runtime.checkpoint import decode_meta
        from nnc.runtime.data import Affine, Fitted

        path = self.path / DATA
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != DATA_FORMAT or doc.get("version") != DATA_VERSION:
                raise ValueError("not an nnc run-data file of a version this nnc reads")
            pre = doc["preprocess"]
            affine = None
            if pre is not None:
                scale, shift = decode_meta(pre["scale"]), decode_meta(pre["shift"])
                if not (isinstance(scale, np.ndarray) and isinstance(shift, np.ndarray)):
                    raise ValueError("preprocess.scale and .shift must be arrays")
                affine = Affine(scale.astype(np.float32), shift.astype(np.float32))
            names = doc["class_names"]
            if names is not None and not all(isinstance(n, str) for n in names):
                raise ValueError("class_names must be strings")
            shape = doc["feature_shape"]
            fitted = Fitted(affine, names, tuple(int(d) for d in shape) if shape else None)
            fingerprint = doc["fingerprint"]
            if fingerprint is not None and not isinstance(fingerprint, list):
                raise ValueError("fingerprint must be a list")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise RunError(f"{path}: damaged ({type(e).__name__}: {e})") from None
        return RunData(fitted, fingerprint)


@dataclass
class RunData:
    """data.json, read: the run's fitted preprocessing and its data fingerprint."""

    fitted: object  # nnc.runtime.data.Fitted
    fingerprint: list[dict] | None
