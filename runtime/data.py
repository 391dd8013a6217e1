"""Training data: reading the sources a spec's `data:` section names, checking, splitting and
preprocessing them into arrays the engines take.

Every problem is a DataError whose message says where it is: the file (resolved path), the key or
column, and the sample index (0-based; CSV messages also give the 1-based line).
"""

from __future__ import annotations

import csv
import difflib
import functools
import gzip as gzip_lib
import math
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TARGET_KINDS = ("class_index", "binary", "multilabel", "real")
FILE_SOURCES = ("inline", "csv", "npz", "idx")
SOURCES = (*FILE_SOURCES, "builtin")
SKLEARN_DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")
TRUTH_TABLES = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}
BUILTIN_NAMES = (*SKLEARN_DATASETS, *TRUTH_TABLES)


class DataError(Exception):
    """Data that cannot be used; the message names the file, key or column, and the sample."""


@dataclass(frozen=True)
class TargetSpec:
    """What the loss wants as targets: see `kind`; output_shape is per sample, without batch."""

    kind: str  # class_index | binary | multilabel | real
    num_classes: int | None
    output_shape: tuple[int, ...]

    def __post_init__(self):
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}; known: {', '.join(TARGET_KINDS)}")


@dataclass
class Split:
    x: np.ndarray  # float32 [N, *input_shape], preprocessed
    y: np.ndarray | None  # per TargetSpec; None for unlabeled inputs

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Affine:
    """x' = x * scale + shift, in float32, in that order (as the exported model's Mul then Add)."""

    scale: np.ndarray
    shift: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) * self.scale + self.shift).astype(np.float32)


@dataclass
class Dataset:
    train: Split
    validation: Split | None
    test: Split | None
    preprocess: Affine | None  # fitted on train only; already applied to every split
    class_names: list[str] | None
    description: str


@dataclass
class _Raw:
    """One source as read, before targets are converted."""

    x: np.ndarray
    y: np.ndarray | None
    where: str
    class_names: list[str] | None  # names the source itself knows (built-in sets)
    description: str


# ---------------------------------------------------------------------------------------------
# public entry points


def load_data(
    cfg: dict, *, input_shape: tuple[int, ...], target: TargetSpec, base_dir: Path
) -> Dataset:
    """Reads, checks, splits and preprocesses the data a spec's `data:` section describes."""
    input_shape = tuple(int(d) for d in input_shape)
    base_dir = Path(base_dir)
    pre = cfg.get("preprocess") or {}
    one_hot = bool((pre.get("y") or {}).get("one_hot", False))
    split_cfg = cfg.get("split") or {}
    for part in ("validation", "test"):
        if cfg.get(part) is not None and split_cfg.get(part):
            raise DataError(f"data: give either data.{part} or data.split.{part}, not both")

    raw = _read_source(cfg, "data", base_dir, allow_builtin=True)
    x = _features(raw.x, input_shape, raw.where)
    y, names = _targets(raw.y, target, raw.where, raw.class_names, one_hot, fixed_names=False)
    _same_length(x, y, raw.where)
    if target.kind == "real" and not one_hot:
        names = None  # a regression on class indices has no classes to name

    parts = {"train": Split(x, y), "validation": None, "test": None}
    test_frac = float(split_cfg.get("test", 0) or 0)
    val_frac = float(split_cfg.get("validation", 0) or 0)
    if test_frac or val_frac:
        strata = _strata(y, target) if split_cfg.get("stratify", True) else None
        tr, va, te = split_indices(
            len(x),
            test=test_frac,
            validation=val_frac,
            seed=int(split_cfg.get("seed", 0)),
            shuffle=bool(split_cfg.get("shuffle", True)),
            strata=strata,
        )
        parts["train"] = Split(x[tr], y[tr])
        parts["validation"] = Split(x[va], y[va]) if len(va) else None
        parts["test"] = Split(x[te], y[te]) if len(te) else None

    for part in ("validation", "test"):
        if cfg.get(part) is not None:
            extra = _read_source(cfg[part], f"data.{part}", base_dir, allow_builtin=False)
            ex = _features(extra.x, input_shape, extra.where)
            ey, _ = _targets(extra.y, target, extra.where, names, one_hot, fixed_names=True)
            _same_length(ex, ey, extra.where)
            parts[part] = Split(ex, ey)

    affine = fit_preprocess(parts["train"].x, pre.get("x") or {})
    if affine is not None:
        for split in parts.values():
            if split is not None:
                split.x = affine.apply(split.x)

    sizes = ", ".join(f"{k} {len(v)}" for k, v in parts.items() if v is not None)
    return Dataset(
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        preprocess=affine,
        class_names=names,
        description=f"{raw.description}: {sizes}",
    )


def read_features(path: Path, *, input_shape: tuple[int, ...], delimiter: str = ",") -> np.ndarray:
    """Unlabeled inputs for prediction: .npy, .npz (key x, or its only array), .csv (numbers only,
    optional header) or IDX -> float32 [N, *input_shape]. A single sample may omit the batch axis.
    """
    path = Path(path)
    input_shape = tuple(int(d) for d in input_shape)
    name = path.name.lower()
    if name.endswith(".npy"):
        x = _load_npy(path)
    elif name.endswith(".npz"):
        with _open_npz(path) as z:
            if "x" in z.files:
                key = "x"
            elif len(z.files) == 1:
                key = z.files[0]
            else:
                raise DataError(
                    f"{path}: expected an array named 'x' or a single array; found keys "
                    f"{', '.join(z.files) or '(none)'}"
                )
            x = _npz_array(z, key, path)
    elif name.endswith(".csv"):
        x, _, _ = _read_csv(path, delimiter=delimiter, header=None, target=None, features=None)
    elif name.endswith(("ubyte", "ubyte.gz", ".idx", ".idx.gz")):
        x = read_idx(path)
    else:
        raise DataError(f"{path}: unsupported input file type (use .npy, .npz, .csv or IDX)")
    x = np.asarray(x)
    if x.shape == input_shape:
        x = x[None]
    return _features(x, input_shape, str(path))


# ---------------------------------------------------------------------------------------------
# sources


def _read_source(cfg: dict, where: str, base_dir: Path, *, allow_builtin: bool) -> _Raw:
    allowed = SOURCES if allow_builtin else FILE_SOURCES
    given = [k for k in SOURCES if cfg.get(k) is not None]
    if len(given) != 1 or given[0] not in allowed:
        found = ", ".join(given) if given else "none"
        raise DataError(f"{where}: needs exactly one source of {', '.join(allowed)}; found {found}")
    kind = given[0]
    src = cfg[kind]
    if kind == "builtin":
        return _builtin(src)
    if kind == "inline":
        return _inline(src, f"{where}.inline")
    if kind == "csv":
        path = _resolve(src["path"], base_dir)
        target = src.get("target", -1)
        x, y, _ = _read_csv(
            path,
            delimiter=src.get("delimiter", ","),
            header=bool(src.get("header", True)),
            target=target if target is not None else -1,
            features=src.get("features"),
        )
        return _Raw(x, y, str(path), None, f"csv {path.name} ({len(x)} rows)")
    if kind == "npz":
        path = _resolve(src["path"], base_dir)
        xk, yk = src.get("x", "x"), src.get("y", "y")
        with _open_npz(path) as z:
            x, y = _npz_array(z, xk, path), _npz_array(z, yk, path)
        return _Raw(x, y, f"{path}", None, f"npz {path.name} ({len(x)} samples)")
    if kind == "idx":
        images = _resolve(src["images"], base_dir)
        labels = _resolve(src["labels"], base_dir)
        x, y = read_idx(images), read_idx(labels)
        if len(x) != len(y):
            raise DataError(f"{images} has {len(x)} samples but {labels} has {len(y)} labels")
        return _Raw(x, y, str(images), None, f"idx {images.name} ({len(x)} samples)")
    raise AssertionError(kind)


def _resolve(path: str | Path, base_dir: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base_dir / p)


def _inline(src: dict, where: str) -> _Raw:
    arrays = []
    for key in ("x", "y"):
        if key not in src:
            raise DataError(f"{where}: missing '{key}'")
        try:
            arrays.append(np.asarray(src[key]))
        except ValueError as e:
            raise DataError(f"{where}.{key}: rows of different lengths ({e})") from None
    x, y = arrays
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}.x: features must be numbers, not {x.dtype} values")
    return _Raw(x, y, where, None, f"inline ({len(x)} samples)")


def _builtin(name: str) -> _Raw:
    if name in TRUTH_TABLES:
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array(TRUTH_TABLES[name], dtype=np.float32)[:, None]
        return _Raw(x, y, f"builtin {name}", None, f"builtin {name} (4 samples)")
    if name not in SKLEARN_DATASETS:
        raise DataError(
            f"data.builtin: unknown data set {name!r}{_did_you_mean(name, BUILTIN_NAMES)}"
        )
    import sklearn.datasets  # deferred: importing scikit-learn costs about a second

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    if name == "digits":
        names = [str(i) for i in range(10)]
    elif name == "diabetes":
        names = None
    else:
        names = [str(n) for n in bunch.target_names]
    desc = f"builtin {name} ({len(x)} samples)"
    return _Raw(x, y, f"builtin {name}", names, desc)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None


def _open_npz(path: Path):
    try:
        z = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not an .npz archive of named arrays")
    return z


def _npz_array(z, key: str, path: Path) -> np.ndarray:
    if key not in z.files:
        have = ", ".join(z.files) or "(none)"
        raise DataError(f"{path}: no array named {key!r}; the archive holds {have}")
    try:
        return z[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: array {key!r} cannot be read ({e})") from None


# ---------------------------------------------------------------------------------------------
# CSV


def _read_csv(path: Path, *, delimiter, header, target, features):
    """-> (x float64 [N, F], y [N] or [N, T] numbers or str, or None, feature names).

    header=None detects a header (a first row that is not all numbers). target=None reads no
    target. A fast path parses clean files with NumPy's C reader; anything it refuses is parsed
    again row by row, so that the error names the line and the column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None

    first_line, first = next(_nonblank_records(text, delimiter, path), (0, None))
    if first is None:
        raise DataError(f"{path}: the file is empty")
    first = [c.strip() for c in first]
    if header is None:
        header = not all(_is_number(c) for c in first)
    names = first if header else [str(i) for i in range(len(first))]
    ncols = len(first)

    def label(j: int) -> str:
        return f"column {names[j]!r}" if header else f"column {j}"

    if target is None:
        target_cols = []
    else:
        targets = target if isinstance(target, list) else [target]
        target_cols = [_column_index(t, names, header, path, "target") for t in targets]
    if features is None:
        feature_cols = [j for j in range(ncols) if j not in target_cols]
    else:
        feature_cols = [_column_index(f, names, header, path, "features") for f in features]
        both = sorted(set(feature_cols) & set(target_cols))
        if both:
            raise DataError(f"{path}: {label(both[0])} is both a feature and the target")
    if not feature_cols:
        raise DataError(f"{path}: no feature columns are left besides the target")

    skip = first_line if header else 0
    fast = _csv_fast(path, text, delimiter, skip, ncols, feature_cols, target_cols)
    if fast is None:
        x, y = _csv_slow(text, delimiter, path, header, ncols, feature_cols, target_cols, label)
    else:
        x, y = fast
    if y is not None and not isinstance(target, list):
        y = y[:, 0]
    return x, y, [names[j] for j in feature_cols]


def _csv_fast(path, text, delimiter, skip, ncols, feature_cols, target_cols):
    """All-numeric (or numbers + one text label column) files without flaws, else None."""
    read = functools.partial(
        np.loadtxt,
        delimiter=delimiter,
        skiprows=skip,
        comments=None,
        quotechar='"',
        ndmin=2,
        encoding="utf-8-sig",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns about empty input; handled below
            try:
                table = read(path, dtype=np.float64)
            except ValueError:
                if len(target_cols) != 1:
                    return None
                x = read(path, dtype=np.float64, usecols=feature_cols)
                y = np.char.strip(read(path, dtype=str, usecols=target_cols))
                # usecols skips loadtxt's check that every row has ncols fields.
                body = text.split("\n", skip)[-1] if skip else text
                if body.count(delimiter) != len(x) * (ncols - 1) or (y == "").any():
                    return None
                if all(_is_number(c) for c in np.unique(y)):
                    return None
                return (x, y) if np.isfinite(x).all() and len(x) == len(y) else None
    except ValueError:
        return None
    if table.shape[0] == 0 or table.shape[1] != ncols or not np.isfinite(table).all():
        return None
    return table[:, feature_cols], (table[:, target_cols] if target_cols else None)


def _csv_slow(text, delimiter, path, header, ncols, feature_cols, target_cols, label):
    records = list(_nonblank_records(text, delimiter, path))
    rows = records[1:] if header else records
    if not rows:
        raise DataError(f"{path}: no data rows" + (" after the header" if header else ""))
    for line, row in rows:
        if len(row) != ncols:
            raise DataError(f"{path}: line {line}: expected {ncols} fields, found {len(row)}")
    table = np.array([row for _, row in rows], dtype=str)
    x = _numeric_columns(table, feature_cols, rows, path, label, "")
    if not target_cols:
        return x, None
    cells = np.char.strip(table[:, target_cols])
    empty = np.flatnonzero((cells == "").any(axis=1))
    if len(empty):
        i = int(empty[0])
        raise DataError(f"{path}: line {rows[i][0]} (sample {i}): missing target value")
    if all(_is_number(c) for c in np.unique(cells)):
        return x, _numeric_columns(table, target_cols, rows, path, label, "target ")
    if len(target_cols) == 1:
        return x, cells
    raise DataError(f"{path}: text labels need a single target column, not {len(target_cols)}")


def _nonblank_records(text: str, delimiter: str, path: Path):
    """(line number where the record ends, fields) for every record with a non-blank field."""
    # Lines cut lazily: a StringIO would copy the whole text (4 bytes a character) to read one row.
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: {e}") from None


def _lines(text: str):
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _numeric_columns(table, cols, rows, path, label, what) -> np.ndarray:
    sub = np.char.strip(table[:, cols])
    try:
        values = sub.astype(np.float64)
    except ValueError:
        for i, row in enumerate(sub):
            for j, cell in enumerate(row):
                if not _is_number(cell):
                    problem = "missing value" if cell == "" else f"{str(cell)!r} is not a number"
                    raise DataError(
                        f"{path}: line {rows[i][0]} (sample {i}), {what}{label(cols[j])}: {problem}"
                    ) from None
        raise
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise DataError(
            f"{path}: line {rows[i][0]} (sample {i}), {what}{label(cols[j])}: "
            f"value {str(sub[i, j])!r} is not finite"
        )
    return values


def _column_index(ref, names: list[str], header: bool, path: Path, what: str) -> int:
    n = len(names)
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise DataError(f"{path}: {what} column must be a name or an index, not {ref!r}")
    if isinstance(ref, int):
        if not -n <= ref < n:
            raise DataError(f"{path}: {what} column index {ref} is out of range for {n} columns")
        return ref % n
    if not header:
        raise DataError(f"{path}: {what} column {ref!r} is given by name but header is false")
    if ref not in names:
        raise DataError(
            f"{path}: no column named {ref!r} for {what}{_did_you_mean(ref, names)}; "
            f"columns: {', '.join(names)}"
        )
    return names.index(ref)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# IDX (the MNIST file format)

_IDX_CODES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not, told by its first bytes) -> array in native byte order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e})") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip_lib.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\0\0" or code not in _IDX_CODES:
        raise DataError(f"{path}: not an IDX file (magic number {raw[:4].hex()})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {start} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    dtype = _IDX_CODES[code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(raw) - start
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {problem}: shape {dims} of {dtype.name} needs {expected} data bytes, "
            f"found {found}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=start)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: Path, array: np.ndarray, gzip: bool = False) -> None:
    """Writes `array` as an IDX file (gzipped if asked); for tests and small fixtures."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in _IDX_CODES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise ValueError(
            f"IDX cannot store {array.dtype}; use one of uint8, int8, int16, "
            "int32, float32, float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, not {array.ndim}")
    code = codes[dtype]
    head = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.astype(_IDX_CODES[code]).tobytes()
    if gzip:
        data = gzip_lib.compress(data, mtime=0)
    Path(path).write_bytes(data)


# ---------------------------------------------------------------------------------------------
# checks and conversions


def _features(x: np.ndarray, input_shape: tuple[int, ...], where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: features must be numbers, not {x.dtype} values")
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{where}: no samples")
    n = x.shape[0]
    per_sample = x.shape[1:]
    if math.prod(per_sample) != math.prod(input_shape):
        raise DataError(
            f"{where}: features have per-sample shape {per_sample} ({math.prod(per_sample)} "
            f"values) but the network input shape is {input_shape} "
            f"({math.prod(input_shape)} values)"
        )
    with np.errstate(over="ignore"):  # overflow becomes inf, reported just below
        x32 = x.astype(np.float32).reshape((n, *input_shape))
    flat = x32.reshape(n, -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        value = x.reshape(n, -1)[i, j]
        extra = "" if not np.isfinite(value) else " (too large for float32)"
        raise DataError(f"{where}: sample {i}, feature {j}: value {value} is not finite{extra}")
    return x32


def _same_length(x: np.ndarray, y: np.ndarray, where: str) -> None:
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} feature samples but {len(y)} targets")


def _targets(y, target: TargetSpec, where, names, one_hot, *, fixed_names):
    """Raw targets -> (array per TargetSpec, class names).

    fixed_names: names (from the training data) are the label vocabulary to map text labels with;
    otherwise the vocabulary is built from these labels, in sorted order.
    """
    if y is None:
        raise DataError(f"{where}: no targets")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] == 0:
        raise DataError(f"{where}: no targets")
    kind = target.kind
    wants_labels = kind in ("class_index", "binary") or one_hot
    if y.dtype.kind in "USO":
        if not wants_labels:
            first = y.reshape(-1)[0]
            raise DataError(
                f"{where}: targets are text (e.g. {str(first)!r}) but the loss wants {kind} "
                "numbers; for class labels use a classification loss or preprocess.y.one_hot"
            )
        y, names = _encode_text_labels(y, where, names, fixed_names)
        if not fixed_names:
            expected = 2 if kind == "binary" else _label_width(target)
            if len(names) != expected:
                raise DataError(
                    f"{where}: targets hold {len(names)} distinct labels "
                    f"({', '.join(names)}) but the network predicts {expected} classes"
                )
    elif y.dtype.kind not in "biuf":
        raise DataError(f"{where}: targets must be numbers or text labels, not {y.dtype}")
    else:
        _check_finite_targets(y, where)
    if names is not None and not fixed_names and kind in ("class_index", "multilabel"):
        if target.num_classes is not None and len(names) != target.num_classes:
            raise DataError(
                f"{where}: the data has {len(names)} classes but the network predicts "
                f"{target.num_classes}"
            )

    n = y.shape[0]
    is_labels = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if kind == "class_index":
        c = target.num_classes
        if is_labels:
            return _int_labels(y.reshape(n), c, where), names
        if y.ndim == 2 and y.shape[1] == c:
            return np.argmax(y, axis=1).astype(np.int64), names
        raise DataError(
            f"{where}: class targets must be labels [N] or one-hot rows [N, {c}], "
            f"not shape {y.shape}"
        )
    if kind == "binary":
        if not is_labels:
            raise DataError(f"{where}: binary targets must be [N] or [N, 1], not shape {y.shape}")
        flat = y.reshape(n).astype(np.float64)
        bad = np.flatnonzero((flat != 0) & (flat != 1))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{where}: sample {i}: binary target {y.reshape(n)[i]} is not 0 or 1")
        return flat.astype(np.float32)[:, None], names

    if one_hot and is_labels:
        width = _label_width(target)
        labels = _int_labels(y.reshape(n), width, where)
        y = np.eye(width, dtype=np.float32)[labels]
    if kind == "multilabel":
        c = target.num_classes
        if y.ndim != 2 or (c is not None and y.shape[1] != c):
            raise DataError(f"{where}: multilabel targets must be [N, {c}] 0/1, not {y.shape}")
        bad = np.argwhere((y != 0) & (y != 1))
        if len(bad):
            i, j = (int(v) for v in bad[0])
            raise DataError(f"{where}: sample {i}, label {j}: value {y[i, j]} is not 0 or 1")
        return y.astype(np.float32), names
    # real
    per_sample = y.shape[1:]
    shape = tuple(target.output_shape)
    if math.prod(per_sample) != math.prod(shape):
        hint = (
            "; for class labels against a wider output, set preprocess.y.one_hot"
            if is_labels and math.prod(shape) > 1
            else ""
        )
        raise DataError(
            f"{where}: targets have per-sample shape {per_sample} but the network output shape "
            f"is {shape}{hint}"
        )
    return y.astype(np.float32).reshape((n, *shape)), names


def _label_width(target: TargetSpec) -> int:
    if target.num_classes is not None:
        return int(target.num_classes)
    return int(math.prod(target.output_shape))


def _encode_text_labels(y, where, names, fixed_names):
    if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        raise DataError(f"{where}: text labels must be one per sample, not shape {y.shape}")
    flat = np.array([str(v).strip() for v in y.reshape(-1)])
    if fixed_names:
        if names is None:
            raise DataError(
                f"{where}: targets are text labels but the training targets are numbers"
            )
        vocab = list(names)
    else:
        vocab = sorted(set(flat.tolist()))
    index = {name: i for i, name in enumerate(vocab)}
    for i, label in enumerate(flat):
        if label not in index:
            raise DataError(
                f"{where}: sample {i}: label {str(label)!r} is not one of the training labels "
                f"({', '.join(vocab)})"
            )
    return np.array([index[v] for v in flat], dtype=np.int64), vocab


def _check_finite_targets(y: np.ndarray, where: str) -> None:
    if y.dtype.kind != "f":
        return
    flat = y.reshape(y.shape[0], -1)
    bad = np.argwhere(~np.isfinite(flat))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        col = f", element {j}" if flat.shape[1] > 1 else ""
        raise DataError(f"{where}: sample {i}{col}: target {flat[i, j]} is not finite")


def _int_labels(y: np.ndarray, num_classes: int | None, where: str) -> np.ndarray:
    if y.dtype.kind == "f":
        bad = np.flatnonzero(y != np.round(y))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{where}: sample {i}: class label {y[i]} is not an integer")
    labels = y.astype(np.int64)
    if num_classes is not None:
        bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{where}: sample {i}: class label {y[i]} is outside [0, {num_classes})"
            )
    return labels


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# splitting and preprocessing


def _strata(y: np.ndarray, target: TargetSpec) -> np.ndarray | None:
    if target.kind == "class_index":
        return y
    if target.kind == "binary":
        return y[:, 0].astype(np.int64)
    return None


def _fraction_count(fraction: float, n: int, name: str) -> int:
    if not 0 <= fraction < 1:
        raise DataError(f"data.split.{name}: {fraction} is not a fraction in [0, 1)")
    count = int(math.floor(fraction * n + 0.5))
    if fraction > 0 and count == 0:
        raise DataError(
            f"data.split.{name}: {fraction} of {n} samples leaves the {name} split empty; "
            f"use at least {1 / n:.3g}"
        )
    return count


def split_indices(
    n: int,
    *,
    test: float = 0.0,
    validation: float = 0.0,
    seed: int = 0,
    shuffle: bool = True,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (train, validation, test) index arrays; both fractions are of all n samples."""
    if strata is not None and len(strata) != n:
        raise ValueError(f"strata has {len(strata)} entries for {n} samples")
    n_test = _fraction_count(test, n, "test")
    n_val = _fraction_count(validation, n, "validation")
    n_train = n - n_test - n_val
    if n_train <= 0:
        raise DataError(
            f"data.split: test {test} + validation {validation} of {n} samples leave no "
            "training samples"
        )
    if not shuffle:
        # Contiguous parts, the held-out ones at the end, as Keras' validation_split does.
        idx = np.arange(n)
        return idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :]
    rng = np.random.default_rng(seed)
    if strata is None:
        perm = rng.permutation(n)
        return perm[n_test + n_val :], perm[n_test : n_test + n_val], perm[:n_test]

    classes, counts = np.unique(strata, return_counts=True)
    test_per_class = _apportion(n_test, counts)
    val_per_class = _apportion(n_val, counts - test_per_class)
    parts: tuple[list, list, list] = ([], [], [])
    for c, t, v in zip(classes, test_per_class, val_per_class, strict=True):
        members = rng.permutation(np.flatnonzero(strata == c))
        parts[2].append(members[:t])
        parts[1].append(members[t : t + v])
        parts[0].append(members[t + v :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def _apportion(total: int, sizes: np.ndarray) -> np.ndarray:
    """Largest-remainder split of `total` over groups in proportion to `sizes` (each <= size)."""
    quotas = total * sizes / sizes.sum()
    counts = np.floor(quotas).astype(np.int64)
    short = total - int(counts.sum())
    # Stable sort: ties go to the lower class index, so the result depends on the data only.
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[:short]] += 1
    return counts


def fit_preprocess(x_train: np.ndarray, cfg: dict) -> Affine | None:
    """Fits the feature preprocessing `cfg` (data.preprocess.x) on the training features."""
    chosen = [k for k in ("standardize", "minmax", "scale") if cfg.get(k) not in (None, False)]
    unknown = sorted(set(cfg) - {"standardize", "minmax", "scale"})
    if unknown:
        raise DataError(f"data.preprocess.x: unknown option {unknown[0]!r}")
    if len(chosen) > 1:
        raise DataError(f"data.preprocess.x: choose one of {', '.join(chosen)}")
    if not chosen:
        return None
    how = chosen[0]
    if how == "scale":
        s = float(cfg["scale"])
        if not math.isfinite(s) or s == 0:
            raise DataError(f"data.preprocess.x.scale: {s} is not a usable factor")
        return Affine(np.asarray(s, np.float32), np.asarray(0.0, np.float32))
    x = x_train.astype(np.float64)
    if how == "standardize":
        mean, std = x.mean(axis=0), x.std(axis=0)
        with np.errstate(divide="ignore"):
            scale = 1.0 / std
        scale[(std == 0) | ~np.isfinite(scale.astype(np.float32))] = 1.0
        shift = -mean * scale
    else:
        mm = cfg["minmax"] if isinstance(cfg["minmax"], dict) else {}
        lo, hi = float(mm.get("min", 0.0)), float(mm.get("max", 1.0))
        if not hi > lo:
            raise DataError(f"data.preprocess.x.minmax: max {hi} must exceed min {lo}")
        xmin, xmax = x.min(axis=0), x.max(axis=0)
        span = xmax - xmin
        scale = np.where(span > 0, (hi - lo) / np.where(span > 0, span, 1.0), 1.0)
        shift = lo - xmin * scale
    return Affine(scale.astype(np.float32), shift.astype(np.float32))
