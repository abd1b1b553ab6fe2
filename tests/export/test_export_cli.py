"""``python -m export`` as a user runs it: progress, reproducible output, one-line errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from export import manifest, parity, parity_inputs, train

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = REPO_ROOT / "artifacts" / "iris" / "1"


def run_export(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("IRIS_")} | env
    return subprocess.run(
        [sys.executable, "-m", "export", *args],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(
    result: subprocess.CompletedProcess, *fragments: str, prefix: str = "export: error: ", status: int = 1
) -> None:
    assert result.returncode == status
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(prefix)
    for fragment in fragments:
        assert fragment in result.stderr


def assert_usage_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """A bad setting: one line, as the server's and the proxy's, and argparse's exit status 2."""
    assert_one_line_error(result, *fragments, prefix="python -m export: error: ", status=2)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A default export into a fresh repository, run once for the module."""
    repository = tmp_path_factory.mktemp("cli") / "artifacts"
    return run_export("--repository", str(repository)), repository


def test_export_prints_each_step_cv_accuracy_and_parity_summary(exported):
    result, repository = exported
    assert result.returncode == 0, result.stderr
    for step in range(1, 7):
        assert f"[{step}/6]" in result.stdout
    assert "CV accuracy 0.9" in result.stdout
    assert "generated   12000 inputs, label disagreements 0" in result.stdout
    assert f"published {repository / 'iris' / '1'}" in result.stdout
    assert sorted(path.name for path in (repository / "iris").iterdir()) == ["1"]


def test_the_iris_manifest_says_its_task_and_keeps_every_key_of_the_committed_one(exported):
    _, repository = exported
    written = json.loads((repository / "iris" / "1" / "model.json").read_text())
    committed = json.loads((ARTIFACT / "model.json").read_text())
    assert written["task"] == "classification"
    assert set(written) == set(committed) | {"task"}
    assert written["onnx"]["outputs"] == committed["onnx"]["outputs"]


def test_rerunning_the_export_reproduces_the_committed_predictions(exported):
    """Same seed and libraries: the new model answers exactly like artifacts/iris/1."""
    _, repository = exported
    features = train.load_training_data()[0]
    inputs = np.concatenate([features.astype(np.float32), parity_inputs.generated_inputs(features, seed=7)])
    new = parity.load_onnx_session(repository / "iris" / "1" / "model.onnx").run(None, {"input": inputs})
    committed = parity.load_onnx_session(ARTIFACT / "model.onnx").run(None, {"input": inputs})
    np.testing.assert_array_equal(new[0], committed[0])
    np.testing.assert_allclose(new[1], committed[1], rtol=0, atol=1e-6)  # a few float32 ulps


def test_verify_accepts_the_committed_version(run_main):
    result = run_main("--verify", str(ARTIFACT))
    assert result.returncode == 0, result.stderr
    assert "parity re-run passed" in result.stdout


def test_verify_rejects_a_perturbed_model_with_count_and_worst_case(tmp_path, run_main):
    """The gate, run by --verify, fails an ONNX file whose coefficient was nudged by 1%."""
    version_dir = tmp_path / "iris" / "1"
    shutil.copytree(ARTIFACT, version_dir)
    model = onnx.load_model(version_dir / "model.onnx")
    (node,) = [node for node in model.graph.node if node.op_type == "LinearClassifier"]
    (attribute,) = [attribute for attribute in node.attribute if attribute.name == "coefficients"]
    coefficients = list(attribute.floats)
    coefficients[0] *= 1.01
    attribute.CopyFrom(helper.make_attribute("coefficients", coefficients))
    onnx.save_model(model, version_dir / "model.onnx")
    manifest_path = version_dir / "model.json"
    data = json.loads(manifest_path.read_text())
    data["onnx"]["sha256"] = manifest.sha256_of(version_dir / "model.onnx")  # so parity is what fails
    manifest_path.write_text(json.dumps(data))

    result = run_main("--verify", str(version_dir))
    assert_one_line_error(result, "inputs disagree", "worst:", "max |probability difference|")


def test_unknown_estimator_is_a_one_line_error():
    assert_usage_error(run_export("--estimator", "svm"), "--estimator", "'svm'", "logreg, forest")


def test_unknown_estimator_from_the_environment_names_the_variable(run_main):
    assert_usage_error(run_main(IRIS_ESTIMATOR="svm"), "IRIS_ESTIMATOR", "'svm'")


def test_bad_version_names_the_setting_and_value(run_main):
    assert_usage_error(run_main(IRIS_VERSION="two"), "IRIS_VERSION", "'two'")


def test_existing_version_without_force_is_refused_and_kept(exported, run_main):
    _, repository = exported
    version_dir = repository / "iris" / "1"
    before = {path.name: path.read_bytes() for path in version_dir.iterdir()}
    result = run_main("--repository", str(repository), "--version", "1")
    assert_one_line_error(result, "already exists", "--force")
    assert {path.name: path.read_bytes() for path in version_dir.iterdir()} == before


def test_repository_that_is_a_file_is_unwritable(tmp_path, run_main):
    not_a_directory = tmp_path / "artifacts"
    not_a_directory.write_text("")
    assert_one_line_error(run_main("--repository", str(not_a_directory)), "not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_repository_is_unwritable(tmp_path, run_main):
    repository = tmp_path / "artifacts"
    (repository / "iris").mkdir(parents=True)
    (repository / "iris").chmod(0o555)
    try:
        assert_one_line_error(run_main("--repository", str(repository)), "not writable")
    finally:
        (repository / "iris").chmod(0o755)


def test_verify_of_a_missing_directory_is_a_one_line_error(tmp_path, run_main):
    assert_one_line_error(run_main("--verify", str(tmp_path / "iris" / "9")), "no such version directory")
