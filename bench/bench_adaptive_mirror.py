"""The adaptive mirror: how wide a band around the decision rule must a probe's crop-alone score
fall in for the mirror image to be embedded too, so that decisions equal the always-mirrored ones?

Embeddings of every face are computed both ways (crop alone, crop + mirror averaged) through the
device's Embedder and the shared preprocessing (crops cached by ``converter.crops``). Enrolled photos
are always mirror-averaged (enrolment keeps the mirror). For each band width:

* LFW ``pairs.txt`` (10 folds, 6,000 pairs; the second image plays the enrolled photo): accuracy
  with the band centred on each fold's own threshold (the protocol's operating point), and the share
  of pairs whose decision at the card's threshold equals the always-mirrored one;
* the open-set protocol of the shipped card (300 enrolled people × 3 photos, their other photos and
  1,000 strangers, identities of ``pairs.txt`` only): DIR at FAR 1 % and at the shipped rule, and the
  share of probes whose decision (name or unknown) equals the always-mirrored one;
* the share of probes that needed the mirror pass (the cost).

The chosen band is the narrowest whose decisions agree on ≥ 99.5 % of probes in both sets.

    .venv/bin/python bench/bench_adaptive_mirror.py --json docs/results/bench_adaptive_mirror.json --write-card
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from converter.crops import crop_images  # noqa: E402
from converter.evaluate import pair_folds  # noqa: E402
from converter.lfw import read_pairs  # noqa: E402
from converter.metrics import best_threshold, ten_fold  # noqa: E402
from converter.openset import choose_protocol, person_scores, score_rule, top2  # noqa: E402
from edge.vision.assets import shipped_model  # noqa: E402
from edge.vision.card import load_card, save_card  # noqa: E402
from edge.vision.embedder import Embedder  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
LFW = SHARED / "datasets/lfw"
BANDS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05)
AGREEMENT = 0.995


def both_ways(embedder: Embedder, crops: np.ndarray, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """(crop alone, mirror-averaged) unit embeddings."""
    single = np.concatenate([embedder.embed(crops[i:i + 1], mirror=False)
                             for i in tqdm(range(len(crops)), desc=desc + " (crop alone)", unit="img")])
    full = np.concatenate([embedder.with_mirror(crops[i:i + 1], single[i:i + 1])
                           for i in tqdm(range(len(crops)), desc=desc + " (mirror)", unit="img")])
    return single, full


def lfw_part(embedder: Embedder) -> dict:
    card = embedder.card
    pairs = read_pairs(LFW / "pairs.txt", LFW / "lfw-deepfunneled")
    images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    crops, _ = crop_images(images, card.alignment, card.colour)
    single, full = both_ways(embedder, crops, "LFW pairs")
    index = {p: i for i, p in enumerate(images)}
    ia, ib = np.array([index[p.a] for p in pairs]), np.array([index[p.b] for p in pairs])
    same, folds = np.array([p.same for p in pairs]), pair_folds(pairs)
    s_full = np.einsum("ij,ij->i", full[ia], full[ib])
    s_single = np.einsum("ij,ij->i", single[ia], full[ib])
    t_card = card.decision.threshold
    rows = []
    for band in BANDS:
        accs, mirrored = [], []
        for k in np.unique(folds):
            train, test = folds != k, folds == k
            t = best_threshold(s_full[train], same[train])  # the protocol's threshold for this fold
            close = np.abs(s_single[test] - t) < band
            s = np.where(close, s_full[test], s_single[test])
            accs.append(float(((s >= t) == same[test]).mean()))
            mirrored.append(float(close.mean()))
        close_card = np.abs(s_single - t_card) < band
        s_card = np.where(close_card, s_full, s_single)
        rows.append({"band": band, "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
                     "mirrored_share_at_fold_thresholds": float(np.mean(mirrored)),
                     "agreement_at_card_threshold": float(((s_card >= t_card) == (s_full >= t_card)).mean()),
                     "mirrored_share_at_card_threshold": float(close_card.mean())})
    return {"pairs": len(pairs), "always_mirrored_accuracy": ten_fold(s_full, same, folds)["accuracy_mean"],
            "rows": rows}


def decisions(top: np.ndarray, best: np.ndarray, second: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    """The person index accepted for each probe, or -1 for unknown."""
    return np.where((best >= threshold) & (best - second >= margin), top, -1)


def openset_part(embedder: Embedder) -> dict:
    card = embedder.card
    meta = card.metrics.get("openset", {})
    proto = choose_protocol(LFW / "lfw-deepfunneled", (), [LFW / "pairs.txt"], meta.get("n_enrolled", 300),
                            meta.get("photos_per_person", 3), meta.get("n_unknown_probes", 1000), 1)
    paths = proto.gallery_paths + proto.probe_paths + proto.unknown_paths
    crops, _ = crop_images(paths, card.alignment, card.colour)
    n_g, n_k = len(proto.gallery_paths), len(proto.probe_paths)
    gallery = embedder.embed(crops[:n_g])  # enrolment: always mirror-averaged
    single, full = both_ways(embedder, crops[n_g:], "open-set probes")
    owners, truth, people = np.array(proto.owners), np.array(proto.probe_owner), len(proto.enrolled)
    d = card.decision
    scores = {kind: person_scores(e, gallery, owners, people, card, d.scoring) for kind, e in
              (("single", single), ("full", full))}
    tops = {kind: top2(s) for kind, s in scores.items()}
    want = decisions(*tops["full"], d.threshold, d.margin)
    rows = []
    for band in BANDS:
        _, b1, b2 = tops["single"]
        close = np.array([d.close_call(float(x), float(y), band) for x, y in zip(b1, b2, strict=True)])
        mixed = np.where(close[:, None], scores["full"], scores["single"])
        got = decisions(*top2(mixed), d.threshold, d.margin)
        entry, _ = score_rule(d.scoring, mixed[:n_k], mixed[n_k:], truth, 0.01)
        rows.append({"band": band, "agreement": float((got == want).mean()), "mirrored_share": float(close.mean()),
                     "dir_at_far_1pct": entry["dir_at_far"]["0.01"]["with_margin"],
                     "dir_at_shipped_rule": float((got[:n_k] == truth).mean()),
                     "far_at_shipped_rule": float((got[n_k:] >= 0).mean())})
    always, _ = score_rule(d.scoring, scores["full"][:n_k], scores["full"][n_k:], truth, 0.01)
    return {"known_probes": n_k, "unknown_probes": len(proto.unknown_paths),
            "always_mirrored": {"dir_at_far_1pct": always["dir_at_far"]["0.01"]["with_margin"],
                                "dir_at_shipped_rule": float((want[:n_k] == truth).mean()),
                                "far_at_shipped_rule": float((want[n_k:] >= 0).mean())},
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--write-card", action="store_true", help="store the chosen band as decision.mirror_band")
    args = ap.parse_args()
    model = args.model or shipped_model()
    embedder = Embedder(model)
    lfw, openset = lfw_part(embedder), openset_part(embedder)
    ok = [b for b, lr, orow in zip(BANDS, lfw["rows"], openset["rows"], strict=True)
          if lr["agreement_at_card_threshold"] >= AGREEMENT and orow["agreement"] >= AGREEMENT]
    chosen = min(ok) if ok else None
    report = {"command": "bench/bench_adaptive_mirror.py " + " ".join(sys.argv[1:]), "model": str(model),
              "agreement_target": AGREEMENT, "chosen_band": chosen, "lfw": lfw, "openset": openset}
    for lr, orow in zip(lfw["rows"], openset["rows"], strict=True):
        print(f"band {lr['band']:.3f}: LFW {lr['accuracy_mean']:.4f} "
              f"(mirrored {lr['mirrored_share_at_fold_thresholds']:.3f}), "
              f"agree {lr['agreement_at_card_threshold']:.4f}; open set DIR@1% {orow['dir_at_far_1pct']:.4f}, "
              f"agree {orow['agreement']:.4f}, mirrored {orow['mirrored_share']:.3f}")
    print(f"always mirrored: LFW {lfw['always_mirrored_accuracy']:.4f}, open set DIR@1% "
          f"{openset['always_mirrored']['dir_at_far_1pct']:.4f}; chosen band {chosen}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.write_card and chosen is not None:
        card = load_card(model)
        save_card(dataclasses.replace(card, decision=dataclasses.replace(card.decision, mirror_band=chosen)), model)
        print(f"decision.mirror_band = {chosen} written to {model.with_suffix('.json')}")


if __name__ == "__main__":
    main()
