"""One root error for the project; each subclass also inherits the builtin it resembles.

The CLI catches :class:`SiameseEdgeError` and prints its message (never a traceback), so every
message must name the file, key or value at fault and, where there is one, the command that fixes it.
"""


class SiameseEdgeError(Exception):
    """Root of every error this project raises on purpose."""


class ModelFileError(SiameseEdgeError, FileNotFoundError):
    """A model file is missing, unreadable, or not the file we expect (sha256 mismatch)."""


class ImageError(SiameseEdgeError, ValueError):
    """An input image cannot be used: unreadable, not an image, or too large to decode safely."""


class DataFileError(SiameseEdgeError, ValueError):
    """A dataset file (an LFW pairs list) is not what it should be: not text, wrong layout, names
    that leave its folder."""


class ConfigError(SiameseEdgeError, ValueError):
    """A configuration value is missing, of the wrong type, or out of range."""


class RuntimeBackendError(SiameseEdgeError, ImportError):
    """No TFLite interpreter (ai-edge-litert, tflite-runtime or TensorFlow) could be imported."""
