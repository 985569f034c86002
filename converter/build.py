"""Build a shippable int8 model: convert, prove parity, write the card.

Calibration crops come from LFW identities that are not in the parity pairs, through edge's
preprocessing. The parity report compares float and int8 embeddings image by image and LFW
accuracy (10-fold) for both; it goes into the card's ``metrics`` together with the open-set
calibration that chose the shipped threshold and margin.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np

from converter.crops import crop_images
from converter.embeddings import load_model, pair_scores
from converter.evaluate import embed_pairs, pair_folds, verification_report
from converter.lfw import identity_folders, pair_identities, read_pairs
from converter.quantize import card_for, convert_int8, parity
from edge.vision.card import Decision, ModelCard, load_card, save_card
from edge.vision.embedder import Embedder

log = logging.getLogger(__name__)


def calibration_paths(images: Path, avoid: set[str], n: int, seed: int = 7) -> list[Path]:
    folders = identity_folders(images)
    pool = [files[0] for name, files in folders.items() if name not in avoid]
    random.Random(seed).shuffle(pool)
    return sorted(pool[:n])


def apply_openset(model_path: Path, openset: dict) -> ModelCard:
    """Write the open-set decision rule (chosen for the target false-accept rate) into the card."""
    card = load_card(model_path)
    decision = Decision(openset["scoring"], float(openset["threshold"]), float(openset["margin"]),
                        card.decision.mirror_band)
    keep = ("rank1", "dir_at_far", "n_enrolled", "photos_per_person", "n_known_probes", "n_unknown_probes",
            "target_far", "scoring", "threshold", "margin", "excluded_identities")
    metrics = {**card.metrics, "openset": {k: openset[k] for k in keep if k in openset}}
    card = ModelCard(**{**card.__dict__, "decision": decision, "metrics": metrics})
    save_card(card, model_path)
    return card


def build_int8(keras_path: Path, out: Path, images: Path, n_calibration: int, parity_pairs: str) -> ModelCard:
    import keras  # noqa: F401

    from converter.model import branch_of

    float_model = load_model(keras_path)
    siamese = keras.models.load_model(keras_path)
    branch = branch_of(siamese)
    pairs = read_pairs(parity_pairs, images)
    calib = calibration_paths(images, pair_identities(pairs), n_calibration)
    crops, _ = crop_images(calib, float_model.alignment, float_model.card.colour, desc="calibration crops")
    convert_int8(branch, crops, out)

    # provisional rule until `evaluate openset --write-card` calibrates it on the int8 model itself
    decision = Decision("cosine", 0.5, 0.0)
    from converter.pretrained import provenance_of

    card = card_for(siamese, name=out.stem, decision=decision, provenance={
        **provenance_of(keras_path), "keras_model": keras_path.name,
        "rebuild": "make model",
        "calibration": f"{len(calib)} aligned LFW crops of identities not in {Path(parity_pairs).name}",
    })
    save_card(card, out)  # provisional card so the int8 model can be loaded for parity

    int8_model = load_model(out)
    fa, fb, da, db = embed_pairs(float_model, pairs)
    qa, qb, _, _ = embed_pairs(int8_model, pairs)
    same = np.array([p.same for p in pairs])
    folds = pair_folds(pairs)
    metrics = {"parity": parity(np.r_[fa, fb], np.r_[qa, qb])}
    for scoring in ("cosine", "head"):
        f = verification_report(pair_scores(fa, fb, card, scoring), same, folds)
        q = verification_report(pair_scores(qa, qb, card, scoring), same, folds)
        metrics[f"lfw_{scoring}"] = {"float": f["accuracy_mean"], "float_std": f["accuracy_std"],
                                     "int8": q["accuracy_mean"], "int8_std": q["accuracy_std"],
                                     "int8_auc": q["auc"], "int8_tar_at_far": q["tar_at_far"]}
    metrics["lfw_pairs"] = Path(parity_pairs).name
    metrics["n_detect_failed"] = int((~da | ~db).sum())
    card = ModelCard(**{**card.__dict__, "metrics": metrics})
    save_card(card, out)
    Embedder(out)  # the shipped pair must load on the device runtime
    print(json.dumps(metrics, indent=2))
    return card
