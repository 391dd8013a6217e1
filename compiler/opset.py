"""The one place where the ONNX opset and IR version that nnc emits are pinned.

Opset 18 / IR 8 runs on onnxruntime >= 1.14, on `onnx.reference` and on our interpreter; it is the
first opset in which every Reduce* op takes its axes as an input, which keeps the emitted graphs
uniform. `nnc export --opset N` can re-target an exported inference model.
"""

OPSET = 18
IR_VERSION = 8
DOMAIN = ""  # the standard ai.onnx domain, and only it
