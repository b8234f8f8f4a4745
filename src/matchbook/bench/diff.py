"""``matchbook bench diff A.json B.json``: two result files, figure by figure.

For each figure both files hold, the change from A to B and a verdict. A change counts
only beyond the noise: the larger of ``--noise`` (10% by default) and the spread of the
figure's own runs in either file (``(max - min) / median``, when it was measured more
than once). Beyond it, a change in the figure's better direction (see
``results.direction``) is ``better``; in the other, a ``REGRESSION``. A figure without a
direction (a count, a share) is only shown. A section whose correctness check passed in
A and not in B is a regression whatever its figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matchbook.bench.results import direction

DEFAULT_NOISE = 0.10


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    figure: str
    a: float | None
    b: float | None
    change: float | None  # (b - a) / |a|
    noise: float
    verdict: str  # better, worse within noise ("same"), REGRESSION, new, gone, info, check


def _spread(runs: Any) -> float:
    if not isinstance(runs, list) or len(runs) < 2:
        return 0.0
    values = sorted(float(v) for v in runs)
    middle = values[len(values) // 2]
    return (values[-1] - values[0]) / abs(middle) if middle else 0.0


def diff(a: dict[str, Any], b: dict[str, Any], noise: float = DEFAULT_NOISE) -> list[Row]:
    """Every figure of the sections both ``a`` and ``b`` (validated result files) hold,
    section by section in ``a``'s order; a figure only one of them has is ``new`` or
    ``gone``."""
    rows: list[Row] = []
    sections_a, sections_b = a["sections"], b["sections"]
    for name in [n for n in sections_a if n in sections_b]:  # see meta_warnings for the rest
        sa, sb = sections_a.get(name), sections_b.get(name)
        figures_a = sa["figures"] if sa else {}
        figures_b = sb["figures"] if sb else {}
        for figure in [*figures_a, *(f for f in figures_b if f not in figures_a)]:
            va, vb = figures_a.get(figure), figures_b.get(figure)
            if va is None or vb is None:
                rows.append(Row(name, figure, va, vb, None, noise,
                                "new" if va is None else "gone"))
                continue
            band = max(noise, _spread((sa or {}).get("runs", {}).get(figure)),
                       _spread((sb or {}).get("runs", {}).get(figure)))
            change = (vb - va) / abs(va) if va else (0.0 if vb == va else float("inf"))
            way = direction(figure)
            if way == 0:
                verdict = "info"
            elif abs(change) <= band:
                verdict = "same"
            elif change * way > 0:
                verdict = "better"
            else:
                verdict = "REGRESSION"
            rows.append(Row(name, figure, va, vb, change, band, verdict))
        check_a = (sa or {}).get("check") or {}
        check_b = (sb or {}).get("check") or {}
        if check_b and not check_b.get("passed", True):
            rows.append(Row(name, "correctness check", 1.0 if check_a.get("passed") else 0.0,
                            0.0, None, 0.0, "REGRESSION" if check_a.get("passed") else
                            "check"))
    return rows


def regressions(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.verdict == "REGRESSION"]


def meta_warnings(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What makes the two files less comparable: another machine, a quick run against
    a full one, a busy machine."""
    warnings = []
    ma, mb = a["meta"], b["meta"]
    for key in ("cpu_model", "cores", "python"):
        if ma.get(key) != mb.get(key):
            warnings.append(f"{key} differs: {ma.get(key)} / {mb.get(key)}")
    if ma.get("quick") != mb.get("quick"):
        warnings.append("one run is --quick and the other is not: the workloads differ")
    for name in (n for n in a["sections"] if n in b["sections"]):
        if a["sections"][name].get("workload") != b["sections"][name].get("workload"):
            warnings.append(f"section {name}: the workloads differ")
    only_a = [n for n in a["sections"] if n not in b["sections"]]
    only_b = [n for n in b["sections"] if n not in a["sections"]]
    if only_a or only_b:
        warnings.append("not compared: sections only in "
                        + "; only in ".join(f"{label} ({', '.join(names)})" for label, names in
                                            (("A", only_a), ("B", only_b)) if names))
    for label, meta in (("A", ma), ("B", mb)):
        loads = [v for v in (meta.get("load_average") or {}).get("start", [])[:1]]
        cores = meta.get("cores") or 1
        if loads and loads[0] > cores:
            warnings.append(f"{label} ran on a busy machine (load average {loads[0]} on "
                            f"{cores} cores)")
    return warnings
