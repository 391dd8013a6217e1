"""The data fingerprint a run keeps: what each source of its `data:` section read, so that a
resumed run (or its evaluation) notices data that changed since it started.

One entry per source: a file's resolved path, size, modification time and SHA-256; a built-in
set's name; the SHA-256 of data written in the spec. Two fingerprints differ where a path,
size or hash does (a file touched but not changed is the same data).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nnc.runtime.data.base import DataError, check_data_file, data_sources


def data_fingerprint(cfg: dict, base_dir: Path) -> list[dict]:
    """The fingerprint of the sources `cfg` (a spec's data: section) names, as they are now."""
    out = []
    for where, part in _parts(cfg):
        for name, source in data_sources().items():
            value = part.get(name)
            if value is None:
                continue
            entry: dict = {"source": f"{where}.{name}"}
            if source.files is not None:
                entry["files"] = [file_fingerprint(p) for p in source.files(value, base_dir)]
            elif isinstance(value, str):
                entry["name"] = value
            else:
                text = json.dumps(value, sort_keys=True, default=str)
                entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
            out.append(entry)
    return out


def _parts(cfg: dict):
    yield "data", cfg
    for part in ("validation", "test"):
        if isinstance(cfg.get(part), dict):
            yield f"data.{part}", cfg[part]


def file_fingerprint(path: Path) -> dict:
    st = check_data_file(path)  # never hash /dev/zero or a FIFO
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    return {
        "path": str(Path(path).resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": digest.hexdigest(),
    }


def fingerprint_changes(old: list[dict], new: list[dict]) -> list[str]:
    """What differs between two fingerprints, one line per changed source or file."""
    changes = []
    old_by = {e["source"]: e for e in old}
    new_by = {e["source"]: e for e in new}
    for source in sorted(set(old_by) | set(new_by)):
        a, b = old_by.get(source), new_by.get(source)
        if a is None or b is None:
            changes.append(f"{source}: {'added' if a is None else 'removed'}")
            continue
        if a.get("name") != b.get("name") or a.get("sha256") != b.get("sha256"):
            changes.append(f"{source}: changed")
        for fa, fb in zip(a.get("files", []), b.get("files", [])):
            if fa["path"] != fb["path"]:
                changes.append(f"{source}: now reads {fb['path']}, not {fa['path']}")
            elif fa["size"] != fb["size"]:
                changes.append(f"{fb['path']}: size {fa['size']} -> {fb['size']} bytes")
            elif fa["sha256"] != fb["sha256"]:
                changes.append(f"{fb['path']}: same size, different content (SHA-256)")
        if len(a.get("files", [])) != len(b.get("files", [])):
            changes.append(f"{source}: changed")
    return changes
