"""Files a command writes where the user says (-o): checked, then written atomically.

An output must not be a directory, and must not replace a file a run directory owns (its spec,
graphs, checkpoints, metrics...): a typo in `-o` would otherwise destroy a run. The write goes
through a temporary file and a rename, so a full disk or a crash leaves the old file in place.
"""

from __future__ import annotations

from pathlib import Path

from nnc.runtime.checkpoint import atomic_write_bytes
from nnc.runtime.errors import RunError
from nnc.runtime.rundir import CHECKPOINTS, GRAPHS, LOCK, RUN_FILES

# what a run directory holds, files and folders: nnc.runtime.rundir's layout, named there once
_RUN_FILES = (*(name for name in RUN_FILES if name not in (GRAPHS, CHECKPOINTS)), LOCK)
_RUN_FOLDERS = (GRAPHS, CHECKPOINTS)


def run_directory_of(path: Path) -> Path | None:
    """The run directory that `path` lies in (at any depth), or None."""
    for folder in Path(path).parents:
        if (folder / "spec.yaml").is_file() and (folder / "run.json").is_file():
            return folder
    return None


def check_output(path: Path, option: str = "-o") -> Path:
    """Refuses a directory, or a file of a run directory; -> the path."""
    path = Path(path)
    if path.is_dir():
        raise RunError(f"{option} {path}: is a directory; give a file name")
    real = path.resolve()  # a symlink onto a run's file is that file
    run = run_directory_of(real)
    if run is not None:
        inside = real.relative_to(run).parts
        if inside[0] in _RUN_FOLDERS or (len(inside) == 1 and inside[0] in _RUN_FILES):
            raise RunError(
                f"{option} {path}: would replace {'/'.join(inside)} of the run directory {run}; "
                "write the output elsewhere"
            )
    return path


def write_output(path: Path, data: bytes, option: str = "-o") -> None:
    """Checks `path` (check_output) and replaces it with `data` atomically."""
    atomic_write_bytes(check_output(path, option), data)
