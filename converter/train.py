"""``siamese-edge train``: the seed's recipe — same/different pairs, binary cross-entropy.

* Identity-disjoint: identities of every ``--exclude-pairs`` file are removed before anything else,
  and 10 % of the remaining identities are held out for validation pairs.
* Pairs as the seed samples them: half same-person, half different-person — and half of the
  different-person pairs are hard negatives (the most similar other person among a random pool).
* Crops come from edge's preprocessing (:mod:`converter.crops`), the one path the device uses.
* Modes: ``head`` (branch frozen: embeddings computed once, with mirrored copies as augmentation,
  and only the L1 + sigmoid head is trained), ``finetune`` (whole net, from ``--init``), ``scratch``.
* Fixed seeds; a checkpoint after every epoch; ``--resume`` continues from it; a JSON-lines log.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converter.crops import crop_images
from converter.lfw import identity_folders, pair_identities, read_pairs
from converter.pretrained import provenance_path
from converter.quantize import DEFAULT_ALIGNMENT
from edge.errors import DataFileError
from edge.vision.embedder import flip_average, l2_normalize

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    branch: str
    mode: str
    data: Path
    out: Path
    init: Path | None = None
    exclude_pairs: list[str] = field(default_factory=list)
    epochs: int = 5
    steps: int = 200
    batch: int = 32
    lr: float = 1e-3
    seed: int = 1
    resume: bool = False
    max_identities: int = 0
    val_fraction: float = 0.1


@dataclass
class Split:
    paths: list[Path]
    labels: np.ndarray  # identity index per path
    train_ids: np.ndarray
    val_ids: np.ndarray


def make_split(cfg: TrainConfig) -> Split:
    """Identity-disjoint train/validation split after removing every excluded identity."""
    folders = identity_folders(cfg.data)
    excluded: set[str] = set()
    for f in cfg.exclude_pairs:
        excluded |= pair_identities(read_pairs(f, cfg.data))
    names = sorted(n for n in folders if n not in excluded)
    rng = random.Random(cfg.seed)
    rng.shuffle(names)
    if cfg.max_identities:
        names = names[:cfg.max_identities]
    paths, labels = [], []
    for i, n in enumerate(names):
        paths += folders[n]
        labels += [i] * len(folders[n])
    multi = [i for i, n in enumerate(names) if len(folders[n]) >= 2]
    if len(names) < 3 or len(multi) < 2:  # same pairs to train on and to validate, and other people
        raise DataFileError(f"{cfg.data}: training needs at least three people, two of them with two or more "
                            f"photos (found {len(names)} people, {len(multi)} with two or more)")
    n_val = max(1, int(len(multi) * cfg.val_fraction))
    val = set(multi[:n_val])
    train_ids = np.array([i for i in range(len(names)) if i not in val])
    log.info("training on %d identities (%d images); %d held out for validation; %d excluded",
             len(train_ids), len(paths), len(val), len(excluded))
    return Split(paths, np.array(labels), train_ids, np.array(sorted(val)))


class PairSampler:
    """50 % same-person pairs; of the different-person pairs, half random and half hard."""

    def __init__(self, labels: np.ndarray, ids: np.ndarray, seed: int, embeddings: np.ndarray | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        allowed = np.isin(labels, ids)
        self.index = np.flatnonzero(allowed)
        self.labels = labels
        by_id: dict[int, list[int]] = {}
        for i in self.index:
            by_id.setdefault(int(labels[i]), []).append(int(i))
        self.multi = [v for v in by_id.values() if len(v) >= 2]
        self.emb = embeddings

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index arrays ``(a, b)`` and labels ``y`` (1 = same person)."""
        n_pos = n // 2
        a, b = [], []
        for _ in range(n_pos):
            imgs = self.multi[self.rng.integers(len(self.multi))]
            i, j = self.rng.choice(len(imgs), 2, replace=False)
            a.append(imgs[i])
            b.append(imgs[j])
        for k in range(n - n_pos):
            i = int(self.rng.choice(self.index))
            pool = self.rng.choice(self.index, 64)
            pool = pool[self.labels[pool] != self.labels[i]]
            if k % 2 and self.emb is not None and len(pool):
                j = int(pool[np.argmax(self.emb[pool] @ self.emb[i])])  # hard negative
            else:
                j = int(pool[0]) if len(pool) else int(self.rng.choice(self.index))
            a.append(i)
            b.append(j)
        y = np.r_[np.ones(n_pos), np.zeros(n - n_pos)].astype(np.float32)
        return np.array(a), np.array(b), y


def augment(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror, brightness/contrast jitter and a ±4 px shift — changes a real camera would make."""
    out = crops.astype(np.float32)
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    gain = rng.uniform(0.8, 1.2, (len(out), 1, 1, 1))
    bias = rng.uniform(-20, 20, (len(out), 1, 1, 1))
    out = np.clip(out * gain + bias, 0, 255)
    dx, dy = rng.integers(-4, 5, 2)
    return np.roll(out, (int(dy), int(dx)), axis=(1, 2))


def _checkpoint_paths(out: Path) -> tuple[Path, Path]:
    return out.with_suffix(".ckpt.keras"), out.with_suffix(".ckpt.json")


def _load_or_build(cfg: TrainConfig):
    """The Siamese model to train and the epoch to start from (a checkpoint resumes where it stopped)."""
    import keras

    from converter.model import build_siamese

    ckpt, ckpt_state = _checkpoint_paths(cfg.out)
    if cfg.resume and ckpt.is_file():
        start_epoch = json.loads(ckpt_state.read_text())["epoch"]
        log.info("resuming from %s after epoch %d", ckpt, start_epoch)
        return keras.models.load_model(ckpt), start_epoch
    if cfg.mode == "scratch":
        return build_siamese(cfg.branch), 0
    if cfg.init is None:
        raise SystemExit(f"--mode {cfg.mode} needs --init (e.g. models/build/resnet29_pretrained.keras)")
    return keras.models.load_model(cfg.init), 0


def _head_only(cfg: TrainConfig, siamese, branch, crops: np.ndarray, rng: np.random.Generator):
    """``--mode head``: embed every crop once with the frozen branch, train the L1 + sigmoid head on
    pairs of embeddings. Returns the model to fit, its batch function and the hard-negative space."""
    import keras

    from converter.model import L1Distance

    branch.trainable = False
    raw = np.asarray(branch.predict(crops.astype(np.float32), batch_size=64, verbose=0))
    raw_flip = np.asarray(branch.predict(crops[:, :, ::-1].astype(np.float32), batch_size=64, verbose=0))
    if cfg.branch == "resnet29":  # its card averages each face with its mirror image: train on that
        emb = emb_flip = flip_average(raw, raw_flip)
    else:  # otherwise the mirror image is an augmentation
        emb, emb_flip = l2_normalize(raw), l2_normalize(raw_flip)
    ea = keras.Input((emb.shape[1],))
    eb = keras.Input((emb.shape[1],))
    model = keras.Model([ea, eb], siamese.get_layer("head")(L1Distance()([ea, eb])))

    def data(sampler: PairSampler, n: int):
        a, b, y = sampler.batch(n)
        fa = np.where(rng.random((len(a), 1)) < 0.5, emb[a], emb_flip[a])
        fb = np.where(rng.random((len(b), 1)) < 0.5, emb[b], emb_flip[b])
        return [fa, fb], y
    return model, data, emb


def _whole_network(cfg: TrainConfig, siamese, branch, crops: np.ndarray, rng: np.random.Generator):
    """``--mode scratch|finetune``: augmented pixel pairs through both branches."""
    def data(sampler: PairSampler, n: int):
        a, b, y = sampler.batch(n)
        return [augment(crops[a], rng), augment(crops[b], rng)], y
    hard = None
    if cfg.mode == "finetune":
        hard = l2_normalize(np.asarray(branch.predict(crops.astype(np.float32), batch_size=64, verbose=0)))
    return siamese, data, hard


def _fit(cfg: TrainConfig, siamese, model, data, train_s: PairSampler, val_s: PairSampler,
         start_epoch: int) -> list[dict]:
    """Epochs of ``steps`` batches with a progress bar; after each, validation, a JSON line in the
    log and a checkpoint (so ``--resume`` continues after a crash)."""
    import keras

    ckpt, ckpt_state = _checkpoint_paths(cfg.out)
    log_path = cfg.out.with_suffix(".log.jsonl")
    val_x, val_y = data(val_s, 512)
    history = []
    for epoch in range(start_epoch, cfg.epochs):
        prog = keras.utils.Progbar(cfg.steps, stateful_metrics=["loss", "accuracy"])
        for step in range(cfg.steps):
            x, y = data(train_s, cfg.batch)
            loss, acc = model.train_on_batch(x, y)
            prog.update(step + 1, [("loss", float(loss)), ("accuracy", float(acc))])
        val_loss, val_acc = model.evaluate(val_x, val_y, verbose=0, batch_size=64)
        row = {"epoch": epoch + 1, "loss": float(loss), "accuracy": float(acc), "val_loss": float(val_loss),
               "val_accuracy": float(val_acc)}
        history.append(row)
        print(json.dumps(row))
        with open(log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        siamese.save(ckpt)
        ckpt_state.write_text(json.dumps({"epoch": epoch + 1}))
    return history


def train(cfg: TrainConfig):
    import keras

    from converter.model import BRANCH_INPUT, branch_of

    keras.utils.set_random_seed(cfg.seed)
    siamese, start_epoch = _load_or_build(cfg)
    branch = branch_of(siamese)
    size = int(branch.input_shape[1])
    spec = DEFAULT_ALIGNMENT.get(cfg.branch, DEFAULT_ALIGNMENT["resnet29"])
    if spec.size != size:
        raise SystemExit(f"branch input {size} does not match the {cfg.branch} alignment size {spec.size}")
    if size != BRANCH_INPUT.get(cfg.branch, size):
        log.warning("branch %s has input %d", cfg.branch, size)
    split = make_split(cfg)
    crops, _ = crop_images(split.paths, spec, "RGB", desc="training crops")
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed + start_epoch)
    prepare = _head_only if cfg.mode == "head" else _whole_network
    model, data, hard = prepare(cfg, siamese, branch, crops, rng)
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr), loss="binary_crossentropy", metrics=["accuracy"])
    train_s = PairSampler(split.labels, split.train_ids, cfg.seed + 1000 * start_epoch, hard)
    val_s = PairSampler(split.labels, split.val_ids, cfg.seed + 999, hard)
    history = _fit(cfg, siamese, model, data, train_s, val_s, start_epoch)
    tmp = cfg.out.with_name(cfg.out.stem + ".part.keras")
    siamese.save(tmp)
    tmp.replace(cfg.out)
    if cfg.init is not None and provenance_path(Path(cfg.init)).is_file():  # the weights' origin travels on
        shutil.copyfile(provenance_path(Path(cfg.init)), provenance_path(cfg.out))
    log.info("saved %s", cfg.out)
    return siamese, history
