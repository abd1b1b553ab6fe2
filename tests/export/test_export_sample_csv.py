"""The sample CSV: a header naming the estimator's features, then rows of numbers; every problem is
one line naming the file, line and column, and nothing is published."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.export.test_export_cli import assert_one_line_error
from tests.support.user_models import write_estimator, write_sample_csv

WINE = load_wine()
HEADER = ",".join(WINE.feature_names)
ROW = ",".join(str(value) for value in WINE.data[0])


@pytest.fixture(scope="module")
def wine_pipeline():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(WINE.data, WINE.target)


def _export(run_main, tmp_path: Path, estimator, sample_text: str | bytes):
    sample = tmp_path / "sample.csv"
    if isinstance(sample_text, bytes):
        sample.write_bytes(sample_text)
    else:
        sample.write_text(sample_text, encoding="utf-8")
    write_estimator(tmp_path / "wine.joblib", estimator)
    return run_main(
        *("--repository", str(tmp_path / "artifacts"), "--model-name", "wine"),
        *("--estimator-file", str(tmp_path / "wine.joblib"), "--sample-csv", str(sample)),
    )


@pytest.mark.parametrize(
    ("sample_text", "fragments"),
    [
        ("", ["sample.csv: line 1 must name the features"]),
        (f"\n{HEADER}\n{ROW}\n", ["sample.csv: line 1 must name the features"]),
        (f"{ROW}\n{ROW}\n", ["sample.csv: line 1 holds numbers; it must name the features"]),
        (f"{HEADER}\n", ["sample.csv: no rows under the header"]),
        (
            f"{HEADER}\n{ROW}\n{ROW.replace('14.23', 'abc')}\n",
            ["line 3, column 1 (alcohol): 'abc' is not a number"],
        ),
        (
            f"{HEADER}\n{ROW.replace('1.71', 'nan')}\n",
            ["line 2, column 2 (malic_acid): 'nan' is not a finite"],
        ),
        (
            f"{HEADER}\n{ROW.replace('1.71', '1e39')}\n",
            ["line 2, column 2 (malic_acid): '1e39' is not a finite"],
        ),
        (f"{HEADER}\n{ROW}\n\n{ROW.rsplit(',', 1)[0]}\n", ["line 4: 12 cells; the header names 13"]),
        (
            f"{HEADER.replace('ash,', 'alcohol,', 1)}\n{ROW}\n",
            ["line 1, column 3: feature 'alcohol' is named twice"],
        ),
        (f"{HEADER.replace('malic_acid', ' ')}\n{ROW}\n", ["line 1, column 2: the feature has no name"]),
        (f"{HEADER}\n{ROW}\n".encode("utf-16"), ["sample.csv: cannot read it as CSV"]),
    ],
    ids=[
        "empty",
        "blank-first-line",
        "no-header",
        "no-rows",
        "not-a-number",
        "nan",
        "beyond-float32",
        "short-row",
        "duplicate-name",
        "unnamed-column",
        "not-utf-8",
    ],
)
def test_a_bad_sample_is_one_line_naming_where(tmp_path, run_main, wine_pipeline, sample_text, fragments):
    assert_one_line_error(_export(run_main, tmp_path, wine_pipeline, sample_text), *fragments)
    assert not (tmp_path / "artifacts").exists()


def test_columns_must_be_as_many_as_the_estimators_features(tmp_path, run_main, wine_pipeline):
    sample = write_sample_csv(tmp_path / "narrow.csv", WINE.feature_names[:12], WINE.data[:, :12])
    result = _export(run_main, tmp_path, wine_pipeline, sample.read_text())
    assert_one_line_error(result, "sample.csv: 12 columns; sklearn.pipeline.Pipeline takes 13 features")
    assert not (tmp_path / "artifacts").exists()


def _with_feature_names(estimator, names):
    """As if fitted on a DataFrame with these column names (no pandas here)."""
    estimator[0].feature_names_in_ = np.array(names, dtype=object)
    return estimator


def test_names_must_be_those_the_estimator_was_fitted_with(tmp_path, run_main, wine_pipeline):
    model = _with_feature_names(wine_pipeline, WINE.feature_names)
    swapped = [WINE.feature_names[1], WINE.feature_names[0], *WINE.feature_names[2:]]
    sample = write_sample_csv(tmp_path / "swapped.csv", swapped, WINE.data)
    result = _export(run_main, tmp_path, model, sample.read_text())
    assert_one_line_error(
        result, "line 1, column 1: 'malic_acid'", "fitted with 'alcohol' there (feature_names_in_)"
    )
    assert not (tmp_path / "artifacts").exists()


def test_an_estimator_fitted_with_these_names_is_published_quietly(tmp_path, run_main, wine_pipeline):
    model = _with_feature_names(wine_pipeline, WINE.feature_names)
    sample = write_sample_csv(tmp_path / "named.csv", WINE.feature_names, WINE.data)
    result = _export(run_main, tmp_path, model, sample.read_text())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
