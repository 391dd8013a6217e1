"""`csv: {path, target, features, header, delimiter}`: a delimited text file, one sample a row.

Clean files are parsed by NumPy's C reader; anything it refuses is parsed again row by row, so
that an error names the line (1-based), the sample (0-based) and the column.
"""

from __future__ import annotations

import csv
import functools
import warnings
from pathlib import Path

import numpy as np

from nnc.compiler.names import suggestion
from nnc.runtime.data.base import (
    QUOTE_CHARS,
    DataError,
    RawData,
    SourceDef,
    check_data_file,
    quote,
    register_source,
    resolve_path,
    shorten,
)

_COLUMN = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "column name (needs a header row)"},
        {"type": "integer", "description": "0-based column index; negative counts from the end"},
    ]
}

SCHEMA = {
    "type": "object",
    "description": "a delimited text file with one sample per row",
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "description": "CSV file, relative to the spec's folder",
        },
        "target": {
            "description": "target column(s): a name or 0-based index, or a list of them for "
            "several targets; default: the last column",
            "oneOf": [
                _COLUMN,
                {"type": "array", "items": _COLUMN, "minItems": 1, "uniqueItems": True},
            ],
        },
        "features": {
            "type": "array",
            "items": _COLUMN,
            "minItems": 1,
            "uniqueItems": True,
            "description": "feature columns in order; default: every column but the target(s)",
        },
        "header": {
            "type": "boolean",
            "default": True,
            "description": "whether the first row holds column names",
        },
        "delimiter": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1,
            "default": ",",
            "description": "field separator, one character",
        },
    },
    "required": ["path"],
    "additionalProperties": False,
}


def read(src: dict, where: str, base_dir: Path) -> RawData:
    path = resolve_path(src["path"], base_dir)
    target = src.get("target", -1)
    x, y, _ = read_csv(
        path,
        delimiter=src.get("delimiter", ","),
        header=bool(src.get("header", True)),
        target=target if target is not None else -1,
        features=src.get("features"),
    )
    return RawData(x, y, str(path), None, f"csv {path.name} ({len(x)} rows)")


def read_features(path: Path) -> np.ndarray:
    """Unlabeled inputs: numbers only, a header row detected."""
    return read_csv(path, delimiter=",", header=None, target=None, features=None)[0]


def read_csv(path: Path, *, delimiter, header, target, features):
    """-> (x float64 [N, F], y [N] or [N, T] numbers or str, or None, feature names).

    header=None detects a header (a first row that is not all numbers). target=None reads no
    target. A fast path parses clean files with NumPy's C reader; anything it refuses is parsed
    again row by row, so that the error names the line and the column.
    """
    check_data_file(path)
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
        return f"column {quote(names[j])}" if header else f"column {j}"

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
                    problem = "missing value" if cell == "" else f"{quote(cell)} is not a number"
                    raise DataError(
                        f"{path}: line {rows[i][0]} (sample {i}), {what}{label(cols[j])}: {problem}"
                    ) from None
        raise
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise DataError(
            f"{path}: line {rows[i][0]} (sample {i}), {what}{label(cols[j])}: "
            f"value {quote(sub[i, j])} is not finite"
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
        shown = [shorten(n) for n in names[:20]]
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        raise DataError(
            f"{path}: no column named {ref!r} for {what}"
            f"{suggestion(ref, [n[:QUOTE_CHARS] for n in names])}; "
            f"columns: {', '.join(shown)}{more}"
        )
    return names.index(ref)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def files(src: dict, base_dir: Path) -> list[Path]:
    return [resolve_path(src["path"], base_dir)]


register_source(
    SourceDef("csv", SCHEMA, read, suffixes=(".csv",), read_features=read_features, files=files)
)
