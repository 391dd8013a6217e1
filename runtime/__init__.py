"""nnc runtime: engines, the NumPy interpreter, the trainer, data, checkpoints and the CLI."""
