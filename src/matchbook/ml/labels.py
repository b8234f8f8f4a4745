"""Labels of ``ML.md``, and where each label's information ends.

A label is computed over the *valid* rows of one session (two-sided book, not halted)
and never crosses into another session. With every label comes ``end``: the index of
the last row whose information it uses, so a split can purge training samples whose
label reaches past a boundary.

* ``next-mid`` (A, the headline): the sign of the next change of the mid after event
  ``n``: +1 up, -1 down; no label when the mid never moves again in the session.
* ``kK`` for K in 10, 50, 100 (B): the mid change from ``n`` to the K-th valid row after
  it, in three classes: -1 below ``-theta``, +1 above ``theta``, 0 between. ``theta``
  is given; ``balanced_threshold`` picks the one that makes the three classes about
  equal on the rows it is given (training rows only).
* ``kK-spread``: as ``kK`` with ``theta`` = the spread at ``n`` (ticks): up or down
  only when the mid moves by more than what a taker pays to cross the spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matchbook.ml.features import SessionArrays

LABELS = ("next-mid", "k10", "k50", "k100", "k10-spread", "k50-spread", "k100-spread")


class LabelError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LabelSpec:
    name: str
    horizon: int  # 0 = next change (unbounded)
    spread_threshold: bool

    @property
    def classes(self) -> tuple[int, ...]:
        return (-1, 1) if self.horizon == 0 else (-1, 0, 1)


def parse_label(name: str) -> LabelSpec:
    if name == "next-mid":
        return LabelSpec(name, 0, False)
    base, _, suffix = name.partition("-")
    if name in LABELS and base.startswith("k"):
        return LabelSpec(name, int(base[1:]), suffix == "spread")
    raise LabelError(f"unknown label {name!r}; one of {', '.join(LABELS)}")


def next_mid(s: SessionArrays) -> tuple[np.ndarray, np.ndarray]:
    """(label, end) for every row: label in {-1, +1} or 0 where there is none; ``end``
    the row index of the next mid change (-1: none)."""
    n = s.seq.size
    label = np.zeros(n, dtype=np.int8)
    end = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(s.valid)
    if rows.size < 2:
        return label, end
    mids = s.mid2[rows]
    change = np.flatnonzero(mids[1:] != mids[:-1]) + 1  # positions within ``rows``
    if not change.size:
        return label, end
    nxt = np.searchsorted(change, np.arange(rows.size), side="right")
    has = nxt < change.size
    target = change[np.minimum(nxt, change.size - 1)]
    sign = np.sign(mids[target] - mids).astype(np.int8)
    label[rows[has]] = sign[has]
    end[rows[has]] = rows[target[has]]
    return label, end


def horizon_move(s: SessionArrays, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(move in ticks over the next k valid rows, end row, has-label mask)."""
    n = s.seq.size
    move = np.zeros(n, dtype=np.float64)
    end = np.full(n, -1, dtype=np.int64)
    has = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(s.valid)
    if rows.size > k:
        src, dst = rows[:-k], rows[k:]
        move[src] = (s.mid2[dst] - s.mid2[src]) / 2.0
        end[src] = dst
        has[src] = True
    return move, end, has


def three_class(move: np.ndarray, theta: np.ndarray | float) -> np.ndarray:
    return np.where(move > theta, 1, np.where(move < -theta, -1, 0)).astype(np.int8)


def balanced_threshold(moves: np.ndarray) -> float:
    """The |move| below which a third of the given moves lie (the flat class), so up,
    flat and down come out about equal."""
    if not moves.size:
        return 0.0
    return float(np.quantile(np.abs(moves), 1 / 3))
