"""Out-of-sample evaluation: baselines and models fitted on training sessions, chosen
on validation sessions carved out of the training ones, and scored once on held-out
test sessions, with confidence intervals by block bootstrap over sessions.

The protocol (``ML.md``), in order:

1. split by session in their listed order (seeds, days), per regime: the last
   ``test_fraction`` are test, an embargo of sessions before them is dropped; one
   session alone is split by time with the label horizon purged (``samples``);
2. the last ``val_fraction`` of the training sessions are validation: LightGBM stops
   early on them, the best baseline and the best model are *chosen* on them (never on
   the test sessions); then every model is refitted on all the training sessions;
3. scalers and thresholds are fitted on training rows only;
4. the test sessions are scored once: accuracy, balanced accuracy, macro-F1, MCC,
   Brier score, per-class precision and recall, the confusion matrix; a 95% interval
   for accuracy and for the chosen model's lead over the chosen baseline by block
   bootstrap over test sessions (or time blocks); an exact binomial test against
   chance and an exact McNemar (binomial) test against the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matchbook.ml.models import (
    BASELINES,
    MODELS,
    ContinuationOrReversal,
    LightGBM,
    Majority,
    logistic,
    predict,
    queue_imbalance,
)
from matchbook.ml.samples import Samples, Split, session_holdout, time_holdout


class EvaluationError(ValueError):
    pass


@dataclass(slots=True)
class Details:
    """What the report and plots need beyond the JSON."""

    classes: np.ndarray
    y_test: np.ndarray
    proba: dict[str, np.ndarray]
    blocks: np.ndarray
    block_names: list[str]
    importance: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    models: dict[str, Any] = field(default_factory=dict)
    train_mask: np.ndarray | None = None


# --------------------------------------------------------------------------- metrics


def metrics(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import (
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
    )

    pred = classes[np.argmax(proba, axis=1)]
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    if len(classes) == 2:  # the usual binary Brier score: (p(up) - [up])^2
        brier = float(np.mean((proba[:, 1] - onehot[:, 1]) ** 2))
    else:  # multi-class: mean over rows of the summed squared error
        brier = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    precision, recall, _, support = precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0)
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=classes, average="macro",
                                   zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
        "brier": brier,
        "n": int(y.size),
        "per_class": {str(int(c)): {"precision": float(p), "recall": float(r),
                                    "support": int(s)}
                      for c, p, r, s in zip(classes, precision, recall, support, strict=True)},
        "confusion": confusion_matrix(y, pred, labels=classes).tolist(),
    }


def _block_sums(correct: np.ndarray, blocks: np.ndarray, nblocks: int) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    hits = np.bincount(blocks, weights=correct.astype(np.float64), minlength=nblocks)
    counts = np.bincount(blocks, minlength=nblocks).astype(np.float64)
    return hits, counts


def bootstrap(correct: dict[str, np.ndarray], blocks: np.ndarray, *, resamples: int = 2000,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Accuracy of each model over ``resamples`` resamplings of the blocks (with
    replacement); the same draws for every model, so differences are paired."""
    uniq, dense = np.unique(blocks, return_inverse=True)
    nb = uniq.size
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, nb, size=(resamples, nb))
    weights = np.zeros((resamples, nb))
    for r in range(resamples):
        weights[r] = np.bincount(draws[r], minlength=nb)
    out = {}
    for name, c in correct.items():
        hits, counts = _block_sums(c, dense, nb)
        out[name] = (weights @ hits) / np.maximum(weights @ counts, 1)
    return out


def _binom_greater(k: int, n: int, p: float) -> float:
    from scipy.stats import binomtest

    if n == 0:
        return 1.0
    return float(binomtest(k, n, p, alternative="greater").pvalue)


# --------------------------------------------------------------------------- fitting


def _validation(samples: Samples, train: np.ndarray, fraction: float) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """(fit rows, validation rows) within ``train``: the last ``fraction`` of the training
    sessions per regime, or of the training stretch in time for one session (purged)."""
    codes = np.unique(samples.session[train])
    if codes.size >= 3:
        by_regime: dict[str, list[int]] = {}
        for code in codes:
            name = samples.session_names[code]
            by_regime.setdefault(samples.regimes.get(name, ""), []).append(int(code))
        val_codes = []
        for group in by_regime.values():
            k = max(1, math.ceil(len(group) * fraction)) if len(group) >= 2 else 0
            val_codes += group[len(group) - k:]
        val = train & np.isin(samples.session, val_codes)
        return train & ~val, val
    idx = samples.index
    t_idx = idx[train]
    cut = int(np.quantile(t_idx, 1 - fraction)) if t_idx.size else 0
    fit = train & (idx < cut) & (samples.end < cut)
    val = train & (idx >= cut)
    return fit, val


def _fit_all(samples: Samples, fit: np.ndarray, val: np.ndarray, *, seed: int,
             max_train: int, rounds: int, note: Callable[[str], None]) -> tuple[
        dict[str, Any], dict[str, float]]:
    """Fit every baseline and model on ``fit`` (LightGBM stops on ``val``), score them on
    ``val``, then refit on ``fit | val``. Returns (fitted models, validation accuracy)."""
    names = samples.feature_names
    rng = np.random.default_rng(seed)

    def rows(mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        if idx.size > max_train:
            idx = np.sort(rng.choice(idx, max_train, replace=False))
        return idx

    fit_rows, val_rows = rows(fit), rows(val)
    all_rows = rows(fit | val)
    X, y = samples.X, samples.y

    def make(name: str) -> Any:
        if name == "majority":
            return Majority()
        if name == "continuation_or_reversal":
            return ContinuationOrReversal(names.index("last_move"))
        if name == "queue_imbalance":
            return queue_imbalance(names.index("qi_1"))
        if name == "logistic":
            return logistic()
        return LightGBM(rounds=rounds, seed=seed)

    fitted: dict[str, Any] = {}
    val_acc: dict[str, float] = {}
    for name in (*BASELINES, *MODELS):
        note(f"fitting {name}")
        if name == "lightgbm":
            model = LightGBM(rounds=rounds, seed=seed).fit(
                X[fit_rows], y[fit_rows], X[val_rows], y[val_rows])
            # fit() scored its early-stopped model on the validation rows, then refitted
            # on fit + validation rows for the rounds it found
            if model.val_accuracy_ is not None:
                val_acc[name] = model.val_accuracy_
            fitted[name] = model
            continue
        model = make(name).fit(X[fit_rows], y[fit_rows])
        if val_rows.size:
            val_acc[name] = float(np.mean(predict(model, X[val_rows]) == y[val_rows]))
        fitted[name] = make(name).fit(X[all_rows], y[all_rows])
    return fitted, val_acc


def _choose(val_acc: dict[str, float], names: tuple[str, ...], fallback: str) -> str:
    scored = [(val_acc[n], n) for n in names if n in val_acc]
    return max(scored)[1] if scored else fallback


# --------------------------------------------------------------------------- evaluation


def evaluate(samples: Samples, *, test_fraction: float = 0.4, embargo: int = 1,
             val_fraction: float = 0.25, resamples: int = 2000, seed: int = 0,
             max_train: int = 1_000_000, rounds: int = 200,
             split: Split | None = None,
             note: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any], Details]:
    """The JSON-ready result and the details for plots. Raises ``EvaluationError`` when
    the data cannot support a split."""
    if len(samples) < 100:
        raise EvaluationError(f"only {len(samples)} labelled events: too few to evaluate")
    if split is None:
        multi = np.unique(samples.session).size
        split = (session_holdout(samples, test_fraction, embargo) if multi >= 3
                 else time_holdout(samples, test_fraction))
    if not split.train.any() or not split.test.any():
        raise EvaluationError(f"the split leaves no training or no test rows ({split.description})")
    fit, val = _validation(samples, split.train, val_fraction)
    theta = samples.fit_threshold(split.train)
    note(f"split: {split.description}")
    fitted, val_acc = _fit_all(samples, fit, val, seed=seed, max_train=max_train,
                               rounds=rounds, note=note)
    X_test, y_test = samples.X[split.test], samples.y[split.test]
    classes = np.unique(samples.y[split.train | split.test])
    proba: dict[str, np.ndarray] = {}
    scores: dict[str, dict[str, Any]] = {}
    correct: dict[str, np.ndarray] = {}
    for name, model in fitted.items():
        p = _align(model.predict_proba(X_test), np.asarray(model.classes_), classes)
        proba[name] = p
        scores[name] = metrics(y_test, p, classes)
        correct[name] = classes[np.argmax(p, axis=1)] == y_test
    note("bootstrap over test blocks")
    boot = bootstrap(correct, split.blocks, resamples=resamples, seed=seed)
    for name in scores:
        lo, hi = np.quantile(boot[name], [0.025, 0.975])
        scores[name]["ci_low"], scores[name]["ci_high"] = float(lo), float(hi)

    best_baseline = _choose(val_acc, BASELINES, "majority")
    best = _choose(val_acc, MODELS, "lightgbm")
    diff = boot[best] - boot[best_baseline]
    b = int(np.sum(correct[best] & ~correct[best_baseline]))
    c = int(np.sum(~correct[best] & correct[best_baseline]))
    chance = 1.0 / len(classes)
    k_best = int(correct[best].sum())
    blocks_used = np.unique(split.blocks)
    result: dict[str, Any] = {
        "label": samples.label.name,
        "n_train": int(split.train.sum()),
        "n_test": int(split.test.sum()),
        "baselines": {n: scores[n] for n in BASELINES},
        "models": {n: scores[n] for n in MODELS},
        "best": {
            "name": best,
            "accuracy": scores[best]["accuracy"],
            "ci_low": scores[best]["ci_low"],
            "ci_high": scores[best]["ci_high"],
            "p_vs_best_baseline": _binom_greater(b, b + c, 0.5),
            "best_baseline": best_baseline,
            "best_baseline_accuracy": scores[best_baseline]["accuracy"],
            "best_baseline_ci_high": scores[best_baseline]["ci_high"],
            "lead": scores[best]["accuracy"] - scores[best_baseline]["accuracy"],
            "lead_ci_low": float(np.quantile(diff, 0.025)),
            "lead_ci_high": float(np.quantile(diff, 0.975)),
            "p_vs_best_baseline_bootstrap": float(np.mean(diff <= 0)),
            "chance": chance,
            "p_vs_chance": _binom_greater(k_best, int(y_test.size), chance),
            "chosen_on": "validation sessions" if val.any() else "training rows",
        },
        "validation_accuracy": val_acc,
        "protocol": {
            "split": split.description,
            "test_blocks": int(blocks_used.size),
            "bootstrap_resamples": resamples,
            "n_validation": int(val.sum()),
            "threshold_ticks": theta,
            "lightgbm_rounds": int(fitted["lightgbm"].best_rounds_),
            "continuation_rule": fitted["continuation_or_reversal"].rule_,
            "class_shares_test": {str(int(k)): float(np.mean(y_test == k)) for k in classes},
        },
    }
    names = samples.session_names
    by_session = np.unique(samples.session[split.test]).size > 1
    block_names = ([names[i] for i in blocks_used] if by_session
                   else [f"block {i}" for i in blocks_used])
    details = Details(classes, y_test, proba, split.blocks, block_names,
                      feature_names=samples.feature_names, models=fitted,
                      train_mask=split.train)
    details.importance["lightgbm"] = fitted["lightgbm"].importance()
    coef = fitted["logistic"][-1].coef_
    details.importance["logistic"] = np.abs(coef).mean(axis=0)
    return result, details


def _align(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Columns in ``classes`` order (a class unseen in training gets probability 0)."""
    if np.array_equal(model_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], classes.size))
    for j, c in enumerate(model_classes):
        out[:, int(np.flatnonzero(classes == c)[0])] = proba[:, j]
    return out


def regime_shift(samples: Samples, train_regime: str, test_regime: str, **kwargs: Any) -> tuple[
        dict[str, Any], Details]:
    """Train on every session of ``train_regime`` (minus its held-out part), test on the
    held-out sessions of ``test_regime``: what a model fitted in one market does in
    another."""
    regimes = samples.regimes
    names = samples.session_names
    in_train = np.array([regimes.get(n, "") == train_regime for n in names])
    in_test = np.array([regimes.get(n, "") == test_regime for n in names])
    if not in_train.any() or not in_test.any():
        raise EvaluationError(f"no sessions tagged {train_regime!r} or {test_regime!r}")
    base = session_holdout(samples, kwargs.pop("test_fraction", 0.4),
                           kwargs.pop("embargo", 1))
    train = base.train & in_train[samples.session]
    test = base.test & in_test[samples.session]
    split = Split(train, test, samples.session[test].astype(np.int64),
                  f"regime shift: train on {train_regime} training sessions, test on "
                  f"{test_regime} held-out sessions")
    result, details = evaluate(samples, split=split, **kwargs)
    result["regime_shift"] = {"train": train_regime, "test": test_regime}
    return result, details
