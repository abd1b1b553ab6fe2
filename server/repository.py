"""Reads the model repository: <root>/<name>/<version>/ holding model.json and model.onnx.

The manifest (model.json) is the source of truth: the ONNX file must have the sha256 it records,
and the graph's inputs and outputs must be the ones it lists for the model's task. Any mismatch is
a ModelLoadError with a one-line message, and that version is not served.

Only directories whose names are valid model names (common/names.py) and versions (1, 2, ...)
are read; anything else there, such as an export's staging directory, is not a model.
"""

import hashlib
import json
import pathlib
from typing import Any

import onnxruntime

from common.names import CLASSIFICATION, MODEL_NAME_PATTERN, REGRESSION
from server.model import ModelMetadata, OnnxModel

MANIFEST_FILE = "model.json"
# Manifest dtype -> the type onnxruntime reports for a tensor of it.
ONNX_TENSOR_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)"}


class ModelLoadError(Exception):
    """A missing, corrupt or inconsistent model artifact; the message says which and why."""


class ModelRepository:
    """The models under one root directory, a directory per name and an integer one per version."""

    def __init__(self, root: pathlib.Path):
        self.root = root

    def model_names(self) -> list[str]:
        """The models in the repository, sorted; ModelLoadError if it is not a readable directory."""
        try:
            entries = list(self.root.iterdir())
        except OSError as error:
            raise ModelLoadError(
                f"model repository {self.root} is not a readable directory: {error}"
            ) from None
        return sorted(p.name for p in entries if MODEL_NAME_PATTERN.fullmatch(p.name) and p.is_dir())

    def versions(self, name: str) -> list[int]:
        """The versions of model `name`, ascending (integer directory names only)."""
        model_dir = self.root / name
        if not self.root.is_dir():
            raise ModelLoadError(f"model repository {self.root} is not a directory")
        if not model_dir.is_dir():
            found = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            raise ModelLoadError(f"no model {name!r} in repository {self.root} (models found: {found})")
        try:
            entries = list(model_dir.iterdir())
        except OSError as error:
            raise ModelLoadError(f"{model_dir} is not readable: {error}") from None
        return sorted(int(p.name) for p in entries if _is_version_name(p.name) and p.is_dir())

    def fingerprint(self, name: str, version: int) -> tuple[int, ...] | None:
        """What changes when a version directory or its manifest is replaced (a new publication),
        or None if it is gone."""
        directory = self.root / name / str(version)
        try:
            stats = directory.stat(), (directory / MANIFEST_FILE).stat()
        except OSError:
            return None
        return tuple(n for s in stats for n in (s.st_ino, s.st_mtime_ns, s.st_size))

    def version_dir(self, name: str, version: int | None) -> pathlib.Path:
        """The directory of `version` of model `name`; version None means the highest one."""
        versions = self.versions(name)
        if not versions:
            raise ModelLoadError(f"model {name!r} has no version directory (1, 2, ...) in {self.root / name}")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelLoadError(f"model {name!r} has no version {version} in {self.root / name}: {versions}")
        return self.root / name / str(version)

    def load(
        self,
        name: str,
        version: int | None,
        *,
        intra_op_threads: int,
        inter_op_threads: int,
        max_batch_rows: int,
    ) -> OnnxModel:
        """Check and load a model; raise ModelLoadError if anything about it is wrong."""
        directory = self.version_dir(name, version)
        manifest = _read_manifest(directory / MANIFEST_FILE)
        if manifest["name"] != name or str(manifest["version"]) != directory.name:
            raise ModelLoadError(
                f"{directory / MANIFEST_FILE} says model {manifest['name']!r} version {manifest['version']} "
                f"but sits in {directory}"
            )
        onnx_path = directory / manifest["onnx"]["file"]
        model_bytes = _read_checked(onnx_path, manifest["onnx"]["sha256"])
        session = _create_session(onnx_path, model_bytes, intra_op_threads, inter_op_threads)
        metadata = _check_graph(onnx_path, session, manifest)
        return OnnxModel(session, metadata, max_batch_rows)


def _is_version_name(text: str) -> bool:
    return text.isascii() and text.isdigit() and not text.startswith("0")


def _read_manifest(path: pathlib.Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path} is not readable JSON: {error}") from None
    expected = {
        "name": str,
        "version": int,
        "onnx": dict,
        "onnx.file": str,
        "onnx.sha256": str,
        "onnx.inputs": list,
        "onnx.outputs": list,
        "features": list,
        "classes": list,
    }
    for key, kind in expected.items():
        value: Any = manifest
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ModelLoadError(f"{path}: {key!r} is missing or not a JSON {kind.__name__}")
    task = manifest.setdefault("task", CLASSIFICATION)  # manifests before regressors had no task
    if task not in (CLASSIFICATION, REGRESSION):
        raise ModelLoadError(f"{path}: 'task' is {task!r}; expected {CLASSIFICATION!r} or {REGRESSION!r}")
    targets = manifest.setdefault("targets", [])
    if task == REGRESSION and (not isinstance(targets, list) or not targets):
        raise ModelLoadError(f"{path}: a regression model needs 'targets', a name per predicted column")
    return manifest


def _read_checked(path: pathlib.Path, expected_sha256: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing (named by its manifest)") from None
    except OSError as error:
        raise ModelLoadError(f"{path} is not readable: {error}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256.lower():
        raise ModelLoadError(
            f"{path} is corrupt or replaced: its sha256 is {actual}, the manifest says {expected_sha256}"
        )
    return data


def _create_session(
    path: pathlib.Path, model_bytes: bytes, intra_op_threads: int, inter_op_threads: int
) -> onnxruntime.InferenceSession:
    # onnxruntime sizes its pools from the host's cores, not the container's quota: set both.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings are not ours to act on
    try:
        # The checked bytes, not the path: what runs is exactly what was hashed.
        return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises several private exception types
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"{path}: onnxruntime cannot load it: {first_line}") from None


def _describe(dtype: str, shape: list[Any]) -> str:
    return f"{dtype} [{', '.join('N' if d is None else str(d) for d in shape)}]"


def _graph_signature(node: onnxruntime.NodeArg) -> str:
    dtypes = {onnx_type: dtype for dtype, onnx_type in ONNX_TENSOR_TYPES.items()}
    shape = [d if isinstance(d, int) else None for d in node.shape]
    return _describe(dtypes.get(node.type, node.type), shape)


def _required_output(width: int | None) -> str:
    """What the server needs of an output of ModelMetadata.output_widths: `label` int64 [N], or
    float32 [N, width] (probabilities, predictions)."""
    return _describe("int64", [None]) if width is None else _describe("float32", [None, width])


def _check_graph(
    path: pathlib.Path, session: onnxruntime.InferenceSession, manifest: dict[str, Any]
) -> ModelMetadata:
    """Compare the graph's inputs and outputs with the manifest's; build the model's metadata."""
    inputs = _compare_signatures(path, "inputs", manifest["onnx"]["inputs"], session.get_inputs())
    outputs = _compare_signatures(path, "outputs", manifest["onnx"]["outputs"], session.get_outputs())
    task = manifest["task"]
    features = tuple(str(name) for name in manifest["features"])
    class_names = _class_names(path, manifest["classes"]) if task == CLASSIFICATION else ()
    target_names = tuple(str(name) for name in manifest["targets"]) if task == REGRESSION else ()
    metadata = ModelMetadata(
        name=manifest["name"],
        version=manifest["version"],
        sha256=manifest["onnx"]["sha256"].lower(),
        task=task,
        feature_names=features,
        class_names=class_names,
        target_names=target_names,
        input_name=next(iter(inputs), ""),
    )
    features_input = _describe("float32", [None, len(features)])
    if list(inputs.values()) != [features_input]:
        raise ModelLoadError(
            f"{path}: the server needs one input {features_input} (a column per feature); "
            f"the graph has {inputs}"
        )
    for name, width in metadata.output_widths.items():
        if outputs.get(name) != (needed := _required_output(width)):
            raise ModelLoadError(
                f"{path}: a {task} model needs output {name!r} {needed}; the graph has {outputs}"
            )
    return metadata


def _compare_signatures(
    path: pathlib.Path, kind: str, declared: list[Any], nodes: list[onnxruntime.NodeArg]
) -> dict[str, str]:
    """The graph's {name: "dtype [shape]"} for inputs or outputs, checked against the manifest's."""
    graph = {node.name: _graph_signature(node) for node in nodes}
    try:
        listed = {item["name"]: _describe(item["dtype"], item["shape"]) for item in declared}
    except (TypeError, KeyError):
        manifest_path = path.parent / MANIFEST_FILE
        raise ModelLoadError(f"{manifest_path}: onnx.{kind} entries need name, dtype, shape") from None
    if listed != graph:
        raise ModelLoadError(f"{path}: the graph's {kind} {graph} do not match the manifest's {listed}")
    return graph


def _class_names(path: pathlib.Path, classes: list[Any]) -> tuple[str, ...]:
    """Class names indexed by class id; the ids must be 0, 1, ... in some order."""
    try:
        by_id = {int(c["id"]): str(c["name"]) for c in classes}
    except (TypeError, KeyError, ValueError):
        by_id = {}
    if sorted(by_id) != list(range(len(classes))) or not classes:
        manifest_path = path.parent / MANIFEST_FILE
        raise ModelLoadError(f"{manifest_path}: classes must be {{id, name}} objects with ids 0, 1, ...")
    return tuple(by_id[i] for i in range(len(classes)))
