"""model.json: what a version directory holds, built at export and validated on every read."""

import hashlib
import json
import re
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path

import onnx

from export.contract import (
    CLASSIFICATION,
    MANIFEST_FILE,
    ONNX_FILE,
    REGRESSION,
    TASKS,
    ModelInterface,
    describe_tensors,
)
from export.errors import VerificationError

LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
# Keys every manifest has, with their JSON types; "task" and, for a regressor, "targets" besides.
REQUIRED_KEYS = {
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
    *,
    name: str,
    version: int,
    interface: ModelInterface,
    estimator: dict,
    metrics: dict,
    parity: dict,
    onnx_description: dict,
) -> dict:
    """The manifest of a version; ``estimator`` has a "kind" and "params" (and more, by kind)."""
    manifest = {
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "task": interface.task,
        "estimator": estimator,
        "library_versions": {library: installed_version(library) for library in LIBRARIES},
        "onnx": onnx_description,
        "features": list(interface.features),
        "classes": [
            {"id": class_id, "name": class_name} for class_id, class_name in enumerate(interface.classes)
        ],
    }
    if interface.task == REGRESSION:
        manifest["targets"] = list(interface.targets)
    return manifest | {"metrics": metrics, "parity": parity}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(f"{MANIFEST_FILE}: {message}")


def validate_manifest(manifest: object) -> None:
    """Raise VerificationError naming the first key that breaks the artifact contract."""
    _require(isinstance(manifest, dict), "must be a JSON object")
    for key, expected_type in REQUIRED_KEYS.items():
        _require(key in manifest, f"missing key {key!r}")
        _require(
            isinstance(manifest[key], expected_type) and not isinstance(manifest[key], bool),
            f"{key!r} must be a {expected_type.__name__}, got {manifest[key]!r:.80}",
        )
    _require(manifest["version"] >= 1, f"'version' must be a positive integer, got {manifest['version']}")
    _check_created_at(manifest["created_at"])
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
    _check_onnx(manifest["onnx"], interface_of(manifest))
    _require(manifest["parity"].get("passed") is True, "'parity.passed' must be true")


def _check_created_at(text: str) -> None:
    try:
        created_at = datetime.fromisoformat(text)
    except ValueError:
        created_at = None
    _require(
        created_at is not None
        and created_at.utcoffset() is not None
        and created_at.utcoffset().total_seconds() == 0,
        f"'created_at' must be an ISO-8601 UTC time, got {text!r}",
    )


def _check_onnx(described: dict, interface: ModelInterface) -> None:
    _require(described.get("file") == ONNX_FILE, f"'onnx.file' must be {ONNX_FILE!r}")
    _require(
        isinstance(described.get("sha256"), str) and bool(SHA256_PATTERN.fullmatch(described["sha256"])),
        "'onnx.sha256' must be 64 lowercase hex digits",
    )
    _require(isinstance(described.get("opset"), int), "'onnx.opset' must be an integer")
    inputs, outputs = interface.onnx_inputs, interface.onnx_outputs
    _require(described.get("inputs") == inputs, f"'onnx.inputs' must be {inputs}")
    _require(described.get("outputs") == outputs, f"'onnx.outputs' must be {outputs}")


def interface_of(manifest: dict) -> ModelInterface:
    """The task, features and class or target names a valid manifest declares, checked.

    A manifest without "task" (written before it existed) is a classifier's.
    """
    task = manifest.get("task", CLASSIFICATION)
    _require(task in TASKS, f"'task' must be one of {', '.join(TASKS)}, got {task!r:.80}")
    features = _names(manifest["features"], "features")
    classes = manifest["classes"]
    if task == REGRESSION:
        _require(classes == [], "'classes' must be [] for a regressor")
        _require("targets" in manifest, "missing key 'targets'")
        return ModelInterface(task, features, targets=_names(manifest["targets"], "targets"))
    _require("targets" not in manifest, "'targets' is for regressors only")
    _require(
        all(isinstance(entry, dict) for entry in classes)
        and [entry.get("id") for entry in classes] == list(range(len(classes)))
        and all(type(entry["id"]) is int for entry in classes),
        "'classes' must be {id, name} objects with the ids 0, 1, ... in order",
    )
    return ModelInterface(task, features, classes=_names([entry.get("name") for entry in classes], "classes"))


def _names(values: object, key: str) -> tuple[str, ...]:
    _require(
        isinstance(values, list)
        and bool(values)
        and all(isinstance(value, str) and value for value in values)
        and len(set(values)) == len(values),
        f"{key!r} must name one or more, each once (non-empty strings)",
    )
    return tuple(values)


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
