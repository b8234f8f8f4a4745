"""Plots of the realism report (matplotlib, written as PNG files, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def _band(ax: Any, x: np.ndarray, curves: np.ndarray, label: str) -> None:
    """Median of ``curves`` (seeds x points) with its 5-95% band."""
    curves = np.asarray(curves, dtype=np.float64)
    ax.fill_between(x, np.nanpercentile(curves, 5, axis=0), np.nanpercentile(curves, 95, axis=0),
                    alpha=0.25, label="5-95% of seeds")
    ax.plot(x, np.nanmedian(curves, axis=0), label=label)


def plot_facts(per_seed: list[dict[str, Any]], report: dict[str, Any], path: Path,
               title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(20, 9))
    axes = axes.ravel()
    verdict = {int(k): v["verdict"] for k, v in report["facts"].items()}

    def titled(ax: Any, fact: int) -> None:
        ax.set_title(f"{fact}. {report['facts'][str(fact)]['title']}: {verdict[fact]}",
                     fontsize=10, color={"PASS": "green", "FAIL": "red"}.get(
                         verdict[fact], "black"))

    lags = np.arange(1, 11)
    _band(axes[0], lags, [s[1]["curve"] for s in per_seed], "ACF of 1-min returns")
    threshold = float(np.median([s[1]["threshold"] for s in per_seed]))
    for sign in (1, -1):
        axes[0].axhline(sign * threshold, color="grey", ls="--")
    axes[0].set_xlabel("lag (minutes)")
    titled(axes[0], 1)

    kurt = [s[2]["excess_kurtosis"] for s in per_seed]
    alpha = [s[2]["hill_alpha"] for s in per_seed]
    axes[1].scatter(kurt, alpha)
    axes[1].axvline(3, color="grey", ls="--")
    axes[1].axhspan(2, 5, color="green", alpha=0.1)
    axes[1].set_xlabel("excess kurtosis (1 min)")
    axes[1].set_ylabel("Hill tail index")
    titled(axes[1], 2)

    scales = np.array([1, 5, 15, 30])
    _band(axes[2], scales, [s[3]["curve"] for s in per_seed], "excess kurtosis")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("aggregation (minutes)")
    titled(axes[2], 3)

    lags30 = np.arange(1, 31)
    _band(axes[3], lags30, [np.clip(s[4]["curve"], 1e-4, None) for s in per_seed], "ACF of |r|")
    axes[3].set_xscale("log")
    axes[3].set_yscale("log")
    axes[3].set_xlabel("lag (minutes)")
    titled(axes[3], 4)

    taus = np.arange(1, 1001)
    _band(axes[4], taus, [np.clip(s[5]["curve"], 1e-5, None) for s in per_seed],
          "sign autocorrelation C(tau)")
    axes[4].set_xscale("log")
    axes[4].set_yscale("log")
    axes[4].axvspan(5, 500, color="grey", alpha=0.08)
    axes[4].set_xlabel("tau (trades)")
    titled(axes[4], 5)

    for s in per_seed:
        bx, by = np.asarray(s[6]["bins_x"]), np.asarray(s[6]["bins_y"])
        keep = by > 0
        if keep.any():
            axes[5].plot(bx[keep], by[keep], "o-", alpha=0.35, ms=3)
    if any(len(s[6]["bins_x"]) for s in per_seed):
        x = np.logspace(-5, -2, 10)
        axes[5].plot(x, 0.5 * np.sqrt(x), "k--", label="square root")
        axes[5].set_xscale("log")
        axes[5].set_yscale("log")
        axes[5].legend(fontsize=8)
    axes[5].set_xlabel("Q / daily volume")
    axes[5].set_ylabel("impact / daily sigma")
    titled(axes[5], 6)

    corr = [s[7]["corr"] for s in per_seed]
    axes[6].hist([c for c in corr if not math.isnan(c)], bins=15)
    axes[6].axvline(0.3, color="grey", ls="--")
    axes[6].set_xlabel("corr(|r|, volume) per seed")
    titled(axes[6], 7)

    depth_bid = np.nanmean([s[8]["depth_bid"] for s in per_seed], axis=0)
    depth_ask = np.nanmean([s[8]["depth_ask"] for s in per_seed], axis=0)
    levels = np.arange(1, len(depth_bid) + 1)
    axes[7].bar(-levels, depth_bid, color="tab:green", label="bids")
    axes[7].bar(levels, depth_ask, color="tab:red", label="asks")
    spread = float(np.nanmedian([s[8]["spread_mean_ticks"] for s in per_seed]))
    axes[7].set_xlabel(f"level (mean spread {spread:,.0f} ticks)")
    axes[7].set_ylabel("mean depth (lots)")
    axes[7].legend(fontsize=8)
    titled(axes[7], 8)

    for ax in axes[:5]:
        ax.legend(fontsize=7)
    fig.suptitle(f"Matchbook simulator realism report: {title}, {len(per_seed)} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
