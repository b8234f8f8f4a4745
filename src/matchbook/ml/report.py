"""The readable evaluation report (rich tables) and its plots (matplotlib PNGs):
confusion matrix of the chosen model, calibration of every model, accuracy by test
session, feature importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from matchbook.ml.evaluate import Details


def print_report(result: dict[str, Any], console: Console, title: str = "") -> None:
    best = result["best"]
    console.rule(f"[bold]{title or 'evaluation'}[/bold]: label {result['label']}")
    console.print(f"{result['protocol']['split']}; {result['n_train']:,} training events, "
                  f"{result['n_test']:,} test events in {result['protocol']['test_blocks']} "
                  f"bootstrap blocks", highlight=False)
    table = Table(title="held-out test results")
    for col in ("", "accuracy", "95% CI", "balanced acc.", "macro-F1", "MCC", "Brier", "n"):
        table.add_column(col, justify="left" if not col else "right")
    rows = [("baseline", n, m) for n, m in result["baselines"].items()] + [
        ("model", n, m) for n, m in result["models"].items()]
    for kind, name, m in rows:
        mark = " [green]<- chosen[/green]" if name in (best["name"], best["best_baseline"]) else ""
        table.add_row(f"{kind}: {name}{mark}", f"{m['accuracy']:.2%}",
                      f"{m['ci_low']:.2%} .. {m['ci_high']:.2%}",
                      f"{m['balanced_accuracy']:.2%}", f"{m['macro_f1']:.3f}",
                      f"{m['mcc']:.3f}", f"{m['brier']:.4f}", f"{m['n']:,}")
    console.print(table)
    lead_ok = best["lead_ci_low"] > 0
    console.print(
        f"chosen on {best['chosen_on']}: [bold]{best['name']}[/bold] {best['accuracy']:.2%} "
        f"(95% CI {best['ci_low']:.2%} .. {best['ci_high']:.2%}) against the best baseline "
        f"{best['best_baseline']} {best['best_baseline_accuracy']:.2%}: lead "
        f"{best['lead']:+.2%} (95% CI {best['lead_ci_low']:+.2%} .. {best['lead_ci_high']:+.2%}"
        f", {'excludes' if lead_ok else 'includes'} 0); McNemar p = "
        f"{best['p_vs_best_baseline']:.2g}, block-bootstrap p = "
        f"{best['p_vs_best_baseline_bootstrap']:.3g}; vs chance "
        f"{best['chance']:.0%}: p = {best['p_vs_chance']:.2g}", highlight=False)


def plot_all(result: dict[str, Any], details: Details, out: Path, prefix: str = "") -> list[Path]:
    """Write the four PNGs into ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    best = result["best"]["name"]
    classes = details.classes
    labels = [{-1: "down", 0: "flat", 1: "up"}.get(int(c), str(c)) for c in classes]

    # confusion matrix of the chosen model
    conf = np.asarray(result["models"][best]["confusion"], dtype=float)
    share = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{share[i, j]:.1%}\n{int(conf[i, j]):,}", ha="center",
                    va="center", fontsize=8)
    ax.set_xticks(range(len(classes)), labels)
    ax.set_yticks(range(len(classes)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"{best}: confusion (row shares)")
    paths.append(_save(fig, out / f"{prefix}confusion.png"))

    # calibration: predicted probability of the top class vs how often it was right
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in details.proba.items():
        conf_top = p.max(axis=1)
        right = classes[np.argmax(p, axis=1)] == details.y_test
        bins = np.linspace(conf_top.min(), conf_top.max() + 1e-9, 11)
        which = np.digitize(conf_top, bins) - 1
        xs, ys = [], []
        for b in range(10):
            sel = which == b
            if sel.sum() >= 50:
                xs.append(conf_top[sel].mean())
                ys.append(right[sel].mean())
        ax.plot(xs, ys, marker="o", markersize=3, label=name)
    ax.set_xlabel("predicted probability of the predicted class")
    ax.set_ylabel("observed accuracy")
    ax.set_title("calibration (test events)")
    ax.legend(fontsize=7)
    paths.append(_save(fig, out / f"{prefix}calibration.png"))

    # accuracy by test session (or time block)
    uniq, dense = np.unique(details.blocks, return_inverse=True)
    fig, ax = plt.subplots(figsize=(max(6, len(uniq) * 0.3), 4))
    for name in (best, result["best"]["best_baseline"], "majority"):
        p = details.proba[name]
        right = (classes[np.argmax(p, axis=1)] == details.y_test).astype(float)
        acc = np.bincount(dense, right, minlength=uniq.size) / np.maximum(
            np.bincount(dense, minlength=uniq.size), 1)
        ax.plot(range(uniq.size), acc, marker="o", markersize=3, label=name)
    ax.axhline(1 / len(classes), color="grey", linestyle=":")
    ax.set_xticks(range(uniq.size), details.block_names, rotation=90, fontsize=6)
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy by test session")
    ax.legend(fontsize=7)
    paths.append(_save(fig, out / f"{prefix}accuracy_by_session.png"))

    # feature importance
    fig, axes = plt.subplots(1, 2, figsize=(10, 6))
    for ax, name in zip(axes, ("lightgbm", "logistic"), strict=True):
        imp = details.importance.get(name)
        if imp is None:
            continue
        order = np.argsort(imp)
        ax.barh(np.asarray(details.feature_names)[order], imp[order] / max(imp.max(), 1e-12))
        ax.set_title(f"{name}: {'total gain' if name == 'lightgbm' else '|coefficient|'}")
        ax.tick_params(labelsize=7)
    paths.append(_save(fig, out / f"{prefix}feature_importance.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
