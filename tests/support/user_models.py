"""Models fitted elsewhere, published as a user would: a joblib file and a sample CSV with a header,
exported in process with the flags `--estimator-file` and `--sample-csv`.

`publish_wine` and `publish_diabetes` give tests a classifier and a regressor that are not iris,
each in well under two seconds.
"""

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from export.config import parse_settings
from export.pipeline import export_model


def publish_wine(repository: Path) -> Path:
    """Publish ``wine/<next>`` and return its directory: StandardScaler and LogisticRegression on
    scikit-learn's wine data, 13 features, 3 classes named class_0, class_1, class_2."""
    wine = load_wine()
    labels = wine.target_names[wine.target]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(wine.data, labels)
    return publish_estimator(repository, "wine", model, wine.feature_names, wine.data)


def publish_diabetes(repository: Path) -> Path:
    """Publish ``diabetes/<next>`` and return its directory: a Ridge regression on scikit-learn's
    diabetes data, 10 features, one target (disease progression after a year)."""
    diabetes = load_diabetes()
    model = Ridge(alpha=0.1).fit(diabetes.data, diabetes.target)
    return publish_estimator(repository, "diabetes", model, diabetes.feature_names, diabetes.data)


def publish_estimator(
    repository: Path,
    name: str,
    estimator: BaseEstimator,
    features: Sequence[str],
    rows: np.ndarray,
    *flags: str,
) -> Path:
    """Write the estimator and its sample to a scratch directory, export them, return the version."""
    with tempfile.TemporaryDirectory() as scratch:
        estimator_path = write_estimator(Path(scratch) / f"{name}.joblib", estimator)
        sample_path = write_sample_csv(Path(scratch) / f"{name}.csv", features, rows)
        argv = ["--repository", str(repository), "--model-name", name, *flags]
        argv += ["--estimator-file", str(estimator_path), "--sample-csv", str(sample_path)]
        return export_model(parse_settings(argv, {}), log=lambda line: None)


def write_estimator(path: Path, estimator: object) -> Path:
    joblib.dump(estimator, path)
    return path


def write_sample_csv(path: Path, features: Sequence[str], rows: np.ndarray) -> Path:
    """A header of the feature names, then one line per row (repr: exact for float64)."""
    with path.open("w", newline="", encoding="utf-8") as sample_file:
        writer = csv.writer(sample_file)
        writer.writerow(features)
        writer.writerows([repr(float(value)) for value in row] for row in rows)
    return path
