"""model.json: what a version directory holds, built at export and validated on every read."""

import hashlib
import json
import re
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

import onnx

from export.contract import (
    CLASS_NAMES,
    FEATURE_NAMES,
    MANIFEST_FILE,
    ONNX_FILE,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    describe_tensors,
)
from export.errors import VerificationError

LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe_onnx(model: onnx.ModelProto, onnx_path: Path) -> dict:
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    return {
        "file": ONNX_FILE,
        "sha256": sha256_of(onnx_path),
        "opset": opsets["ai.onnx"],
        "opset_imports": opsets,
        "inputs": describe_tensors(model.graph.input),
        "outputs": describe_tensors(model.graph.output),
    }


def build_manifest(
    *, name: str, version: int, estimator: dict, metrics: dict, parity: dict, onnx_description: dict
) -> dict:
    """The manifest of a version; ``estimator`` is {"kind": ..., "params": ...}."""
    return {
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "estimator": estimator,
        "library_versions": {library: installed_version(library) for library in LIBRARIES},
        "onnx": onnx_description,
        "features": list(FEATURE_NAMES),
        "classes": [{"id": class_id, "name": class_name} for class_id, class_name in enumerate(CLASS_NAMES)],
        "metrics": metrics,
        "parity": parity,
    }


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(f"{MANIFEST_FILE}: {message}")


def validate_manifest(manifest: object) -> None:
    """Raise VerificationError naming the first key that breaks the artifact contract."""
    _require(isinstance(manifest, dict), "must be a JSON object")
    required = {
        "name": str,
        "version": int,
        "created_at": str,
        "estimator": dict,
        "library_versions": dict,
        "onnx": dict,
        "features": list,
        "classes": list,
        "metrics": dict,
        "parity": dict,
    }
    for key, expected_type in required.items():
        _require(key in manifest, f"missing key {key!r}")
        _require(
            isinstance(manifest[key], expected_type) and not isinstance(manifest[key], bool),
            f"{key!r} must be a {expected_type.__name__}, got {manifest[key]!r:.80}",
        )
    _require(manifest["version"] >= 1, f"'version' must be a positive integer, got {manifest['version']}")
    try:
        created_at = datetime.fromisoformat(manifest["created_at"])
    except ValueError:
        created_at = None
    _require(
        created_at is not None
        and created_at.utcoffset() is not None
        and created_at.utcoffset().total_seconds() == 0,
        f"'created_at' must be an ISO-8601 UTC time, got {manifest['created_at']!r}",
    )
    estimator = manifest["estimator"]
    _require(
        isinstance(estimator.get("kind"), str) and isinstance(estimator.get("params"), dict),
        "'estimator' needs a string 'kind' and a 'params' object",
    )
    for library in LIBRARIES:
        _require(
            isinstance(manifest["library_versions"].get(library), str),
            f"'library_versions' lacks {library!r}",
        )
    described = manifest["onnx"]
    _require(described.get("file") == ONNX_FILE, f"'onnx.file' must be {ONNX_FILE!r}")
    _require(
        isinstance(described.get("sha256"), str) and bool(SHA256_PATTERN.fullmatch(described["sha256"])),
        "'onnx.sha256' must be 64 lowercase hex digits",
    )
    _require(isinstance(described.get("opset"), int), "'onnx.opset' must be an integer")
    _require(described.get("inputs") == ONNX_INPUTS, f"'onnx.inputs' must be {ONNX_INPUTS}")
    _require(described.get("outputs") == ONNX_OUTPUTS, f"'onnx.outputs' must be {ONNX_OUTPUTS}")
    _require(manifest["features"] == list(FEATURE_NAMES), f"'features' must be {list(FEATURE_NAMES)}")
    expected_classes = [{"id": class_id, "name": name} for class_id, name in enumerate(CLASS_NAMES)]
    _require(manifest["classes"] == expected_classes, f"'classes' must be {expected_classes}")
    _require(manifest["parity"].get("passed") is True, "'parity.passed' must be true")


def write_manifest(manifest: dict, path: Path) -> None:
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> dict:
    """Parse and validate a manifest file."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VerificationError(f"{path}: cannot read the manifest: {error}") from None
    validate_manifest(manifest)
    return manifest
