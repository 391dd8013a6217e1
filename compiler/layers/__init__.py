"""Layer types. Importing this package imports every module in it, whose `@layer` decorators
register the layers in LAYERS: a new layer type is one new file."""

import importlib
import pkgutil

from nnc.compiler.layers.base import (
    LAYERS,
    Layer,
    LowerCtx,
    ParamDecl,
    PerSample,
    ShapeError,
    all_options,
)

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["LAYERS", "Layer", "LowerCtx", "ParamDecl", "PerSample", "ShapeError", "all_options"]
