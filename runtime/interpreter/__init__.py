"""A pure NumPy ONNX interpreter: the project's reference oracle.

It imports nothing from the compiler, nor from onnxruntime or `onnx.reference`: it knows ONNX
protos and NumPy, so agreeing with it means something.
"""

from nnc.runtime.interpreter.errors import InterpreterError, UnsupportedOpError
from nnc.runtime.interpreter.interpreter import Interpreter

__all__ = ["Interpreter", "InterpreterError", "UnsupportedOpError"]
