"""``siamese-edge convert int8``: full-integer TFLite of the embedding branch, its card, parity.

The representative dataset is real aligned face crops made by edge's preprocessing (never random
noise): int8 ranges calibrated on noise clip real activations. Input is uint8 raw pixels (the
branch scales them inside the graph); output int8, dequantized and L2-normalised on the device.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge.vision.card import AlignmentSpec, Decision, ModelCard

log = logging.getLogger(__name__)

DEFAULT_ALIGNMENT = {"resnet29": AlignmentSpec("dlib5", 150, 0.25), "koch": AlignmentSpec("dlib5", 100, 0.25),
                     "compact": AlignmentSpec("dlib5", 112, 0.25)}


def card_for(siamese, name: str, decision: Decision | None = None, provenance: dict | None = None,
             metrics: dict | None = None, flip: bool | None = None) -> ModelCard:
    """A model card from a Siamese Keras model: its branch's input, its head's weights."""
    from converter.model import branch_of

    branch = branch_of(siamese)
    size = int(branch.input_shape[1])
    kind = branch.name if branch.name in DEFAULT_ALIGNMENT else "resnet29"
    w, b = siamese.get_layer("head").get_weights()
    return ModelCard(
        name=name, input_size=size, colour="RGB", embedding_size=int(branch.output_shape[-1]),
        alignment=DEFAULT_ALIGNMENT[kind] if size == DEFAULT_ALIGNMENT[kind].size else AlignmentSpec("dlib5", size),
        decision=decision or Decision("cosine", 0.5, 0.0),
        head_weights=tuple(float(v) for v in w.reshape(-1)), head_bias=float(b.reshape(-1)[0]),
        flip_average=(kind == "resnet29") if flip is None else flip,
        input_dtype="uint8", normalization="inside the graph (raw 0–255 RGB pixels in)",
        provenance=provenance or {}, metrics=metrics or {},
    )


def convert_int8(branch, representative: np.ndarray, out: str | Path) -> Path:
    """Convert ``branch`` to a full-integer ``.tflite`` calibrated on ``representative`` uint8 crops."""
    import tempfile

    import tensorflow as tf

    size = int(branch.input_shape[1])

    def rep():
        for crop in representative:
            yield [crop[None].astype(np.float32)]

    saved = Path(tempfile.mkdtemp(prefix="siamese-edge-export-"))
    # Keras 3 → SavedModel (variables frozen by the converter) with a batch-1 signature
    export = keras_export_archive(branch, size)
    export.write_out(str(saved))
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.uint8
    conv.inference_output_type = tf.int8
    data = conv.convert()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tflite.part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def keras_export_archive(branch, size: int):
    """An ExportArchive serving ``branch`` on a fixed ``(1, size, size, 3)`` float input."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(branch)
    archive.add_endpoint("serve", lambda x: branch(x, training=False),
                         input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
    return archive


def parity(float_emb: np.ndarray, int8_emb: np.ndarray) -> dict:
    """Per-image cosine between float and int8 embeddings (both unit length)."""
    cos = np.einsum("ij,ij->i", float_emb, int8_emb)
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "cosine_p01": float(np.percentile(cos, 1)), "n_images": int(len(cos))}
