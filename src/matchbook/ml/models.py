"""The baselines and the models, one interface: ``fit(X, y)``, ``predict_proba(X)``
(columns in ``classes_`` order, ascending), ``predict(X)``.

Baselines (always reported, ``ML.md``):

* ``majority``: the most frequent training class;
* ``continuation_or_reversal``: the sign of the last mid change, or its opposite,
  whichever was right more often on the training rows (before any move: the majority);
* ``queue_imbalance``: a logistic regression on the level-1 queue imbalance alone
  (Gould and Bonart 2016).

Models: ``logistic`` (every feature, standardised with statistics of the training rows
only) and ``lightgbm`` (gradient-boosted trees; early stopping on a validation set that
the caller carves out of the training sessions).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

BASELINES = ("majority", "continuation_or_reversal", "queue_imbalance")
MODELS = ("logistic", "lightgbm")


class Classifier(Protocol):
    classes_: np.ndarray

    def fit(self, X: np.ndarray, y: np.ndarray) -> Classifier: ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


def predict(model: Classifier, X: np.ndarray) -> np.ndarray:
    proba = model.predict_proba(X)
    return np.asarray(model.classes_)[np.argmax(proba, axis=1)]


class Majority:
    def fit(self, X: np.ndarray, y: np.ndarray) -> Majority:
        self.classes_, counts = np.unique(y, return_counts=True)
        self.freq_ = counts / counts.sum()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile(self.freq_, (X.shape[0], 1))


class ContinuationOrReversal:
    """Reads the ``last_move`` column (its index is given)."""

    def __init__(self, column: int) -> None:
        self.column = column

    def fit(self, X: np.ndarray, y: np.ndarray) -> ContinuationOrReversal:
        self.classes_ = np.unique(y)
        values, counts = np.unique(y, return_counts=True)
        self.majority_ = values[np.argmax(counts)]
        last = np.sign(X[:, self.column])
        moved = last != 0
        cont = float(np.mean(last[moved] == y[moved])) if moved.any() else 0.0
        rev = float(np.mean(-last[moved] == y[moved])) if moved.any() else 0.0
        self.sign_ = 1.0 if cont >= rev else -1.0
        self.rule_ = "continuation" if cont >= rev else "reversal"
        self.confidence_ = max(cont, rev, 1.0 / len(self.classes_))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        guess = np.sign(X[:, self.column]) * self.sign_
        guess = np.where(guess == 0, self.majority_, guess)
        k = len(self.classes_)
        other = (1 - self.confidence_) / max(k - 1, 1)
        proba = np.full((X.shape[0], k), other)
        for i, c in enumerate(self.classes_):
            proba[guess == c, i] = self.confidence_
        return proba


class Columns:
    """A model on some columns only."""

    def __init__(self, columns: list[int], model: Any) -> None:
        self.columns = columns
        self.model = model

    def fit(self, X: np.ndarray, y: np.ndarray) -> Columns:
        self.model.fit(X[:, self.columns], y)
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(X[:, self.columns])


def logistic(max_iter: int = 500) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=max_iter))


def queue_imbalance(qi_column: int) -> Columns:
    from sklearn.linear_model import LogisticRegression

    return Columns([qi_column], LogisticRegression(max_iter=200))


class LightGBM:
    """``lightgbm.LGBMClassifier`` with early stopping on a given validation set, then
    refitted on all the training rows for the number of rounds it found."""

    def __init__(self, *, rounds: int = 200, seed: int = 0, threads: int = 2) -> None:
        self.rounds = rounds
        self.params = dict(learning_rate=0.1, num_leaves=31, min_child_samples=200,
                           subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                           reg_lambda=1.0, random_state=seed, n_jobs=threads, verbose=-1)
        self.best_rounds_ = rounds
        self.val_accuracy_: float | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> LightGBM:
        import lightgbm as lgb

        if X_val is not None and y_val is not None and len(y_val) and (
                set(np.unique(y_val)) <= set(np.unique(y))):
            probe = lgb.LGBMClassifier(n_estimators=self.rounds, **self.params)
            probe.fit(X, y, eval_X=(X_val,), eval_y=(y_val,),
                      callbacks=[lgb.early_stopping(20, verbose=False)])
            self.best_rounds_ = max(10, int(probe.best_iteration_ or self.rounds))
            self.val_accuracy_ = float(np.mean(probe.predict(X_val) == y_val))
            X = np.concatenate([X, X_val])
            y = np.concatenate([y, y_val])
        self.model_ = lgb.LGBMClassifier(n_estimators=self.best_rounds_, **self.params)
        self.model_.fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Straight from the booster (the scikit-learn wrapper's checks cost more than a
        one-row prediction); one thread for a few rows."""
        threads = 1 if X.shape[0] < 10_000 else int(self.params["n_jobs"])
        p = self.model_.booster_.predict(X, num_threads=threads)
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def importance(self) -> np.ndarray:
        """Total gain per feature."""
        return self.model_.booster_.feature_importance(importance_type="gain")
