"""Re-check a published version directory: files, manifest, checksum, ONNX interface, parity."""

import pickle
from collections.abc import Callable
from pathlib import Path

import onnx

from export import manifest
from export.errors import ExportError, VerificationError
from export.pipeline import format_parity, run_gate
from export.train import load_training_data


def verify_version(version_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Raise VerificationError on the first problem; return the manifest when all is well."""
    if not version_dir.is_dir():
        raise VerificationError(f"{version_dir}: no such version directory")
    for file_name in (manifest.MANIFEST_FILE, manifest.ONNX_FILE, manifest.PICKLE_FILE):
        if not (version_dir / file_name).is_file():
            raise VerificationError(f"{version_dir}: missing {file_name}")
    model_manifest = manifest.read_manifest(version_dir / manifest.MANIFEST_FILE)
    log(f"{manifest.MANIFEST_FILE}: valid ({model_manifest['name']} version {model_manifest['version']})")
    if version_dir.resolve().name != str(model_manifest["version"]):
        raise VerificationError(
            f"{version_dir}: directory name does not match manifest version {model_manifest['version']}"
        )

    onnx_path = version_dir / manifest.ONNX_FILE
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
    log(f"{manifest.ONNX_FILE}: sha256 matches, checker passes, interface matches")

    features, _ = load_training_data()
    seed = model_manifest["parity"].get("seed", 0)
    try:
        summary = run_gate(version_dir / manifest.PICKLE_FILE, onnx_path, features, seed)
    except ExportError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as error:
        raise VerificationError(
            f"{version_dir / manifest.PICKLE_FILE}: cannot use the reference: {error}"
        ) from None
    log("parity re-run passed:")
    log(format_parity(summary))
    return model_manifest
