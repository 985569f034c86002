"""ROC curves and score histograms as PNG (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from converter.metrics import roc  # noqa: E402


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, (scores, same) in curves.items():
        far, tar = roc(scores, same)
        ax.plot(np.maximum(far, 1e-4), tar, label=label)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def score_histogram(scores: np.ndarray, same: np.ndarray, threshold: float, out: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    bins = np.linspace(scores.min(), scores.max(), 60)
    ax.hist(scores[same], bins=bins, alpha=0.6, label="same person")
    ax.hist(scores[~same], bins=bins, alpha=0.6, label="different people")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3f}")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("score")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def openset_plot(curves: dict, report: dict, out: Path) -> None:
    """DIR against FAR for each scoring, with and without the chosen margin; the shipped rule marked."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for scoring, (k_top, k_best, k_second, truth, u_best, u_second) in curves.items():
        margin = report["scorings"][scoring]["chosen"]["margin"]
        for m, style in ((0.0, "-"), (margin, "--")):
            if style == "--" and m == 0.0:
                continue
            ts = np.unique(np.r_[u_best, k_best])
            fars, dirs = [], []
            for t in ts[:: max(1, len(ts) // 400)]:
                fars.append(((u_best >= t) & (u_best - u_second >= m)).mean())
                dirs.append(((k_best >= t) & (k_best - k_second >= m) & (k_top == truth)).mean())
            ax.plot(np.maximum(fars, 1e-4), dirs, style, label=f"{scoring}, margin {m:g}")
    held = report["dir_at_far"]["held_out_at_shipped_rule"]
    ax.plot([max(held["far"], 1e-4)], [held["dir"]], "k*", ms=12,
            label=f"shipped: {report['scoring']} t={report['threshold']:.3f} m={report['margin']:g} (held out)")
    ax.axvline(report["target_far"], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate (strangers accepted as someone)")
    ax.set_ylabel("detection and identification rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def oneshot_plot(report: dict, out: Path) -> None:
    """Accuracy against N for the N-way one-shot task, closed-set and with the shipped rule."""
    rows = report["rows"]
    n = [r["n_way"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for kind, label in (("closed_set", "closed set (best score)"), ("open_set", "shipped open-set rule")):
        mean = np.array([r[f"{kind}_rank1"] for r in rows])
        std = np.array([r[f"{kind}_std"] for r in rows])
        ax.errorbar(n, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.axhspan(0.75, 0.85, color="grey", alpha=0.2, label="the seed's stated 75–85 %")
    ax.set_xlabel("N (people in each trial, one photo each)")
    ax.set_ylabel("rank-1 accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(n)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(f"{report['model']}: {report['people']} people, {rows[0]['trials']} trials per N", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
