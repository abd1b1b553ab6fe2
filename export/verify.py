"""Re-check a published version directory: files, manifest, checksums, ONNX interface, parity."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from export import contract, estimator_file, manifest, sample_csv
from export.errors import ExportError, VerificationError
from export.parity import format_parity, run_gate
from export.pipeline import load_reference
from export.train import load_training_data


def verify_version(version_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Raise VerificationError on the first problem; return the manifest when all is well."""
    if not version_dir.is_dir():
        raise VerificationError(f"{version_dir}: no such version directory")
    _require_files(version_dir, contract.MANIFEST_FILE, contract.ONNX_FILE)
    model_manifest = manifest.read_manifest(version_dir / contract.MANIFEST_FILE)
    log(f"{contract.MANIFEST_FILE}: valid ({model_manifest['name']} version {model_manifest['version']})")
    location = version_dir.resolve()
    expected = f"{model_manifest['name']}/{model_manifest['version']}"
    if f"{location.parent.name}/{location.name}" != expected:
        raise VerificationError(f"{version_dir}: path does not end in the manifest's {expected}")
    onnx_path = version_dir / contract.ONNX_FILE
    _check_onnx(onnx_path, model_manifest)
    log(f"{contract.ONNX_FILE}: sha256 matches, checker passes, interface matches")

    interface = manifest.interface_of(model_manifest)
    if model_manifest["estimator"]["kind"] == "file":
        reference, known_rows, known_name = _file_reference(version_dir, model_manifest, interface, log)
    else:
        _require_files(version_dir, contract.PICKLE_FILE)
        reference = _load_reference(version_dir / contract.PICKLE_FILE)
        known_rows, known_name = load_training_data()[0], "iris"
    seed = model_manifest["parity"].get("seed", 0)
    summary = run_gate(reference, onnx_path, known_rows, seed, task=interface.task, known_name=known_name)
    log("parity re-run passed:")
    log(format_parity(summary))
    return model_manifest


def _require_files(version_dir: Path, *file_names: str) -> None:
    for file_name in file_names:
        if not (version_dir / file_name).is_file():
            raise VerificationError(f"{version_dir}: missing {file_name}")


def _check_onnx(onnx_path: Path, model_manifest: dict) -> None:
    recorded, actual = model_manifest["onnx"]["sha256"], manifest.sha256_of(onnx_path)
    if recorded != actual:
        raise VerificationError(f"{onnx_path}: sha256 {actual} does not match the manifest's {recorded}")
    try:
        onnx_model = onnx.load_model(onnx_path)
        onnx.checker.check_model(onnx_model, full_check=True)
    except Exception as error:  # onnx raises several unrelated types for a corrupt file
        raise VerificationError(f"{onnx_path}: not a valid ONNX model: {error}") from None
    interface = manifest.describe_onnx(onnx_model, onnx_path)
    for key in ("inputs", "outputs"):
        if interface[key] != model_manifest["onnx"][key]:
            raise VerificationError(f"{onnx_path}: {key} {interface[key]} differ from the manifest")


def _file_reference(
    version_dir: Path, model_manifest: dict, interface: contract.ModelInterface, log: Callable[[str], None]
) -> tuple[object, np.ndarray, str]:
    """The estimator file and sample rows of a model fitted elsewhere, checked against the manifest.

    Loading the estimator runs code: verify only a repository you trust.
    """
    _require_files(version_dir, contract.ESTIMATOR_FILE, contract.SAMPLE_FILE)
    path = version_dir / contract.ESTIMATOR_FILE
    data = path.read_bytes()
    recorded, actual = model_manifest["estimator"].get("sha256"), hashlib.sha256(data).hexdigest()
    if recorded != actual:
        raise VerificationError(f"{path}: sha256 {actual} does not match the manifest's {recorded}")
    try:
        estimator = estimator_file.load_estimator(data, path, log)
        sample = sample_csv.read_sample_csv(version_dir / contract.SAMPLE_FILE)
        sample_csv.check_sample_fits(sample, estimator, version_dir / contract.SAMPLE_FILE)
        described = estimator_file.interface_of(estimator, sample.features, sample.rows)
    except ExportError as error:
        raise VerificationError(str(error)) from None
    if described != interface:
        raise VerificationError(f"{path}: answers as {described}, the manifest says {interface}")
    log(f"{contract.ESTIMATOR_FILE}: sha256 matches; {contract.SAMPLE_FILE}: {len(sample.rows)} rows")
    return estimator, sample.rows, "sample"


def _load_reference(path: Path):
    try:
        reference = load_reference(path)
    except Exception as error:  # a corrupt pickle can fail in many ways
        raise VerificationError(
            f"{path}: cannot load the reference model: {type(error).__name__}: {error}"
        ) from None
    if not hasattr(reference, "predict_proba"):
        raise VerificationError(f"{path}: holds a {type(reference).__name__}, not a classifier")
    return reference
