"""Samples: features and labels of every usable event, with where each came from, and
purged walk-forward splits by session (or, for one session, by time)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matchbook.ml.features import FEATURES, iter_sessions
from matchbook.ml.labels import (
    LabelSpec,
    balanced_threshold,
    horizon_move,
    next_mid,
    parse_label,
    three_class,
)
from matchbook.ml.schema import Dataset, read_meta


@dataclass(slots=True)
class Samples:
    """One row per usable event: two-sided book, not halted, with a label.

    ``y`` is final for ``next-mid`` and the spread-sized labels; for the balanced ``kK``
    labels it is set by ``fit_threshold`` on the training rows (``move`` keeps the raw
    mid change). ``index`` is the row's position within its session's events and
    ``end`` the position of the last event its label uses (for purging).
    """

    label: LabelSpec
    X: np.ndarray  # float32 (n, features)
    y: np.ndarray  # int8
    move: np.ndarray  # float64 ticks (kK labels), else the label itself
    session: np.ndarray  # int32 code into ``session_names``
    session_names: list[str]
    regimes: dict[str, str]
    seq: np.ndarray
    index: np.ndarray
    end: np.ndarray
    feature_names: tuple[str, ...] = FEATURES
    threshold: float | None = None
    notes: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.size)

    def take(self, mask: np.ndarray) -> Samples:
        return Samples(self.label, self.X[mask], self.y[mask], self.move[mask],
                       self.session[mask], self.session_names, self.regimes, self.seq[mask],
                       self.index[mask], self.end[mask], self.feature_names, self.threshold)

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.feature_names.index(name)]

    def fit_threshold(self, train_mask: np.ndarray) -> float | None:
        """For a balanced ``kK`` label: pick theta on the training rows, label all."""
        if self.label.horizon == 0 or self.label.spread_threshold:
            return None
        theta = balanced_threshold(self.move[train_mask])
        self.threshold = theta
        self.y = three_class(self.move, theta)
        return theta


def build_samples(source: Dataset | str | Path, label: str = "next-mid") -> Samples:
    """Features and the label ``label`` (see ``labels.LABELS``) of every usable event of
    a data set in memory or on disk (a directory: read one session at a time, only the
    columns features use, so the peak is the samples plus one session's book)."""
    spec = parse_label(label)
    if isinstance(source, Dataset):
        regimes = source.regimes()
    else:
        regimes = {s.session: s.regime for _, meta in read_meta(source)
                   for s in meta.sessions}
    xs, ys, moves, sess, seqs, idxs, ends = [], [], [], [], [], [], []
    names: list[str] = []
    for code, s in enumerate(iter_sessions(source)):
        names.append(s.session)
        if spec.horizon == 0:
            lab, end = next_mid(s)
            keep = s.valid & (end >= 0)
            move = lab.astype(np.float64)
        else:
            move, end, has = horizon_move(s, spec.horizon)
            keep = s.valid & has
            lab = (three_class(move, s.spread.astype(np.float64)) if spec.spread_threshold
                   else np.zeros(move.size, dtype=np.int8))
        rows = np.flatnonzero(keep)
        xs.append(s.features[rows])
        ys.append(lab[rows])
        moves.append(move[rows])
        sess.append(np.full(rows.size, code, dtype=np.int32))
        seqs.append(s.seq[rows])
        idxs.append(rows.astype(np.int64))
        ends.append(end[rows])
        del s, lab, move, end, keep, rows
    if not xs:
        empty = np.zeros(0)
        return Samples(spec, np.zeros((0, len(FEATURES)), np.float32), empty.astype(np.int8),
                       empty, empty.astype(np.int32), names, regimes, empty.astype(np.int64),
                       empty.astype(np.int64), empty.astype(np.int64))
    X = _stack(xs)
    return Samples(spec, X, np.concatenate(ys), np.concatenate(moves),
                   np.concatenate(sess), names, regimes, np.concatenate(seqs),
                   np.concatenate(idxs), np.concatenate(ends))


def _stack(blocks: list[np.ndarray]) -> np.ndarray:
    """Concatenate row blocks, freeing each as it is copied (the peak is the result
    plus one block, not twice the result)."""
    out = np.empty((sum(b.shape[0] for b in blocks), blocks[0].shape[1]), blocks[0].dtype)
    at = 0
    while blocks:
        b = blocks.pop(0)
        out[at: at + b.shape[0]] = b
        at += b.shape[0]
        del b
    return out


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True, slots=True)
class Split:
    """Masks over the samples. ``blocks`` numbers the test rows' bootstrap blocks
    (sessions, or contiguous stretches of one session)."""

    train: np.ndarray
    test: np.ndarray
    blocks: np.ndarray  # int, one per test row
    description: str


def session_holdout(samples: Samples, test_fraction: float = 0.4, embargo: int = 1,
                    min_test: int = 1) -> Split:
    """Per regime, sessions in their listed order (seeds, days): the last
    ``test_fraction`` are test, the ``embargo`` sessions before the first test session
    are dropped, the rest train. Labels never cross sessions, so no purge is needed
    beyond the embargo."""
    names = samples.session_names
    by_regime: dict[str, list[int]] = {}
    for code, name in enumerate(names):
        by_regime.setdefault(samples.regimes.get(name, ""), []).append(code)
    train_codes: list[int] = []
    test_codes: list[int] = []
    for codes in by_regime.values():
        k = max(min_test, math.ceil(len(codes) * test_fraction))
        k = min(k, len(codes) - 1)
        cut = len(codes) - k
        test_codes += codes[cut:]
        # the embargo never takes a regime's last training session
        train_codes += codes[: max(min(1, cut), cut - embargo)]
    train = np.isin(samples.session, train_codes)
    test = np.isin(samples.session, test_codes)
    return Split(train, test, samples.session[test].astype(np.int64),
                 f"{len(train_codes)} train sessions, {len(test_codes)} test sessions "
                 f"(last {test_fraction:.0%} of each regime), embargo {embargo} session(s)")


def time_holdout(samples: Samples, test_fraction: float = 0.3, embargo: int = 1000,
                 blocks: int = 20) -> Split:
    """Few sessions: in each, events before a cut train, after it (plus ``embargo``
    events) test; training rows whose label reaches past the cut are purged. Each
    session's test stretch is cut into ``blocks`` contiguous blocks for the bootstrap."""
    idx, end = samples.index, samples.end
    train = np.zeros(len(samples), dtype=bool)
    test = np.zeros(len(samples), dtype=bool)
    block = np.zeros(len(samples), dtype=np.int64)
    for code in np.unique(samples.session):
        mine = samples.session == code
        lo, hi = int(idx[mine].min()), int(idx[mine].max())
        cut = lo + int((hi - lo) * (1 - test_fraction))
        train |= mine & (idx < cut) & (end < cut)
        tested = mine & (idx >= cut + embargo)
        test |= tested
        span = max(1, hi - (cut + embargo) + 1)
        block[tested] = int(code) * blocks + (idx[tested] - (cut + embargo)) * blocks // span
    return Split(train, test, block[test],
                 f"by time within each session: the first {1 - test_fraction:.0%} of events "
                 f"train (labels reaching past the cut purged), the rest test after an "
                 f"embargo of {embargo:,} events; {blocks} time blocks per session for the "
                 f"bootstrap")


def walk_forward(samples: Samples, folds: int = 3, embargo: int = 1) -> list[Split]:
    """Expanding-window folds over the sessions in order: fold i trains on the sessions
    before its test block, minus ``embargo`` sessions, and tests on the block."""
    n = len(samples.session_names)
    if n < folds + 1:
        return []
    edges = np.linspace(n // (folds + 1), n, folds + 1).astype(int)
    out = []
    for a, b in itertools.pairwise(edges):
        train_codes = list(range(0, max(0, a - embargo)))
        test_codes = list(range(a, b))
        if not train_codes or not test_codes:
            continue
        test = np.isin(samples.session, test_codes)
        out.append(Split(np.isin(samples.session, train_codes), test,
                         samples.session[test].astype(np.int64),
                         f"train sessions 0..{a - embargo - 1}, test {a}..{b - 1}"))
    return out
