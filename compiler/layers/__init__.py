"""Layer types. Importing this package registers every layer in LAYERS."""

from nnc.compiler.layers import (
    conv,  # noqa: F401
    core,  # noqa: F401  (registers the core layers)
)
from nnc.compiler.layers.base import (
    LAYERS,
    Layer,
    LowerCtx,
    ParamDecl,
    PerSample,
    ShapeError,
    all_options,
)

__all__ = ["LAYERS", "Layer", "LowerCtx", "ParamDecl", "PerSample", "ShapeError", "all_options"]
