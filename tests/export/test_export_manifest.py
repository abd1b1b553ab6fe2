"""model.json: the committed manifest keeps the artifact contract; verification catches damage."""

import copy
import hashlib
import json
import re
import shutil
from pathlib import Path

import onnx
import pytest

from export import convert, manifest
from export.errors import VerificationError
from export.verify import verify_version
from tests.support.user_models import publish_diabetes

ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "iris" / "1"


@pytest.fixture(scope="module")
def committed_manifest() -> dict:
    return json.loads((ARTIFACT / "model.json").read_text())


@pytest.fixture
def version_copy(tmp_path) -> Path:
    """A copy of the committed version at <tmp>/iris/1, safe to damage."""
    target = tmp_path / "iris" / "1"
    shutil.copytree(ARTIFACT, target)
    return target


def _rewrite_manifest(version_dir: Path, change) -> None:
    path = version_dir / "model.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_committed_manifest_is_valid_and_describes_the_contract(committed_manifest):
    manifest.validate_manifest(committed_manifest)
    assert committed_manifest["name"] == "iris"
    assert committed_manifest["version"] == 1
    assert committed_manifest["estimator"]["kind"] == "logreg"
    assert committed_manifest["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert [entry["name"] for entry in committed_manifest["classes"]] == ["setosa", "versicolor", "virginica"]
    assert committed_manifest["onnx"]["inputs"] == [{"name": "input", "dtype": "float32", "shape": [None, 4]}]
    assert committed_manifest["onnx"]["outputs"] == [
        {"name": "label", "dtype": "int64", "shape": [None]},
        {"name": "probabilities", "dtype": "float32", "shape": [None, 3]},
    ]
    assert committed_manifest["onnx"]["opset"] == convert.TARGET_OPSET[""]
    assert set(committed_manifest["library_versions"]) == set(manifest.LIBRARIES)
    assert committed_manifest["metrics"]["cross_validation"]["folds"] == 5
    assert committed_manifest["created_at"].endswith("Z")


def test_committed_sha256_matches_model_file(committed_manifest):
    digest = hashlib.sha256((ARTIFACT / "model.onnx").read_bytes()).hexdigest()
    assert committed_manifest["onnx"]["sha256"] == digest


def test_manifest_interface_matches_the_onnx_graph(committed_manifest):
    described = manifest.describe_onnx(onnx.load_model(ARTIFACT / "model.onnx"), ARTIFACT / "model.onnx")
    assert described["inputs"] == committed_manifest["onnx"]["inputs"]
    assert described["outputs"] == committed_manifest["onnx"]["outputs"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.pop("features"), "'features'"),
        (lambda m: m.update(version="1"), "'version'"),
        (lambda m: m.update(version=0), "'version'"),
        (lambda m: m.update(created_at="yesterday"), "'created_at'"),
        (lambda m: m.update(created_at="2026-11-25T10:00:00+02:00"), "'created_at'"),
        (lambda m: m["onnx"].update(sha256="abc"), "'onnx.sha256'"),
        (lambda m: m["onnx"]["inputs"][0].update(dtype="float64"), "'onnx.inputs'"),
        (lambda m: m["onnx"]["outputs"].reverse(), "'onnx.outputs'"),
        (lambda m: m["library_versions"].pop("onnxruntime"), "'onnxruntime'"),
        (lambda m: m["classes"].reverse(), "'classes'"),
        (lambda m: m["parity"].update(passed=False), "'parity.passed'"),
    ],
)
def test_validation_names_the_broken_key(committed_manifest, change, named):
    broken = copy.deepcopy(committed_manifest)
    change(broken)
    with pytest.raises(VerificationError, match=re.escape(named)):
        manifest.validate_manifest(broken)


def test_a_manifest_written_before_task_existed_is_a_classifiers(committed_manifest):
    assert "task" not in committed_manifest
    assert manifest.interface_of(committed_manifest).task == "classification"


@pytest.fixture(scope="module")
def regressor_manifest(tmp_path_factory) -> dict:
    version_dir = publish_diabetes(tmp_path_factory.mktemp("diabetes") / "artifacts")
    return json.loads((version_dir / "model.json").read_text())


def test_a_regressors_manifest_is_valid(regressor_manifest):
    manifest.validate_manifest(regressor_manifest)
    interface = manifest.interface_of(regressor_manifest)
    assert (interface.task, interface.targets, interface.classes) == ("regression", ("prediction",), ())


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.update(task="clustering"), "'task'"),
        (lambda m: m.pop("targets"), "'targets'"),
        (lambda m: m.update(targets=[]), "'targets'"),
        (lambda m: m.update(targets=["a", "b"]), "'onnx.outputs'"),
        (lambda m: m.update(classes=[{"id": 0, "name": "low"}]), "'classes'"),
        (lambda m: m["features"].append("age"), "'features'"),
        (lambda m: m["onnx"]["outputs"][0].update(name="variable"), "'onnx.outputs'"),
        (lambda m: m.update(task="classification"), "'targets' is for regressors only"),
    ],
)
def test_validation_of_a_regressors_manifest_names_the_broken_key(regressor_manifest, change, named):
    broken = copy.deepcopy(regressor_manifest)
    change(broken)
    with pytest.raises(VerificationError, match=re.escape(named)):
        manifest.validate_manifest(broken)


def test_verify_accepts_the_committed_version():
    assert verify_version(ARTIFACT, log=lambda line: None)["version"] == 1


@pytest.mark.parametrize("missing", ["model.json", "model.onnx", "iris_model.pickle"])
def test_verify_reports_a_missing_file(version_copy, missing):
    (version_copy / missing).unlink()
    with pytest.raises(VerificationError, match=f"missing {missing}"):
        verify_version(version_copy, log=lambda line: None)


def test_verify_reports_an_onnx_file_that_does_not_match_its_sha256(version_copy):
    with (version_copy / "model.onnx").open("ab") as model_file:
        model_file.write(b"\0")
    with pytest.raises(VerificationError, match=r"sha256 .* does not match"):
        verify_version(version_copy, log=lambda line: None)


def test_verify_reports_corrupt_onnx_even_with_a_matching_sha256(version_copy):
    (version_copy / "model.onnx").write_bytes(b"not an onnx model")
    digest = manifest.sha256_of(version_copy / "model.onnx")
    _rewrite_manifest(version_copy, lambda data: data["onnx"].update(sha256=digest))
    with pytest.raises(VerificationError, match="not a valid ONNX model"):
        verify_version(version_copy, log=lambda line: None)


def test_verify_reports_a_corrupt_manifest(version_copy):
    (version_copy / "model.json").write_text("{ truncated")
    with pytest.raises(VerificationError, match="cannot read the manifest"):
        verify_version(version_copy, log=lambda line: None)


def test_verify_reports_a_corrupt_pickle(version_copy):
    (version_copy / "iris_model.pickle").write_bytes(b"\x80\x05garbage")
    with pytest.raises(VerificationError, match="cannot load the reference model"):
        verify_version(version_copy, log=lambda line: None)


def test_verify_reports_a_manifest_for_another_version(version_copy):
    _rewrite_manifest(version_copy, lambda data: data.update(version=2))
    with pytest.raises(VerificationError, match="iris/2"):
        verify_version(version_copy, log=lambda line: None)
