"""Data loading: sources, checks, conversions, splits, preprocessing, and the data: schema."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from nnc.compiler.spec.data_schema import BUILTIN_DATASETS, DATA_SCHEMA
from nnc.runtime.data import (
    BUILTIN_NAMES,
    DataError,
    TargetSpec,
    fit_preprocess,
    load_data,
    read_features,
    read_idx,
    split_indices,
    write_idx,
)

CLASS3 = TargetSpec("class_index", 3, (3,))
BINARY = TargetSpec("binary", 2, (1,))
REAL1 = TargetSpec("real", None, (1,))


def load(cfg, input_shape, target, base_dir=Path(".")):
    return load_data(cfg, input_shape=input_shape, target=target, base_dir=base_dir)


def raises(match: str):
    return pytest.raises(DataError, match=re.escape(match))


# ---------------------------------------------------------------------------------------------
# schema

VALID_FORMS = [
    "inline: {x: [[0, 0], [0, 1]], y: [[0], [1]]}",
    'csv: {path: data.csv, target: label, header: true, delimiter: ","}',
    "csv: {path: data.csv, target: 0, features: [a, 2]}",
    "csv: {path: data.csv, target: [y1, y2]}",
    "csv: {path: data.csv}",
    "npz: {path: data.npz, x: x, y: y}",
    "npz: {path: data.npz}",
    "idx: {images: train-images-idx3-ubyte.gz, labels: train-labels-idx1-ubyte.gz}",
    *(f"builtin: {name}" for name in BUILTIN_DATASETS),
    """
builtin: digits
preprocess:
  x: {standardize: true}
  y: {one_hot: true}
split: {test: 0.2, validation: 0.1, seed: 0, shuffle: true, stratify: true}
""",
    "{builtin: iris, preprocess: {x: {minmax: {min: 0, max: 1}}}}",
    "{builtin: iris, preprocess: {x: {minmax: {}}}}",
    "{builtin: digits, preprocess: {x: {scale: 0.0625}}}",
    "{builtin: iris, split: {}}",
    "{builtin: iris, split: {test: 0.25}}",
    """
csv: {path: train.csv}
validation: {csv: {path: val.csv, target: label}}
test: {npz: {path: test.npz}}
""",
    """
npz: {path: train.npz}
split: {test: 0.1}
validation: {inline: {x: [[1]], y: [0]}}
""",
    # defaults filled in: a zero fraction does not conflict with an explicit source
    "{builtin: iris, split: {test: 0, validation: 0}, validation: {npz: {path: v.npz}}}",
    """
idx: {images: a.gz, labels: b.gz}
validation: {idx: {images: c.gz, labels: d.gz}}
""",
]

INVALID_FORMS = [
    "{}",  # no source
    "{builtin: iris, csv: {path: a.csv}}",  # two sources
    "{builtin: mnist}",  # unknown built-in
    "{builtin: iris, shuffle: true}",  # unknown key at the top
    "{csv: {path: a.csv, delimeter: ';'}}",  # typo
    "{csv: {target: y}}",  # no path
    "{csv: {path: a.csv, delimiter: ';;'}}",
    "{inline: {x: [[1]]}}",  # no y
    "{inline: {x: [], y: []}}",
    "{idx: {images: a.gz}}",
    "{builtin: iris, split: {test: 1.0}}",
    "{builtin: iris, split: {validation: -0.1}}",
    "{builtin: iris, split: {tests: 0.2}}",
    "{builtin: iris, preprocess: {x: {standardize: true, scale: 2}}}",
    "{builtin: iris, preprocess: {x: {scale: 0}}}",
    "{builtin: iris, preprocess: {x: {minmax: {low: 0}}}}",
    "{builtin: iris, preprocess: {y: {onehot: true}}}",
    "{builtin: iris, validation: {builtin: wine}}",  # built-in is not a validation source
    "{builtin: iris, validation: {}}",
    "{builtin: iris, split: {validation: 0.1}, validation: {npz: {path: v.npz}}}",
    "{builtin: iris, split: {test: 0.1}, test: {npz: {path: t.npz}}}",
]


@pytest.mark.parametrize("text", VALID_FORMS)
def test_schema_accepts(text):
    jsonschema.Draft202012Validator(DATA_SCHEMA).validate(yaml.safe_load(text))


@pytest.mark.parametrize("text", INVALID_FORMS)
def test_schema_refuses(text):
    assert list(jsonschema.Draft202012Validator(DATA_SCHEMA).iter_errors(yaml.safe_load(text)))


def test_schema_is_well_formed_and_described():
    jsonschema.Draft202012Validator.check_schema(DATA_SCHEMA)

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, path
                for key, sub in node.get("properties", {}).items():
                    assert "description" in sub, f"{path}.{key}"
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}[{i}]")

    walk(DATA_SCHEMA, "data")


def test_builtin_names_agree_with_schema():
    assert set(BUILTIN_NAMES) == set(BUILTIN_DATASETS)


# ---------------------------------------------------------------------------------------------
# built-in sets


@pytest.mark.parametrize(
    "name, n, features, target, classes",
    [
        ("iris", 150, 4, CLASS3, ["setosa", "versicolor", "virginica"]),
        ("digits", 1797, 64, TargetSpec("class_index", 10, (10,)), [str(i) for i in range(10)]),
        ("wine", 178, 13, CLASS3, ["class_0", "class_1", "class_2"]),
        ("breast_cancer", 569, 30, BINARY, ["malignant", "benign"]),
        ("diabetes", 442, 10, REAL1, None),
    ],
)
def test_builtin_sizes(name, n, features, target, classes):
    ds = load({"builtin": name}, (features,), target)
    assert ds.train.x.shape == (n, features) and ds.train.x.dtype == np.float32
    assert ds.validation is None and ds.test is None and ds.preprocess is None
    assert ds.class_names == classes
    assert name in ds.description and str(n) in ds.description
    y = ds.train.y
    if target.kind == "class_index":
        assert y.shape == (n,) and y.dtype == np.int64
        assert set(np.unique(y)) == set(range(target.num_classes))
    else:
        assert y.shape == (n, 1) and y.dtype == np.float32
    if target.kind == "binary":
        assert set(np.unique(y)) == {0.0, 1.0}


@pytest.mark.parametrize(
    "name, outputs",
    [
        ("and", [0, 0, 0, 1]),
        ("or", [0, 1, 1, 1]),
        ("nand", [1, 1, 1, 0]),
        ("nor", [1, 0, 0, 0]),
        ("xor", [0, 1, 1, 0]),
        ("xnor", [1, 0, 0, 1]),
    ],
)
def test_truth_tables(name, outputs):
    ds = load({"builtin": name}, (2,), BINARY)
    np.testing.assert_array_equal(ds.train.x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ds.train.y, np.array(outputs, np.float32)[:, None])
    as_classes = load({"builtin": name}, (2,), TargetSpec("class_index", 2, (2,)))
    np.testing.assert_array_equal(as_classes.train.y, outputs)
    as_real = load({"builtin": name}, (2,), REAL1)
    assert as_real.train.y.shape == (4, 1)


def test_digits_as_images_and_shape_mismatch():
    ds = load({"builtin": "digits"}, (1, 8, 8), TargetSpec("class_index", 10, (10,)))
    assert ds.train.x.shape == (1797, 1, 8, 8)
    with raises("per-sample shape (64,) (64 values) but the network input shape is (4,)"):
        load({"builtin": "digits"}, (4,), TargetSpec("class_index", 10, (10,)))


def test_builtin_class_count_must_match_network():
    with raises("the data has 3 classes but the network predicts 4"):
        load({"builtin": "iris"}, (4,), TargetSpec("class_index", 4, (4,)))


def test_one_hot_for_real_valued_loss():
    target = TargetSpec("real", None, (10,))
    with raises("preprocess.y.one_hot"):
        load({"builtin": "digits"}, (64,), target)
    ds = load({"builtin": "digits", "preprocess": {"y": {"one_hot": True}}}, (64,), target)
    y = ds.train.y
    assert y.shape == (1797, 10) and y.dtype == np.float32
    assert np.all(y.sum(axis=1) == 1) and ds.class_names[3] == "3"
    plain = load({"builtin": "digits"}, (64,), TargetSpec("class_index", 10, (10,)))
    np.testing.assert_array_equal(np.argmax(y, axis=1), plain.train.y)
    # For a class-index loss the option changes nothing: the loss does its own one-hot.
    hinted = load(
        {"builtin": "digits", "preprocess": {"y": {"one_hot": True}}},
        (64,),
        TargetSpec("class_index", 10, (10,)),
    )
    np.testing.assert_array_equal(hinted.train.y, plain.train.y)


# ---------------------------------------------------------------------------------------------
# target conversion and checks (inline data)


def inline(x, y, target, input_shape=None, **extra):
    x = np.asarray(x)
    shape = input_shape or x.shape[1:]
    return load({"inline": {"x": x.tolist(), "y": y}, **extra}, shape, target)


def test_class_labels_column_and_one_hot_rows():
    x = [[0.0], [1.0], [2.0]]
    for y in ([0, 1, 2], [[0], [1], [2]], [0.0, 1.0, 2.0], [[1, 0, 0], [0, 1, 0], [0, 0.3, 0.7]]):
        ds = inline(x, y, CLASS3)
        np.testing.assert_array_equal(ds.train.y, [0, 1, 2])
        assert ds.train.y.dtype == np.int64


def test_class_label_errors():
    x = [[0.0]] * 4
    with raises("data.inline: sample 2: class label 3 is outside [0, 3)"):
        inline(x, [0, 1, 3, 5], CLASS3)
    with raises("sample 1: class label -1 is outside [0, 3)"):
        inline(x, [0, -1, 2, 2], CLASS3)
    with raises("sample 3: class label 1.5 is not an integer"):
        inline(x, [0.0, 1.0, 2.0, 1.5], CLASS3)
    with raises("class targets must be labels [N] or one-hot rows [N, 3], not shape (4, 2)"):
        inline(x, [[0, 1]] * 4, CLASS3)
    with raises("sample 1: target nan is not finite"):
        inline(x, [0, float("nan"), 1, 1], CLASS3)


def test_binary_targets():
    ds = inline([[0.0], [1.0], [2.0]], [True, False, True], BINARY)
    np.testing.assert_array_equal(ds.train.y, [[1], [0], [1]])
    assert ds.train.y.dtype == np.float32
    with raises("sample 2: binary target 2 is not 0 or 1"):
        inline([[0.0], [1.0], [2.0]], [0, 1, 2], BINARY)
    with raises("binary targets must be [N] or [N, 1], not shape (2, 2)"):
        inline([[0.0], [1.0]], [[0, 1], [1, 0]], BINARY)


def test_multilabel_targets():
    target = TargetSpec("multilabel", 3, (3,))
    ds = inline([[0.0], [1.0]], [[1, 0, 1], [0, 0, 0]], target)
    assert ds.train.y.dtype == np.float32 and ds.train.y.shape == (2, 3)
    with raises("sample 1, label 2: value 0.5 is not 0 or 1"):
        inline([[0.0], [1.0]], [[1, 0, 1], [0, 0, 0.5]], target)
    with raises("multilabel targets must be [N, 3] 0/1"):
        inline([[0.0], [1.0]], [[1, 0], [0, 0]], target)


def test_real_targets_are_reshaped():
    target = TargetSpec("real", None, (2, 2))
    ds = inline([[0.0], [1.0]], [[1, 2, 3, 4], [5, 6, 7, 8]], target)
    assert ds.train.y.shape == (2, 2, 2) and ds.train.y.dtype == np.float32
    with raises("targets have per-sample shape (3,) but the network output shape is (2, 2)"):
        inline([[0.0], [1.0]], [[1, 2, 3], [5, 6, 7]], target)
    with raises("targets are text (e.g. 'a')"):
        inline([[0.0], [1.0]], ["a", "b"], REAL1)


def test_inline_text_labels_sorted():
    ds = inline([[0.0], [1.0], [2.0]], ["b", "c", "a"], CLASS3)
    assert ds.class_names == ["a", "b", "c"]
    np.testing.assert_array_equal(ds.train.y, [1, 2, 0])
    with raises("targets hold 2 distinct labels (a, b) but the network predicts 3 classes"):
        inline([[0.0], [1.0]], ["a", "b"], CLASS3)


def test_feature_errors():
    with raises("data.inline: sample 1, feature 0: value nan is not finite"):
        inline([[0.0, 1.0], [float("nan"), 2.0]], [0, 1], CLASS3)
    with raises("sample 0, feature 1: value inf is not finite"):
        inline([[0.0, float("inf")], [1.0, 2.0]], [0, 1], CLASS3)
    with raises("sample 0, feature 0: value 1e+300 is not finite (too large for float32)"):
        inline([[1e300]], [0], CLASS3)
    with raises("data.inline: 3 feature samples but 2 targets"):
        inline([[0.0], [1.0], [2.0]], [0, 1], CLASS3)
    with raises("data.inline.x: rows of different lengths"):
        load({"inline": {"x": [[0, 1], [2]], "y": [0, 1]}}, (2,), CLASS3)
    with raises("data.inline.x: features must be numbers"):
        load({"inline": {"x": [["a"], ["b"]], "y": [0, 1]}}, (1,), CLASS3)
    with raises("data.inline: no samples"):
        load({"inline": {"x": [], "y": []}}, (1,), CLASS3)
    with raises(
        "features have per-sample shape (2,) (2 values) but the network input shape "
        "is (3,) (3 values)"
    ):
        inline([[0.0, 1.0]], [0], CLASS3, input_shape=(3,))


def test_exactly_one_source():
    with raises("data: needs exactly one source of inline, csv, npz, idx, builtin; found none"):
        load({}, (1,), CLASS3)
    with raises("found inline, builtin"):
        load({"inline": {"x": [[0]], "y": [0]}, "builtin": "iris"}, (1,), CLASS3)
    with raises("data.builtin: unknown data set 'iriss' (did you mean 'iris'?)"):
        load({"builtin": "iriss"}, (4,), CLASS3)
    with raises("data.validation: needs exactly one source of inline, csv, npz, idx"):
        load({"builtin": "iris", "validation": {"builtin": "iris"}}, (4,), CLASS3)


# ---------------------------------------------------------------------------------------------
# CSV

IRIS_CSV = """sepal_length,sepal_width,petal_length,petal_width,species
5.1,3.5,1.4,0.2,setosa
7.0,3.2,4.7,1.4,versicolor
6.3,3.3,6.0,2.5,virginica
4.9,3.0,1.4,0.2,setosa
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_text_labels_relative_path(tmp_path):
    write(tmp_path / "iris.csv", IRIS_CSV)
    ds = load({"csv": {"path": "iris.csv"}}, (4,), CLASS3, base_dir=tmp_path)
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(ds.train.y, [0, 1, 2, 0])
    np.testing.assert_allclose(ds.train.x[2], [6.3, 3.3, 6.0, 2.5])
    assert "iris.csv" in ds.description


def test_csv_target_by_name_index_and_features(tmp_path):
    text = "a,label,b,c\n1,0,2,3\n4,1,5,6\n"
    write(tmp_path / "d.csv", text)
    binary = TargetSpec("binary", 2, (1,))
    for target in ("label", 1, -3):
        ds = load({"csv": {"path": "d.csv", "target": target}}, (3,), binary, base_dir=tmp_path)
        np.testing.assert_array_equal(ds.train.x, [[1, 2, 3], [4, 5, 6]])
        np.testing.assert_array_equal(ds.train.y, [[0], [1]])
    ds = load(
        {"csv": {"path": "d.csv", "target": "label", "features": ["c", 0]}},
        (2,),
        binary,
        base_dir=tmp_path,
    )
    np.testing.assert_array_equal(ds.train.x, [[3, 1], [6, 4]])
    two = TargetSpec("real", None, (2,))
    ds = load({"csv": {"path": "d.csv", "target": ["a", "c"]}}, (2,), two, base_dir=tmp_path)
    np.testing.assert_array_equal(ds.train.y, [[1, 3], [4, 6]])
    with raises("column 'c' is both a feature and the target"):
        load(
            {"csv": {"path": "d.csv", "target": "c", "features": ["a", "c"]}},
            (2,),
            REAL1,
            base_dir=tmp_path,
        )


def test_csv_no_header_semicolon(tmp_path):
    write(tmp_path / "d.csv", "1;2;0\n3;4;1\n\n5;6;1\n")
    cfg = {"csv": {"path": "d.csv", "header": False, "delimiter": ";"}}
    ds = load(cfg, (2,), BINARY, base_dir=tmp_path)
    np.testing.assert_array_equal(ds.train.x, [[1, 2], [3, 4], [5, 6]])
    cfg["csv"]["target"] = "label"
    with raises("target column 'label' is given by name but header is false"):
        load(cfg, (2,), BINARY, base_dir=tmp_path)


def test_csv_errors_name_line_and_column(tmp_path):
    def err(text, match, **opts):
        write(tmp_path / "bad.csv", text)
        with raises(match):
            load({"csv": {"path": "bad.csv", **opts}}, (2,), BINARY, base_dir=tmp_path)

    where = str(tmp_path / "bad.csv")
    err("a,b,y\n1,2,0\n3,x,1\n", f"{where}: line 3 (sample 1), column 'b': 'x' is not a number")
    err("a,b,y\n1,2,0\n3,,1\n", "line 3 (sample 1), column 'b': missing value")
    err("a,b,y\n1,2,0\n3,nan,1\n", "line 3 (sample 1), column 'b': value 'nan' is not finite")
    err("a,b,y\n1,2,0\n3,4,inf\n", "line 3 (sample 1), target column 'y': value 'inf' is not")
    err("a,b,y\n1,2,0\n3,4\n", "line 3: expected 3 fields, found 2")
    err("a,b,y\n1,2,0\n3,4,\n", "line 3 (sample 1): missing target value")
    err(
        "a,b,label\n1,2,0\n3,4,1\n",
        "no column named 'lable' for target (did you mean 'label'?)",
        target="lable",
    )
    err("a,b,y\n", "no data rows after the header")
    err("", "the file is empty")
    err("a,b,y\n1,2,0\n", "target column index 7 is out of range for 3 columns", target=7)
    with raises(f"{tmp_path / 'missing.csv'}: file not found"):
        load({"csv": {"path": "missing.csv"}}, (2,), BINARY, base_dir=tmp_path)


def test_csv_text_label_fast_and_slow_paths_agree(tmp_path):
    # Quoted fields with the delimiter inside defeat the fast path; the results must not change.
    write(tmp_path / "plain.csv", 'a,b,y\n1,2,cat\n3,4,dog\n5,6,"cat"\n')
    write(tmp_path / "quoted.csv", 'a,b,y\n1,2,"c,at"\n3,4,dog\n5,6,"c,at"\n')
    target = TargetSpec("class_index", 2, (2,))
    a = load({"csv": {"path": "plain.csv"}}, (2,), target, base_dir=tmp_path)
    b = load({"csv": {"path": "quoted.csv"}}, (2,), target, base_dir=tmp_path)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert a.class_names == ["cat", "dog"] and b.class_names == ["c,at", "dog"]


# ---------------------------------------------------------------------------------------------
# NPZ and IDX


def test_npz_keys_and_errors(tmp_path):
    x, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 2, 1])
    np.savez(tmp_path / "d.npz", x=x, y=y, feats=x * 2, labels=y)
    ds = load({"npz": {"path": "d.npz"}}, (3,), CLASS3, base_dir=tmp_path)
    np.testing.assert_array_equal(ds.train.x, x)
    ds = load({"npz": {"path": "d.npz", "x": "feats", "y": "labels"}}, (3,), CLASS3, tmp_path)
    np.testing.assert_array_equal(ds.train.x, x * 2)
    with raises(f"{tmp_path / 'd.npz'}: no array named 'target'; the archive holds"):
        load({"npz": {"path": "d.npz", "y": "target"}}, (3,), CLASS3, base_dir=tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with raises("junk.npz: not a readable .npz archive"):
        load({"npz": {"path": "junk.npz"}}, (3,), CLASS3, base_dir=tmp_path)
    np.save(tmp_path / "single.npy", x)
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with raises("single.npz: holds a single array, not an .npz archive"):
        load({"npz": {"path": "single.npz"}}, (3,), CLASS3, base_dir=tmp_path)
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=y)
    with raises("obj.npz: array 'x' cannot be read"):
        load({"npz": {"path": "obj.npz"}}, (3,), CLASS3, base_dir=tmp_path)
    with raises(f"{tmp_path / 'nope.npz'}: file not found"):
        load({"npz": {"path": "nope.npz"}}, (3,), CLASS3, base_dir=tmp_path)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("zipped", [False, True])
def test_idx_round_trip(tmp_path, dtype, zipped):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(5, 3, 2)) * 50).astype(dtype)
    # The gzip test is by content, so the file names deliberately lie about it.
    path = tmp_path / ("plain.gz" if not zipped else "zipped.idx")
    write_idx(path, a, gzip=zipped)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == zipped
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_idx_header_layout(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 3), np.uint8))
    raw = (tmp_path / "a").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x02" and raw[4:12] == b"\0\0\0\x02\0\0\0\x03"
    assert len(raw) == 12 + 6
    with pytest.raises(ValueError, match="IDX cannot store int64"):
        write_idx(tmp_path / "b", np.zeros(2, np.int64))


def test_idx_corruption(tmp_path):
    write_idx(tmp_path / "good", np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    raw = (tmp_path / "good").read_bytes()
    cases = {
        "short": (raw[:-3], "truncated: shape (2, 3, 4) of int32 needs 96 data bytes, found 93"),
        "long": (raw + b"\0", "has trailing bytes"),
        "header": (raw[:10], "truncated IDX header: 3 dimensions need 16 bytes"),
        "tiny": (raw[:2], "truncated IDX header (2 bytes)"),
        "magic": (b"\x01" + raw[1:], "not an IDX file (magic number 01000c03)"),
        "code": (raw[:2] + b"\x07" + raw[3:], "not an IDX file"),
        "gz_cut": (gzip.compress(raw)[:-10], "corrupt or truncated gzip data"),
        "gz_bad": (gzip.compress(raw)[:12] + b"\xff" * 20, "corrupt or truncated gzip data"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        with raises(f"{tmp_path / name}: {match}"):
            read_idx(tmp_path / name)
    with raises(f"{tmp_path / 'absent'}: file not found"):
        read_idx(tmp_path / "absent")


def test_idx_mnist_like(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=10).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gzip=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, gzip=True)
    cfg = {
        "idx": {
            "images": "train-images-idx3-ubyte.gz",
            "labels": "train-labels-idx1-ubyte.gz",
        },
        "preprocess": {"x": {"scale": 1 / 255}},
    }
    target = TargetSpec("class_index", 10, (10,))
    ds = load(cfg, (1, 28, 28), target, base_dir=tmp_path)
    assert ds.train.x.shape == (10, 1, 28, 28)
    np.testing.assert_allclose(ds.train.x[:, 0], images / 255, rtol=1e-6)
    np.testing.assert_array_equal(ds.train.y, labels)
    with raises(
        "per-sample shape (28, 28) (784 values) but the network input shape is (1, 32, 32)"
    ):
        load(cfg, (1, 32, 32), target, base_dir=tmp_path)
    write_idx(tmp_path / "few-labels", labels[:9])
    cfg["idx"]["labels"] = "few-labels"
    with raises("has 10 samples but"):
        load(cfg, (1, 28, 28), target, base_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# splits


def test_split_sizes_determinism_and_coverage():
    cfg = {"builtin": "iris", "split": {"test": 0.2, "validation": 0.1, "seed": 3}}
    a = load(cfg, (4,), CLASS3)
    b = load(cfg, (4,), CLASS3)
    assert (len(a.train), len(a.validation), len(a.test)) == (105, 15, 30)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(a, part).x, getattr(b, part).x)
    c = load({**cfg, "split": {**cfg["split"], "seed": 4}}, (4,), CLASS3)
    assert not np.array_equal(a.test.x, c.test.x)
    with pytest.raises(ValueError, match="strata has 10 entries for 150 samples"):
        split_indices(150, test=0.2, strata=np.zeros(10))


def test_split_indices_partition_all_samples():
    strata = np.repeat([0, 1, 2], [50, 30, 20])
    for s in (None, strata):
        tr, va, te = split_indices(100, test=0.25, validation=0.15, seed=0, strata=s)
        assert (len(tr), len(va), len(te)) == (60, 15, 25)
        np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(100))


def test_stratified_split_keeps_proportions():
    strata = np.repeat([0, 1, 2], [50, 30, 20])
    tr, va, te = split_indices(100, test=0.2, validation=0.1, seed=7, strata=strata)
    assert np.bincount(strata[te]).tolist() == [10, 6, 4]
    assert np.bincount(strata[va]).tolist() == [5, 3, 2]
    assert np.bincount(strata[tr]).tolist() == [35, 21, 14]
    ds = load({"builtin": "iris", "split": {"test": 0.2, "seed": 11}}, (4,), CLASS3)
    assert np.bincount(ds.test.y).tolist() == [10, 10, 10]
    loose = load(
        {"builtin": "iris", "split": {"test": 0.2, "seed": 11, "stratify": False}}, (4,), CLASS3
    )
    assert len(loose.test) == 30


def test_unshuffled_split_is_contiguous():
    tr, va, te = split_indices(10, test=0.2, validation=0.3, shuffle=False)
    assert tr.tolist() == [0, 1, 2, 3, 4] and va.tolist() == [5, 6, 7] and te.tolist() == [8, 9]


def test_split_errors():
    with raises("data.split.test: 0.009 of 50 samples leaves the test split empty"):
        split_indices(50, test=0.009)
    assert len(split_indices(50, test=0.01)[2]) == 1  # 0.5 samples round up
    with raises("data.split: test 0.5 + validation 0.5 of 10 samples leave no training samples"):
        split_indices(10, test=0.5, validation=0.5)
    with raises("data.split.validation: 0.1 of 4 samples leaves the validation split empty"):
        load({"builtin": "xor", "split": {"validation": 0.1}}, (2,), BINARY)
    with raises("give either data.validation or data.split.validation, not both"):
        load(
            {
                "builtin": "iris",
                "split": {"validation": 0.1},
                "validation": {"inline": {"x": [[0, 0, 0, 0]], "y": [0]}},
            },
            (4,),
            CLASS3,
        )


def test_explicit_validation_and_test_sources(tmp_path):
    write(tmp_path / "train.csv", IRIS_CSV)
    write(tmp_path / "val.csv", "a,b,c,d,species\n1,2,3,4,virginica\n")
    cfg = {
        "csv": {"path": "train.csv"},
        "validation": {"csv": {"path": "val.csv"}},
        "test": {"inline": {"x": [[1, 2, 3, 4], [5, 6, 7, 8]], "y": ["setosa", "virginica"]}},
    }
    ds = load(cfg, (4,), CLASS3, base_dir=tmp_path)
    assert ds.validation.y.tolist() == [2] and ds.test.y.tolist() == [0, 2]
    assert "train 4, validation 1, test 2" in ds.description
    write(tmp_path / "val.csv", "a,b,c,d,species\n1,2,3,4,virginca\n")
    with raises("val.csv: sample 0: label 'virginca' is not one of the training labels"):
        load(cfg, (4,), CLASS3, base_dir=tmp_path)
    cfg = {"builtin": "xor", "validation": {"inline": {"x": [[0, 0]], "y": ["no"]}}}
    with raises("data.validation.inline: targets are text labels but the training targets are"):
        load(cfg, (2,), BINARY)


# ---------------------------------------------------------------------------------------------
# preprocessing


def test_standardize_fitted_on_train_only():
    cfg = {
        "inline": {"x": [[0, 10], [2, 10], [4, 10]], "y": [0, 1, 2]},
        "validation": {"inline": {"x": [[6, 12]], "y": [1]}},
        "preprocess": {"x": {"standardize": True}},
    }
    ds = load(cfg, (2,), CLASS3)
    std0 = math.sqrt(8 / 3)  # population std of 0, 2, 4
    np.testing.assert_allclose(ds.preprocess.scale, [1 / std0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(ds.preprocess.shift, [-2 / std0, -10.0], rtol=1e-6)
    np.testing.assert_allclose(ds.train.x, [[-2 / std0, 0], [0, 0], [2 / std0, 0]], atol=1e-6)
    # Validation uses the training statistics, not its own (which would give 0 and 0).
    np.testing.assert_allclose(ds.validation.x, [[4 / std0, 2.0]], rtol=1e-6)
    assert ds.preprocess.scale.dtype == np.float32 and ds.preprocess.shift.dtype == np.float32


def test_standardize_after_split_uses_train_part():
    cfg = {"builtin": "wine", "split": {"test": 0.3, "seed": 2}}
    raw = load(cfg, (13,), CLASS3)
    ds = load({**cfg, "preprocess": {"x": {"standardize": True}}}, (13,), CLASS3)
    mean, std = raw.train.x.astype(np.float64).mean(0), raw.train.x.astype(np.float64).std(0)
    np.testing.assert_allclose(ds.preprocess.scale, 1 / std, rtol=1e-6)
    np.testing.assert_allclose(ds.preprocess.shift, -mean / std, rtol=1e-5)
    np.testing.assert_allclose(ds.train.x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.train.x.std(0), 1, atol=1e-5)
    assert abs(ds.test.x.mean()) > 1e-3  # the test part was not used for fitting
    # What the exported model will compute (Mul then Add in float32) is what was applied.
    expected = raw.test.x * ds.preprocess.scale + ds.preprocess.shift
    np.testing.assert_array_equal(ds.test.x, expected.astype(np.float32))


def test_minmax_and_scale():
    x = np.array([[1, 5, -2], [3, 5, 2], [2, 5, 0]], np.float32)
    aff = fit_preprocess(x, {"minmax": {"min": -1, "max": 1}})
    out = aff.apply(x)
    np.testing.assert_allclose(out[:, 0], [-1, 1, 0])
    np.testing.assert_allclose(out[:, 1], [-1, -1, -1])  # constant feature: moved to min
    np.testing.assert_allclose(out[:, 2], [-1, 1, 0])
    assert aff.scale[1] == 1.0
    aff = fit_preprocess(x, {"minmax": {}})
    np.testing.assert_allclose(aff.apply(x).min(0), [0, 0, 0])
    aff = fit_preprocess(x, {"scale": 0.0625})
    assert aff.scale.shape == () and float(aff.scale) == 0.0625 and float(aff.shift) == 0.0
    assert fit_preprocess(x, {}) is None and fit_preprocess(x, {"standardize": False}) is None
    with raises("data.preprocess.x: choose one of standardize, scale"):
        fit_preprocess(x, {"standardize": True, "scale": 2.0})
    with raises("max 0.0 must exceed min 1.0"):
        fit_preprocess(x, {"minmax": {"min": 1, "max": 0}})


def test_standardize_constant_image_pixels():
    ds = load(
        {"builtin": "digits", "preprocess": {"x": {"standardize": True}}},
        (1, 8, 8),
        TargetSpec("class_index", 10, (10,)),
    )
    assert ds.preprocess.scale.shape == (1, 8, 8)
    assert ds.preprocess.scale[0, 0, 0] == 1.0  # the corner pixel is always 0
    assert np.isfinite(ds.train.x).all()


# ---------------------------------------------------------------------------------------------
# prediction inputs


def test_read_features_formats(tmp_path):
    x = np.arange(8, dtype=np.float64).reshape(2, 4)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", x=x, other=x)
    np.savez(tmp_path / "c.npz", whatever=x)
    np.savez(tmp_path / "d.npz", p=x, q=x)
    write(tmp_path / "e.csv", "f1,f2,f3,f4\n0,1,2,3\n4,5,6,7\n")
    write(tmp_path / "f.csv", "0,1,2,3\n4,5,6,7\n")
    for name in ("a.npy", "b.npz", "c.npz", "e.csv", "f.csv"):
        out = read_features(tmp_path / name, input_shape=(4,))
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x, err_msg=name)
    np.testing.assert_array_equal(
        read_features(tmp_path / "a.npy", input_shape=(2, 2)), [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    )
    np.save(tmp_path / "one.npy", x[0])
    assert read_features(tmp_path / "one.npy", input_shape=(4,)).shape == (1, 4)
    with raises("d.npz: expected an array named 'x' or a single array; found keys p, q"):
        read_features(tmp_path / "d.npz", input_shape=(4,))
    with raises("unsupported input file type"):
        read_features(tmp_path / "x.txt", input_shape=(4,))
    write(tmp_path / "g.csv", "f1,f2,f3,f4\n0,1,2,3\n4,5,x,7\n")
    with raises("line 3 (sample 1), column 'f3': 'x' is not a number"):
        read_features(tmp_path / "g.csv", input_shape=(4,))
    with raises("per-sample shape (4,) (4 values) but the network input shape is (3,)"):
        read_features(tmp_path / "a.npy", input_shape=(3,))
    with raises(f"{tmp_path / 'missing.npy'}: file not found"):
        read_features(tmp_path / "missing.npy", input_shape=(4,))


# ---------------------------------------------------------------------------------------------
# the source registry


def test_every_source_is_defined_once_in_the_registry_and_the_schema():
    from nnc.runtime.data import data_sources

    registered = data_sources()
    assert list(registered) == ["inline", "csv", "npz", "idx", "builtin"]
    assert [s.name for s in registered.values() if s.train_only] == ["builtin"]
    for name, source in registered.items():
        assert DATA_SCHEMA["properties"][name] == source.schema
    explicit = DATA_SCHEMA["properties"]["validation"]["properties"]
    assert list(explicit) == [n for n, s in registered.items() if not s.train_only]


def test_a_duplicate_source_is_refused():
    from nnc.runtime.data import SourceDef, data_sources, register_source

    with pytest.raises(ValueError, match="duplicate data source"):
        register_source(SourceDef("csv", {}, data_sources()["csv"].read))


# ---------------------------------------------------------------------------------------------
# -1/+1 targets (perceptron and hinge losses)


def test_signed_targets_are_read_as_zero_one_where_the_loss_allows_them():
    signed = TargetSpec("binary", 2, (1,), signed=True)
    cfg = {"inline": {"x": [[0], [1], [2], [3]], "y": [-1, 1, 1, -1]}}
    np.testing.assert_array_equal(load(cfg, (1,), signed).train.y.ravel(), [0, 1, 1, 0])
    cfg01 = {"inline": {"x": [[0], [1]], "y": [0, 1]}}
    np.testing.assert_array_equal(load(cfg01, (1,), signed).train.y.ravel(), [0, 1])
    with raises("sample 0: binary target -1 is not 0 or 1"):
        load(cfg, (1,), BINARY)  # binary cross-entropy: -1 is no probability
    mixed = {"inline": {"x": [[0], [1], [2]], "y": [-1, 0, 1]}}
    with raises("sample 0: binary target -1 is not 0 or 1 (or all -1/+1)"):
        load(mixed, (1,), signed)
    multi = TargetSpec("multilabel", 2, (2,), signed=True)
    cfg = {"inline": {"x": [[0], [1]], "y": [[-1, 1], [1, 1]]}}
    np.testing.assert_array_equal(load(cfg, (1,), multi).train.y, [[0, 1], [1, 1]])


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_feature_shapes_are_those_loading_gives(name):
    """nnc validate checks input shapes against FEATURE_SHAPES without loading: keep it true."""
    from nnc.runtime.data.sources.builtin import FEATURE_SHAPES, read

    raw = read(name, "data.builtin", Path("."))
    assert tuple(np.shape(raw.x)[1:]) == FEATURE_SHAPES[name]
    assert len(raw.x) == len(raw.y)


def test_sphere_field_is_seeded_and_its_colour_vanishes_outside_the_ball():
    from nnc.runtime.data.sources.builtin import SPHERE, read

    a, b = (read("sphere_field", "data.builtin", Path(".")) for _ in range(2))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    r = np.linalg.norm(a.x, axis=1)
    assert a.x.shape == (SPHERE["points"], 3) and np.abs(a.x).max() <= 1.0
    inside, outside = r < SPHERE["radius"] - 0.2, r > SPHERE["radius"] + 0.2
    assert a.y[inside, 0].min() > 0.99 and a.y[outside].max() < 0.01
    expect = 0.5 + 0.5 * np.sin(2 * np.pi * SPHERE["stripes"] * a.x[inside, 1] + 1.0)
    np.testing.assert_allclose(a.y[inside, 2], a.y[inside, 0] * expect, rtol=1e-12)
