"""Re-check a published version directory: files, manifest, checksum, ONNX interface, parity."""

from collections.abc import Callable
from pathlib import Path

import onnx

from export import contract, manifest
from export.errors import VerificationError
from export.pipeline import format_parity, load_reference, run_gate
from export.train import load_training_data


def verify_version(version_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Raise VerificationError on the first problem; return the manifest when all is well."""
    if not version_dir.is_dir():
        raise VerificationError(f"{version_dir}: no such version directory")
    for file_name in (contract.MANIFEST_FILE, contract.ONNX_FILE, contract.PICKLE_FILE):
        if not (version_dir / file_name).is_file():
            raise VerificationError(f"{version_dir}: missing {file_name}")
    model_manifest = manifest.read_manifest(version_dir / contract.MANIFEST_FILE)
    log(f"{contract.MANIFEST_FILE}: valid ({model_manifest['name']} version {model_manifest['version']})")
    location = version_dir.resolve()
    expected = f"{model_manifest['name']}/{model_manifest['version']}"
    if f"{location.parent.name}/{location.name}" != expected:
        raise VerificationError(f"{version_dir}: path does not end in the manifest's {expected}")

    onnx_path = version_dir / contract.ONNX_FILE
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
    log(f"{contract.ONNX_FILE}: sha256 matches, checker passes, interface matches")

    reference = _load_reference(version_dir / contract.PICKLE_FILE)
    features, _ = load_training_data()
    summary = run_gate(reference, onnx_path, features, seed=model_manifest["parity"].get("seed", 0))
    log("parity re-run passed:")
    log(format_parity(summary))
    return model_manifest


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
