"""A model from a file that cannot keep the contract is refused with one line and exit status 1,
and nothing is published: an estimator skl2onnx cannot convert, one that is not a fitted classifier
or regressor, one whose ONNX answers differ (the worst rows shown), one that would take another
model's name."""

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper
from sklearn.datasets import load_diabetes, load_wine
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading
from sklearn.svm import LinearSVC

from export import convert
from tests.export.test_export_cli import assert_one_line_error
from tests.support.user_models import publish_wine, write_estimator, write_sample_csv

WINE = load_wine()
DIABETES = load_diabetes()


def _export(run_main, tmp_path: Path, estimator: object, dataset=WINE):
    write_estimator(tmp_path / "model.joblib", estimator)
    write_sample_csv(tmp_path / "sample.csv", dataset.feature_names, dataset.data)
    return run_main(
        *("--repository", str(tmp_path / "artifacts"), "--model-name", "mine"),
        *("--estimator-file", str(tmp_path / "model.joblib"), "--sample-csv", str(tmp_path / "sample.csv")),
    )


def _assert_refused(result, tmp_path: Path, *fragments: str) -> None:
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize(
    ("estimator", "dataset", "named"),
    [
        (KernelRidge().fit(DIABETES.data, DIABETES.target), DIABETES, "sklearn.kernel_ridge.KernelRidge"),
        (
            make_pipeline(StandardScaler(), LabelSpreading()).fit(WINE.data, WINE.target),
            WINE,
            "sklearn.pipeline.Pipeline: Unable to find a shape calculator for type "
            "'<class 'sklearn.semi_supervised._label_propagation.LabelSpreading'>'",
        ),
    ],
    ids=["regressor", "classifier-in-a-pipeline"],
)
def test_an_estimator_skl2onnx_cannot_convert_is_named(tmp_path, run_main, estimator, dataset, named):
    result = _export(run_main, tmp_path, estimator, dataset)
    _assert_refused(result, tmp_path, f"export: error: skl2onnx cannot convert {named}")


@pytest.mark.parametrize(
    ("estimator", "fragments"),
    [
        ({"not": "an estimator"}, ["holds a builtins.dict, not a scikit-learn estimator"]),
        (LogisticRegression(), ["the sklearn.linear_model.LogisticRegression in it is not fitted"]),
        (StandardScaler().fit(WINE.data), ["sklearn.preprocessing.StandardScaler is neither a classifier"]),
        (LinearSVC().fit(WINE.data, WINE.target), ["sklearn.svm.LinearSVC has no predict_proba"]),
    ],
    ids=["not-an-estimator", "not-fitted", "transformer", "no-probabilities"],
)
def test_what_is_not_a_fitted_classifier_or_regressor_is_refused(tmp_path, run_main, estimator, fragments):
    _assert_refused(_export(run_main, tmp_path, estimator), tmp_path, *fragments)


def test_a_file_joblib_cannot_load_is_refused(tmp_path, run_main):
    write_sample_csv(tmp_path / "sample.csv", WINE.feature_names, WINE.data)
    (tmp_path / "model.joblib").write_bytes(b"\x80\x05not a pickle")
    result = run_main(
        *("--repository", str(tmp_path / "artifacts"), "--model-name", "mine"),
        *("--estimator-file", str(tmp_path / "model.joblib"), "--sample-csv", str(tmp_path / "sample.csv")),
    )
    _assert_refused(result, tmp_path, "model.joblib: cannot load it: ")


def _convert_then_nudge(monkeypatch, op_type: str, attribute_name: str, factor: float) -> None:
    """Make the export's conversion scale the first value of one attribute of the graph's `op_type`."""
    real_convert = convert.convert_to_onnx

    def nudged(*args, **kwargs) -> onnx.ModelProto:
        model = real_convert(*args, **kwargs)
        (node,) = [node for node in model.graph.node if node.op_type == op_type]
        (attribute,) = [attribute for attribute in node.attribute if attribute.name == attribute_name]
        values = list(attribute.floats)
        values[0] *= factor
        attribute.CopyFrom(helper.make_attribute(attribute_name, values))
        return model

    monkeypatch.setattr(convert, "convert_to_onnx", nudged)


def _worst_rows(message: str) -> list[str]:
    counted = re.match(
        r"export: error: parity gate failed: (\d+) of \d+ inputs disagree; worst: (.*)$", message
    )
    assert counted, message
    assert int(counted.group(1)) > 0
    return counted.group(2).split("; ")


def test_a_classifier_failing_parity_shows_its_worst_rows(tmp_path, run_main, monkeypatch):
    """1% off one coefficient: refused, with three rows, their 13 inputs and both answers."""
    _convert_then_nudge(monkeypatch, "LinearClassifier", "coefficients", 1.01)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(WINE.data, WINE.target)
    result = _export(run_main, tmp_path, model)
    _assert_refused(result, tmp_path, "parity gate failed")
    rows = _worst_rows(result.stderr.strip())
    assert len(rows) == 3
    for row in rows:
        shown = re.match(r"(sample|generated) row \d+ \[([^\]]*)\]: sklearn label \d probabilities \[", row)
        assert shown, row
        assert len(shown.group(2).split(", ")) == 13
        assert " vs onnx label " in row
        assert "max |probability difference|" in row


def test_a_regressor_failing_parity_shows_its_worst_rows(tmp_path, run_main, monkeypatch):
    """1% off the intercept is far beyond the tolerance on every row."""
    _convert_then_nudge(monkeypatch, "LinearRegressor", "intercepts", 1.01)
    result = _export(run_main, tmp_path, Ridge().fit(DIABETES.data, DIABETES.target), DIABETES)
    _assert_refused(result, tmp_path, "parity gate failed: 12442 of 12442 inputs disagree")
    for row in _worst_rows(result.stderr.strip()):
        assert re.search(r"row \d+ \[.*\]: sklearn predictions \[[^\]]+\] vs onnx \[[^\]]+\]", row), row
        assert re.search(r"\|prediction difference\| 1\.\d+ \(allowed 0\.00\d+\)", row), row


def test_a_model_under_a_name_whose_latest_version_takes_other_features_is_refused(tmp_path, run_main):
    """Forgetting --model-name must not put a diabetes model behind another model's name."""
    repository = tmp_path / "artifacts"
    publish_wine(repository)
    write_estimator(tmp_path / "ridge.joblib", Ridge().fit(DIABETES.data, DIABETES.target))
    write_sample_csv(tmp_path / "sample.csv", DIABETES.feature_names, DIABETES.data)
    result = run_main(
        *("--repository", str(repository), "--model-name", "wine"),
        *("--estimator-file", str(tmp_path / "ridge.joblib"), "--sample-csv", str(tmp_path / "sample.csv")),
    )
    assert_one_line_error(result, "wine/1 is a classification model of the features", "its own --model-name")
    assert sorted(path.name for path in (repository / "wine").iterdir()) == ["1"]


def test_nan_from_onnx_fails_the_gate(tmp_path, run_main, monkeypatch):
    """A NaN compares false with any tolerance: the gate counts it as a failure, not a pass."""
    _convert_then_nudge(monkeypatch, "LinearRegressor", "intercepts", np.nan)
    result = _export(run_main, tmp_path, Ridge().fit(DIABETES.data, DIABETES.target), DIABETES)
    _assert_refused(result, tmp_path, "parity gate failed: 12442 of 12442 inputs disagree", "onnx [nan]")
