"""The two small formulas every scorer shares: the logistic function and the Siamese head.

One implementation each, used by the device (matcher, detector, landmarks) and the converter
(pair scores, open-set evaluation) alike, so a score measured on the workstation is the score the
device computes.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    """Logistic function in float32; inputs clipped to ±80 so huge logits cannot overflow ``exp``."""
    z = np.clip(np.asarray(z, np.float32), -80.0, 80.0)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32, copy=False)


def logit(p: float) -> float:
    """The inverse of :func:`sigmoid`, for comparing raw scores with a probability threshold."""
    return float(np.log(p / (1.0 - p)))


def head_logits(a: np.ndarray, b: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    """The Siamese head before its sigmoid, ``w · |a − b| + bias``, over the last axis (broadcasting:
    row-aligned pairs, or one probe against many rows)."""
    return np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)) @ np.asarray(weights, np.float32) \
        + np.float32(bias)
