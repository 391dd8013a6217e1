"""Reverse-mode autodiff to standard ONNX ops."""

from nnc.compiler.autodiff import (
    rules,  # noqa: F401  (registers the gradient rules)
    rules_conv,  # noqa: F401
    rules_scan,  # noqa: F401
)
from nnc.compiler.autodiff.core import GRAD_RULES, GradientError, gradients, rule

__all__ = ["GRAD_RULES", "GradientError", "gradients", "rule"]
