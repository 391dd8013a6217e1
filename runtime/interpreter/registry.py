"""The kernel registry: op type -> kernel class, filled by the explicit `@register` decorator."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from nnc.runtime.interpreter.errors import RegistrationError

if TYPE_CHECKING:
    from nnc.runtime.interpreter.kernel import Kernel

_KERNELS: dict[str, type[Kernel]] = {}
_loaded = False


def register(op_type: str) -> Callable[[type[Kernel]], type[Kernel]]:
    """Class decorator: make the class the kernel of `op_type` (default ONNX domain)."""

    def decorate(cls: type[Kernel]) -> type[Kernel]:
        if op_type in _KERNELS:
            raise RegistrationError(
                f"op {op_type!r} registered twice: {_KERNELS[op_type].__module__}."
                f"{_KERNELS[op_type].__qualname__} and {cls.__module__}.{cls.__qualname__}"
            )
        cls.op_type = op_type
        _KERNELS[op_type] = cls
        return cls

    return decorate


def _load_kernels() -> None:
    """Import every `op_*` module of the ops package once, which runs their `@register`s."""
    global _loaded
    if _loaded:
        return
    from nnc.runtime.interpreter import ops

    for module in sorted(pkgutil.iter_modules(ops.__path__), key=lambda m: m.name):
        if module.name.startswith("op_"):
            importlib.import_module(f"{ops.__name__}.{module.name}")
    _loaded = True


def kernel_for(op_type: str) -> type[Kernel] | None:
    """The kernel class of `op_type`, or None if there is none."""
    _load_kernels()
    return _KERNELS.get(op_type)


def supported_ops() -> list[str]:
    """Sorted op types that have a kernel."""
    _load_kernels()
    return sorted(_KERNELS)
