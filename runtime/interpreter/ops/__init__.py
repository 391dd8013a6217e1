"""Op kernels, one ONNX op per `op_<name>.py` module, each registered by `@register`."""
