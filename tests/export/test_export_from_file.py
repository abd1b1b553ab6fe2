"""`python -m export --estimator-file F --sample-csv S`: a model fitted elsewhere, published as a
version with the contract's manifest, answering as scikit-learn does, or refused with one line."""

import hashlib
import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from export import parity
from export.parity import PREDICTION_RELATIVE_TOLERANCE, PROBABILITY_TOLERANCE
from tests.export.test_export_cli import assert_one_line_error
from tests.support.user_models import publish_diabetes, publish_estimator, publish_wine, write_sample_csv

WINE = load_wine()
DIABETES = load_diabetes()


@pytest.fixture(scope="module")
def wine_version(tmp_path_factory) -> Path:
    return publish_wine(tmp_path_factory.mktemp("wine") / "artifacts")


@pytest.fixture(scope="module")
def diabetes_version(tmp_path_factory) -> Path:
    return publish_diabetes(tmp_path_factory.mktemp("diabetes") / "artifacts")


def _manifest(version_dir: Path) -> dict:
    return json.loads((version_dir / "model.json").read_text())


def _answers(version_dir: Path, rows: np.ndarray) -> list[np.ndarray]:
    return parity.load_onnx_session(version_dir / "model.onnx").run(None, {"input": rows.astype(np.float32)})


def test_wine_is_published_with_a_classifiers_manifest(wine_version):
    manifest = _manifest(wine_version)
    assert wine_version.parent.name == "wine"
    assert wine_version.name == "1"
    assert sorted(path.name for path in wine_version.iterdir()) == [
        "estimator.pkl",
        "model.json",
        "model.onnx",
        "sample.csv",
    ]
    assert manifest["task"] == "classification"
    assert manifest["features"] == list(WINE.feature_names)
    assert manifest["classes"] == [{"id": k, "name": f"class_{k}"} for k in range(3)]
    assert "targets" not in manifest
    assert manifest["onnx"]["inputs"] == [{"name": "input", "dtype": "float32", "shape": [None, 13]}]
    assert manifest["onnx"]["outputs"] == [
        {"name": "label", "dtype": "int64", "shape": [None]},
        {"name": "probabilities", "dtype": "float32", "shape": [None, 3]},
    ]
    estimator = manifest["estimator"]
    assert (estimator["kind"], estimator["class"], estimator["file"]) == (
        "file",
        "sklearn.pipeline.Pipeline",
        "wine.joblib",
    )
    assert set(estimator["params"]) == {"standardscaler", "logisticregression"}
    assert manifest["parity"]["passed"]
    assert manifest["parity"]["sets"]["sample"]["inputs"] == len(WINE.data)
    assert manifest["parity"]["sets"]["generated"]["inputs"] == 12_000


def test_wine_onnx_answers_the_class_index_and_scikit_learns_probabilities(wine_version):
    """The classes are strings; the label output is their index in classes_."""
    reference = joblib.load(wine_version / "estimator.pkl")
    labels, probabilities = _answers(wine_version, WINE.data)
    expected = np.searchsorted(reference.classes_, reference.predict(WINE.data.astype(np.float32)))
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_allclose(
        probabilities,
        reference.predict_proba(WINE.data.astype(np.float32)),
        rtol=0,
        atol=PROBABILITY_TOLERANCE,
    )


def test_diabetes_is_published_with_a_regressors_manifest(diabetes_version):
    manifest = _manifest(diabetes_version)
    assert manifest["task"] == "regression"
    assert manifest["features"] == list(DIABETES.feature_names)
    assert (manifest["classes"], manifest["targets"]) == ([], ["prediction"])
    assert manifest["onnx"]["outputs"] == [{"name": "predictions", "dtype": "float32", "shape": [None, 1]}]
    assert manifest["estimator"]["class"] == "sklearn.linear_model.Ridge"
    summary = manifest["parity"]
    assert summary["passed"]
    assert summary["prediction_relative_tolerance"] == PREDICTION_RELATIVE_TOLERANCE
    assert len(summary["prediction_absolute_tolerance"]) == 1
    assert summary["max_difference_over_allowed"] < 1


def test_diabetes_onnx_predictions_match_scikit_learn_within_the_tolerance(diabetes_version):
    reference = joblib.load(diabetes_version / "estimator.pkl")
    rows = DIABETES.data.astype(np.float32)
    (predictions,) = _answers(diabetes_version, rows)
    expected = reference.predict(rows.astype(np.float64)).reshape(-1, 1)
    absolute = _manifest(diabetes_version)["parity"]["prediction_absolute_tolerance"][0]
    assert predictions.shape == (len(rows), 1)
    assert (np.abs(predictions - expected) <= absolute).all()


def test_the_estimator_copy_beside_the_model_is_the_file_hashed(wine_version):
    digest = _manifest(wine_version)["estimator"]["sha256"]
    assert digest == hashlib.sha256((wine_version / "estimator.pkl").read_bytes()).hexdigest()


@pytest.mark.parametrize("version", ["wine_version", "diabetes_version"])
def test_verify_reruns_the_gate_of_a_model_from_a_file(run_main, request, version):
    result = run_main("--verify", str(request.getfixturevalue(version)))
    assert result.returncode == 0, result.stderr
    assert "estimator.pkl: sha256 matches" in result.stdout
    assert "sample   " in result.stdout


def test_verify_rejects_an_estimator_file_that_is_not_the_one_hashed(tmp_path, run_main):
    version_dir = publish_wine(tmp_path / "artifacts")
    model = joblib.load(version_dir / "estimator.pkl")
    joblib.dump(model, version_dir / "estimator.pkl", compress=3)
    assert_one_line_error(run_main("--verify", str(version_dir)), "estimator.pkl: sha256")


def test_a_second_export_of_a_name_is_its_next_version(tmp_path):
    repository = tmp_path / "artifacts"
    publish_diabetes(repository)
    assert publish_diabetes(repository) == repository / "diabetes" / "2"


@pytest.mark.parametrize(
    ("labels", "names"),
    [
        (WINE.target + 1, ["1", "2", "3"]),
        (np.where(WINE.target > 0, 1, -1), ["-1", "1"]),
        (WINE.target_names[WINE.target], ["class_0", "class_1", "class_2"]),
    ],
    ids=["one-based", "minus-one-and-one", "strings"],
)
def test_classes_that_are_not_indices_are_answered_as_indices(tmp_path, labels, names):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(WINE.data, labels)
    version_dir = publish_estimator(tmp_path, "labels", model, WINE.feature_names, WINE.data)
    assert [entry["name"] for entry in _manifest(version_dir)["classes"]] == names
    onnx_labels, _ = _answers(version_dir, WINE.data)
    np.testing.assert_array_equal(onnx_labels, np.searchsorted(model.classes_, model.predict(WINE.data)))


def test_a_forest_with_two_targets_is_gated_on_its_thresholds_too(tmp_path):
    targets = np.column_stack([DIABETES.target, DIABETES.data[:, 2]])
    forest = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(DIABETES.data, targets)
    version_dir = publish_estimator(tmp_path, "forest", forest, DIABETES.feature_names, DIABETES.data)
    manifest = _manifest(version_dir)
    assert manifest["targets"] == ["prediction_0", "prediction_1"]
    assert manifest["onnx"]["outputs"][0]["shape"] == [None, 2]
    assert manifest["parity"]["sets"]["thresholds"]["inputs"] > 0


def test_a_plain_pickle_loads_too(tmp_path, run_main):
    model = LogisticRegression(max_iter=5000).fit(WINE.data, WINE.target)
    with (tmp_path / "model.pickle").open("wb") as pickle_file:
        pickle.dump(model, pickle_file)
    write_sample_csv(tmp_path / "sample.csv", WINE.feature_names, WINE.data)
    repository = tmp_path / "artifacts"
    result = run_main(
        *("--repository", str(repository), "--model-name", "mine"),
        *("--estimator-file", str(tmp_path / "model.pickle"), "--sample-csv", str(tmp_path / "sample.csv")),
    )
    assert result.returncode == 0, result.stderr
    for step in range(1, 7):
        assert f"[{step}/6]" in result.stdout
    assert "sklearn.linear_model.LogisticRegression, classification" in result.stdout
    assert (repository / "mine" / "1" / "model.onnx").is_file()
