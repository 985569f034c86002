"""siamese-edge device runtime: detection, alignment, int8 embedding and matching without TensorFlow."""

__version__ = "0.1.0"
