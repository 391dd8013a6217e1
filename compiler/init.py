"""Parameter initializers, seeded per parameter: adding a layer never reshuffles the others."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class Initializer:
    name: str
    description: str
    fn: Callable[..., np.ndarray]  # (rng, shape, fan_in, fan_out, **options)
    options: Mapping[str, o.Option] = field(default_factory=dict)
    # (shape) -> why this initializer cannot fill a tensor of that shape, or None
    check: Callable[[tuple[int, ...]], str | None] = lambda shape: None


INITIALIZERS: Registry[Initializer] = Registry("initializer")


def _init(name, description, options=None, **policy):
    def add(fn):
        INITIALIZERS.add(name, Initializer(name, description, fn, options or {}, **policy))
        return fn

    return add


@_init("zeros", "all zeros")
def _zeros(rng, shape, fan_in, fan_out):
    return np.zeros(shape)


@_init("ones", "all ones")
def _ones(rng, shape, fan_in, fan_out):
    return np.ones(shape)


@_init("uniform", "uniform in [-limit, limit]", {"limit": o.number("half-width", 0.05, minimum=0)})
def _uniform(rng, shape, fan_in, fan_out, limit=0.05):
    return rng.uniform(-limit, limit, shape)


@_init(
    "normal",
    "normal with the given mean and standard deviation",
    {"mean": o.number("mean", 0.0), "stddev": o.number("standard deviation", 0.05, minimum=0)},
)
def _normal(rng, shape, fan_in, fan_out, mean=0.0, stddev=0.05):
    return rng.normal(mean, stddev, shape)


@_init("glorot_uniform", "Glorot/Xavier uniform: limit sqrt(6 / (fan_in + fan_out))")
def _glorot_uniform(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


@_init("glorot_normal", "Glorot/Xavier normal: stddev sqrt(2 / (fan_in + fan_out))")
def _glorot_normal(rng, shape, fan_in, fan_out):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape)


@_init("he_uniform", "He/Kaiming uniform: limit sqrt(6 / fan_in)")
def _he_uniform(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape)


@_init("he_normal", "He/Kaiming normal: stddev sqrt(2 / fan_in)")
def _he_normal(rng, shape, fan_in, fan_out):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


@_init("lecun_normal", "LeCun normal: stddev sqrt(1 / fan_in)")
def _lecun_normal(rng, shape, fan_in, fan_out):
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)


@_init(
    "orthogonal",
    "a random orthogonal matrix (Saxe et al.) times gain: for a [rows, ...] tensor, its rows "
    "flattened to [rows, cols] are orthonormal (columns when rows > cols)",
    {"gain": o.number("scale of the matrix", 1.0, exclusive_minimum=0)},
    check=lambda shape: None if len(shape) >= 2 else "orthogonal needs a tensor of rank >= 2",
)
def _orthogonal(rng, shape, fan_in, fan_out, gain=1.0):
    rows, cols = shape[0], int(np.prod(shape[1:]))
    q, r = np.linalg.qr(rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols))))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # uniform over orthogonal matrices (Mezzadri)
    return gain * (q if rows >= cols else q.T).reshape(shape)


def init_ref(value) -> tuple[str, dict]:
    return o.component_ref(INITIALIZERS, value)


def init_problem(value, shape) -> str | None:
    """Why the initializer `value` cannot fill a tensor of `shape` (None when it can)."""
    name, _ = init_ref(value)
    return INITIALIZERS[name].check(tuple(shape))


def initial_value(value, shape, fan_in: int, fan_out: int, seed: int, param: str) -> np.ndarray:
    name, opts = init_ref(value)
    rng = np.random.default_rng([seed, zlib.crc32(param.encode())])
    return np.asarray(INITIALIZERS[name].fn(rng, tuple(shape), fan_in, fan_out, **opts))


def init_schema() -> dict:
    return o.name_or_mapping("initializer", INITIALIZERS)


def init_defs() -> dict:
    return o.family_defs("initializer", INITIALIZERS)
