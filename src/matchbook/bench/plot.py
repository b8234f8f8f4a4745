"""Latency percentiles against the offered rate, from a result file's ``latency``
section (or from ``sustained.step_up`` results): one panel per transport, one line per
percentile, a log scale so the median and the tail both show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CURVES = (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p999_ms", "p99.9"),
          ("p9999_ms", "p99.99"), ("max_ms", "max"))


def plot_latency(step_ups: list[dict[str, Any]], out: Path, title: str = "") -> Path:
    """Write the PNG to ``out``; ``step_ups`` is a list of ``step_up`` results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    panels = [s for s in step_ups if s.get("steps")]
    if not panels:
        raise ValueError("no open-loop steps to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, step_up in zip(axes[0], panels, strict=True):
        steps = step_up["steps"]
        rates = [s["rate"] for s in steps]
        for key, label in CURVES:
            ax.plot(rates, [max(s["latency"][key], 0.001) for s in steps], marker="o",
                    label=label)
        limit = step_up.get("median_limit_ms")
        if limit:
            ax.axhline(limit, color="grey", linestyle="--", linewidth=1,
                       label=f"median limit {limit:g} ms")
        for s in steps:
            if not s.get("valid", True):
                ax.annotate("void" if s.get("void") else "saturated",
                            (s["rate"], s["latency"]["p50_ms"] or 0.001), fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(rates)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("offered rate (orders/s)")
        ax.set_ylabel("latency from intended send time (ms)")
        ax.set_title(f"{step_up['transport'].upper()} orders, open loop, "
                     f"{step_up.get('connections', '?')} connections")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_result(result: dict[str, Any], out: Path) -> Path:
    """The plot of a result file's ``latency`` section, titled with its commit,
    machine and load average."""
    section = result["sections"].get("latency")
    if not section or not section.get("detail"):
        raise ValueError("the result has no latency section to plot")
    meta = result["meta"]
    title = (f"matchbook {meta['commit'][:10]}{' (dirty)' if meta.get('dirty') else ''}, "
             f"{meta['cpu_model']}, {meta['cores']} cores, Python {meta['python']}, "
             f"load average {meta['load_average'].get('start', [''])[0]} at start")
    return plot_latency(section["detail"], out, title)
