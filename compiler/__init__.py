"""nnc compiler: YAML spec -> validated Spec -> ONNX inference and training graphs."""

__version__ = "0.1.0"
