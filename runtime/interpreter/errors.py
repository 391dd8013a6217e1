"""Errors raised by the NumPy interpreter."""


class InterpreterError(RuntimeError):
    """A model the interpreter cannot load, or a run that failed (names the node at fault)."""


class UnsupportedOpError(InterpreterError, NotImplementedError):
    """The model holds op types that have no kernel; `op_types` and `node_names` say which."""

    def __init__(self, message: str, op_types: list[str], node_names: list[str]):
        super().__init__(message)
        self.op_types = op_types
        self.node_names = node_names


class RegistrationError(RuntimeError):
    """A kernel registered twice for one op type: a programming error, fatal at import."""
