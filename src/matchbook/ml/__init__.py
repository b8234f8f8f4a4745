"""Order-book research: capture and import, features and labels, models judged against
honest baselines out of sample, and a backtest inside the simulator.

A notebook session::

    from matchbook.ml import read_dataset, build_samples, evaluate
    ds = read_dataset("data/ml")                 # written by `matchbook ml capture/...`
    samples = build_samples(ds, "next-mid")      # features X, labels y, sessions
    result, details = evaluate(samples)          # the JSON of `matchbook ml evaluate`
    result["best"]

See ``docs/ml.md`` (what the numbers mean) and ``docs/ml-data-formats.md``.
"""

from matchbook.ml.capture import capture
from matchbook.ml.evaluate import EvaluationError, evaluate, metrics, regime_shift
from matchbook.ml.features import FEATURES, sessions
from matchbook.ml.l3csv import import_l3
from matchbook.ml.labels import LABELS
from matchbook.ml.lobster import import_lobster
from matchbook.ml.models import BASELINES, MODELS
from matchbook.ml.samples import (
    Samples,
    Split,
    build_samples,
    session_holdout,
    time_holdout,
    walk_forward,
)
from matchbook.ml.schema import DataError, Dataset, Event, read_dataset, write_dataset

__all__ = [
    "BASELINES",
    "FEATURES",
    "LABELS",
    "MODELS",
    "DataError",
    "Dataset",
    "EvaluationError",
    "Event",
    "Samples",
    "Split",
    "build_samples",
    "capture",
    "evaluate",
    "import_l3",
    "import_lobster",
    "metrics",
    "read_dataset",
    "regime_shift",
    "session_holdout",
    "sessions",
    "time_holdout",
    "walk_forward",
    "write_dataset",
]
