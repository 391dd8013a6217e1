"""`builtin: NAME`: a data set that needs no file (scikit-learn's bundled sets, truth tables).

A built-in set is a whole data set, split with `split:`; it cannot be an explicit validation or
test part. scikit-learn is imported only when one of its sets is loaded (it costs about a second).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnc.compiler.names import suggestion
from nnc.runtime.data.base import DataError, RawData, SourceDef, register_source

SKLEARN_DATASETS: dict[str, str] = {
    "iris": "scikit-learn iris: 150 samples, 4 features, 3 classes",
    "digits": "scikit-learn digits: 1797 8x8 images as 64 features (0..16), 10 classes",
    "wine": "scikit-learn wine: 178 samples, 13 features, 3 classes",
    "breast_cancer": "scikit-learn breast cancer: 569 samples, 30 features, binary "
    "(0 = malignant, 1 = benign)",
    "diabetes": "scikit-learn diabetes: 442 samples, 10 features, real-valued target",
}
TRUTH_TABLES = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}
# Generated sets: made from a fixed seed by NumPy, the same on every machine.
SINE = {"windows": 1000, "steps": 20, "period": 24.0, "noise": 0.1, "seed": 0}
SPHERE = {"points": 30000, "radius": 0.6, "edge": 0.03, "stripes": 5.0, "seed": 0}
GENERATED: dict[str, str] = {
    "sine": f"a noisy sine wave (period {SINE['period']:g} steps, Gaussian noise of standard "
    f"deviation {SINE['noise']:g}, variance {SINE['noise'] ** 2:g}): {SINE['windows']} windows "
    f"of {SINE['steps']} consecutive values as [{SINE['steps']}, 1] sequences, each with the "
    "value that follows it as a real target",
    "sphere_field": f"a coloured ball as a 3-D field, for coordinate networks (NeRF): "
    f"{SPHERE['points']} points (x, y, z) uniform in [-1, 1]^3, each with 4 real targets: the "
    f"density, 1 / (1 + e^((r - {SPHERE['radius']:g}) / {SPHERE['edge']:g})) at radius r (a "
    f"ball with a soft edge), and red, green, blue = density * (0.5 + 0.5 sin(2 pi "
    f"{SPHERE['stripes']:g} p + phase)), stripes along x, y and z with phases 0, 1, 2",
}
# name -> one-line description, for the schema and the docs
BUILTIN_DATASETS: dict[str, str] = {
    **SKLEARN_DATASETS,
    **GENERATED,
    **{
        name: f"truth table of {name.upper()}: 4 samples of 2 inputs in {{0,1}} "
        "(rows 00, 01, 10, 11), 1 target"
        for name in TRUTH_TABLES
    },
}
BUILTIN_NAMES = tuple(BUILTIN_DATASETS)
# the per-sample shape of each set's features, known without loading it (nnc validate checks
# the network's input against it); a test loads every set and compares
FEATURE_SHAPES: dict[str, tuple[int, ...]] = {
    "iris": (4,),
    "digits": (64,),
    "wine": (13,),
    "breast_cancer": (30,),
    "diabetes": (10,),
    "sine": (SINE["steps"], 1),
    "sphere_field": (3,),
    **{name: (2,) for name in TRUTH_TABLES},
}

SCHEMA = {
    "type": "string",
    "enum": list(BUILTIN_DATASETS),
    "description": "a data set that needs no file: "
    + "; ".join(f"{k} ({v})" for k, v in BUILTIN_DATASETS.items()),
}


def read(name: str, where: str, base_dir: Path) -> RawData:
    if name in TRUTH_TABLES:
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array(TRUTH_TABLES[name], dtype=np.float32)[:, None]
        return RawData(x, y, f"builtin {name}", None, f"builtin {name} (4 samples)")
    if name == "sine":
        return _sine()
    if name == "sphere_field":
        return _sphere_field()
    if name not in SKLEARN_DATASETS:
        raise DataError(f"{where}: unknown data set {name!r}{suggestion(name, BUILTIN_NAMES)}")
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
    return RawData(x, y, f"builtin {name}", names, desc)


def _sine() -> RawData:
    n, steps = SINE["windows"], SINE["steps"]
    rng = np.random.default_rng(SINE["seed"])
    t = np.arange(n + steps)
    series = np.sin(2 * np.pi * t / SINE["period"]) + rng.normal(0.0, SINE["noise"], len(t))
    windows = np.lib.stride_tricks.sliding_window_view(series[:-1], steps)[:n]
    x = windows[:, :, None].copy()
    y = series[steps : steps + n, None].copy()
    return RawData(x, y, "builtin sine", None, f"builtin sine ({n} windows of {steps} steps)")


def _sphere_field() -> RawData:
    n, radius, edge = SPHERE["points"], SPHERE["radius"], SPHERE["edge"]
    rng = np.random.default_rng(SPHERE["seed"])
    p = rng.uniform(-1.0, 1.0, (n, 3))
    r = np.linalg.norm(p, axis=1, keepdims=True)
    density = 1.0 / (1.0 + np.exp((r - radius) / edge))
    rgb = 0.5 + 0.5 * np.sin(2 * np.pi * SPHERE["stripes"] * p + np.array([0.0, 1.0, 2.0]))
    y = np.concatenate([density, density * rgb], axis=1)
    return RawData(p, y, "builtin sphere_field", None, f"builtin sphere_field ({n} points)")


def feature_shape(name: object) -> tuple[int, ...] | None:
    return FEATURE_SHAPES.get(str(name))


register_source(SourceDef("builtin", SCHEMA, read, train_only=True, feature_shape=feature_shape))
