"""Checkpoints: bit-exact round trips, exact meta, atomic writes that fail cleanly, bad files."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnc.runtime import checkpoint
from nnc.runtime.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
)


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32)
    return {
        "layers.0.dense/W": rng.normal(size=(3, 4)).astype(np.float32),
        "layers.0.dense/b": rng.normal(size=4),
        "opt:adam/m.layers.0": special,
        "step": np.array(7, dtype=np.int64),  # 0-d
        "mask": rng.random((2, 3)) > 0.5,
        "empty": np.zeros((0, 5), np.float32),
        "half": np.arange(4, dtype=np.float16),
        "fortran": np.asfortranarray(rng.normal(size=(3, 2))),
        "unicodé ∂/∂w": np.array([1, 2, 3], np.int32),
        "": np.array(1.5),
    }


def assert_bit_equal(a: np.ndarray, b: np.ndarray, name: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, name
    assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), name


def test_round_trip_bit_exact(tmp_path):
    tensors = sample_tensors()
    save_checkpoint(tmp_path / "ck.npz", tensors, {"step": 7})
    loaded, meta = load_checkpoint(tmp_path / "ck.npz")
    assert list(loaded) == list(tensors)  # names and their order
    for name, value in tensors.items():
        assert_bit_equal(value, loaded[name], name)
    assert meta == {"step": 7}
    assert loaded["step"].shape == ()


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    save_checkpoint(tmp_path / "ck.npz", {"a/b": np.ones(2)}, {"epoch": 1})
    with zipfile.ZipFile(tmp_path / "ck.npz") as z:
        assert sorted(z.namelist()) == ["__nnc_meta__.npy", "t0.npy"]
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as z:
        doc = json.loads(z["__nnc_meta__"].tobytes())
    assert doc == {
        "format": "nnc-checkpoint",
        "version": 1,
        "tensors": ["a/b"],
        "meta": {"epoch": 1},
    }


def test_meta_round_trip_exact(tmp_path):
    meta = {
        "step": 10**30 + 7,
        "negative": -(2**127),
        "lr": 0.1,
        "tiny": 5e-324,
        "nan": float("nan"),
        "spec_hash": "sha256:ab12",
        "optimizers": ["adam", "sgd"],
        "pair": (1, 2),
        "nested": {"a": [1, {"b": None, "c": True}]},
        "np_int": np.int64(-5),
        "np_uint": np.uint64(2**64 - 1),
        "np_float": np.float32(0.1),
        "np_array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "np_empty": np.zeros((0, 2)),
    }
    save_checkpoint(tmp_path / "ck", {}, meta)
    _, back = load_checkpoint(tmp_path / "ck")
    assert back["step"] == 10**30 + 7 and back["negative"] == -(2**127)
    assert back["lr"] == 0.1 and back["tiny"] == 5e-324 and np.isnan(back["nan"])
    assert back["pair"] == [1, 2]  # JSON has no tuples
    assert back["nested"] == meta["nested"] and back["optimizers"] == ["adam", "sgd"]
    for key in ("np_int", "np_uint", "np_float"):
        assert type(back[key]) is type(meta[key]) and back[key] == meta[key], key
    for key in ("np_array", "np_empty"):
        assert_bit_equal(meta[key], back[key], key)


def test_meta_refuses_what_json_would_change(tmp_path):
    with pytest.raises(CheckpointError, match=r"meta\['epochs'\]: key 1 is not a string"):
        save_checkpoint(tmp_path / "ck", {}, {"epochs": {1: "a"}})
    with pytest.raises(CheckpointError, match=r"meta\['f'\]: cannot store a function"):
        save_checkpoint(tmp_path / "ck", {}, {"f": lambda: 0})
    with pytest.raises(CheckpointError, match="tensor 'o' has dtype object"):
        save_checkpoint(tmp_path / "ck", {"o": np.array([None])}, {})
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_rng_state_round_trip(tmp_path, bit_generator):
    rng = np.random.Generator(bit_generator(12345))
    rng.normal(size=17)
    rng.random(dtype=np.float32)  # leaves a buffered half word in PCG64's state
    save_checkpoint(tmp_path / "ck", {}, {"rng": rng.bit_generator.state})
    expected = (rng.normal(size=5), rng.integers(0, 2**62, size=5), rng.permutation(10))
    _, meta = load_checkpoint(tmp_path / "ck")
    restored = np.random.Generator(bit_generator())
    restored.bit_generator.state = meta["rng"]
    got = (restored.normal(size=5), restored.integers(0, 2**62, size=5), restored.permutation(10))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


# ---------------------------------------------------------------------------------------------
# atomic writes


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def previous(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"w": np.arange(3.0)}, {"step": 1})
    return path, path.read_bytes()


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["replace", "fsync"])
def test_failure_keeps_previous_file(previous, monkeypatch, where):
    path, before = previous
    monkeypatch.setattr(checkpoint.os, where, enospc)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(path, {"w": np.arange(1000.0)}, {"step": 2})
    monkeypatch.undo()
    assert str(path) in str(info.value) and "No space left on device" in str(info.value)
    assert path.read_bytes() == before
    assert leftovers(path.parent) == []
    assert load_checkpoint(path)[1] == {"step": 1}


def test_failing_write_keeps_previous_file(previous, monkeypatch):
    path, before = previous
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(bytes(data[:10]))  # part of it lands, then the disk is full
            enospc()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(CheckpointError, match="No space left on device"):
        atomic_write_bytes(path, b"new contents" * 100)
    monkeypatch.undo()
    assert path.read_bytes() == before and leftovers(path.parent) == []


def test_interrupt_cleans_up_and_propagates(previous, monkeypatch):
    path, before = previous

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"x")
    monkeypatch.undo()
    assert path.read_bytes() == before and leftovers(path.parent) == []


def test_real_failures(tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot write .*no-such-dir.*No such file"):
        atomic_write_bytes(tmp_path / "no-such-dir" / "ck.npz", b"x")
    # Renaming a file over a directory fails after the temp file was written in full.
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(CheckpointError, match=r"cannot write .*taken: Is a directory"):
        save_checkpoint(target, {"w": np.ones(10)}, {})
    assert (target / "inside").read_text() == "keep"
    assert leftovers(tmp_path) == []


def test_real_disk_full_via_file_size_limit(previous):
    """A write that the kernel refuses (RLIMIT_FSIZE -> EFBIG), in a child process."""
    path, before = previous
    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        from nnc.runtime.checkpoint import CheckpointError, save_checkpoint
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        try:
            save_checkpoint({str(path)!r}, {{"w": np.zeros(100_000)}}, {{}})
        except CheckpointError as e:
            print(e)
            sys.exit(3)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert str(path) in proc.stdout and "File too large" in proc.stdout
    assert path.read_bytes() == before and leftovers(path.parent) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory(previous):
    path, before = previous
    path.parent.chmod(0o555)
    try:
        with pytest.raises(CheckpointError, match="Permission denied"):
            save_checkpoint(path, {"w": np.ones(2)}, {})
    finally:
        path.parent.chmod(0o755)
    assert path.read_bytes() == before and leftovers(path.parent) == []


def test_new_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "model.onnx", b"abc")
    finally:
        os.umask(old)
    assert (tmp_path / "model.onnx").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model.onnx").read_bytes() == b"abc"


def test_replaces_existing_file(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_bytes(path, b"old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# unreadable files


def test_corrupt_and_truncated_files(tmp_path):
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"w": np.arange(40, dtype=np.float32)}, {"step": 3})
    raw = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for cut in (1, 10, len(raw) // 2, len(raw) - 1):
        bad.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=f"{bad}: corrupt or truncated checkpoint"):
            load_checkpoint(bad)
    # Every flipped byte is caught (zip CRCs, headers) or changes nothing that was stored.
    for pos in range(0, len(raw), 3):
        flipped = bytearray(raw)
        flipped[pos] ^= 0x24
        bad.write_bytes(bytes(flipped))
        try:
            tensors, meta = load_checkpoint(bad)
        except CheckpointError:
            continue
        assert_bit_equal(tensors["w"], np.arange(40, dtype=np.float32), f"byte {pos}")
        assert meta == {"step": 3}
    bad.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_checkpoint(bad)
    bad.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(bad)
    np.savez(bad, w=np.ones(2))
    with pytest.raises(CheckpointError, match="not an nnc checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'absent'}: no such checkpoint"):
        load_checkpoint(tmp_path / "absent")


def test_newer_format_version_is_refused(tmp_path):
    doc = {"format": "nnc-checkpoint", "version": 99, "tensors": [], "meta": {}}
    meta = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    np.savez(tmp_path / "v99.npz", __nnc_meta__=meta)
    with pytest.raises(CheckpointError, match="format version 99 is not supported"):
        load_checkpoint(tmp_path / "v99.npz")
