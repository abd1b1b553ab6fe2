"""Training data, the estimators on offer, cross-validation and fitting."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from export.contract import CLASS_NAMES, FEATURE_NAMES

CV_FOLDS = 5
FOREST_TREES = 100
LOGREG_MAX_ITERATIONS = 1000


def load_training_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled iris data (no download): features float64 [150, 4], labels int64.

    Checks that its feature and class order is the contract's.
    """
    iris = load_iris()
    loaded_features = tuple(name.removesuffix(" (cm)").replace(" ", "_") for name in iris.feature_names)
    if loaded_features != FEATURE_NAMES or tuple(iris.target_names) != CLASS_NAMES:
        raise RuntimeError(f"unexpected iris layout: {loaded_features}, {tuple(iris.target_names)}")
    return iris.data.astype(np.float64), iris.target.astype(np.int64)


def build_estimator(kind: str, seed: int, **params) -> ClassifierMixin:
    """An unfitted estimator of the given kind; params override the defaults of the classifier."""
    if kind == "logreg":
        classifier = LogisticRegression(max_iter=LOGREG_MAX_ITERATIONS, random_state=seed)
        classifier.set_params(**params)
        return Pipeline([("scaler", StandardScaler()), ("classifier", classifier)])
    if kind == "forest":
        forest = RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=1)
        return forest.set_params(**params)
    raise ValueError(f"unknown estimator kind {kind!r}")


def describe_estimator(estimator: BaseEstimator) -> dict:
    """The estimator's steps and hyper-parameters as JSON-ready values."""
    steps = estimator.steps if isinstance(estimator, Pipeline) else [("estimator", estimator)]
    return {
        step_name: {"class": type(step).__name__, **_json_params(step.get_params(deep=False))}
        if hasattr(step, "get_params")
        else {"class": repr(step)}  # a step of "passthrough" or None
        for step_name, step in steps
    }


def _json_params(params: dict) -> dict:
    plain = (str, int, float, bool, type(None))
    return {key: value if isinstance(value, plain) else repr(value) for key, value in sorted(params.items())}


def cross_validation_metrics(
    estimator: ClassifierMixin, features: np.ndarray, labels: np.ndarray, seed: int
) -> dict:
    """Stratified k-fold scores of an unfitted copy of the estimator (mean, std, per fold)."""
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    scores = cross_validate(
        clone(estimator), features, labels, cv=folds, scoring=("accuracy", "f1_macro", "neg_log_loss")
    )
    summary = {"folds": CV_FOLDS, "stratified": True, "shuffle_seed": seed}
    for metric, key, sign in (
        ("accuracy", "test_accuracy", 1),
        ("f1_macro", "test_f1_macro", 1),
        ("log_loss", "test_neg_log_loss", -1),
    ):
        values = sign * scores[key]
        summary[metric] = {
            "mean": round(float(values.mean()), 6),
            "std": round(float(values.std()), 6),
            "per_fold": [round(float(value), 6) for value in values],
        }
    return summary


def fit(estimator: ClassifierMixin, features: np.ndarray, labels: np.ndarray) -> ClassifierMixin:
    """Fit on all the data and return the estimator."""
    return estimator.fit(features, labels)
