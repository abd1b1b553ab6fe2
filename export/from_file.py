"""A model fitted elsewhere, step by step: load its estimator file, read its sample CSV, convert,
check parity, write the manifest (pipeline.export_model publishes the version).

Nothing is trained. The version keeps byte-exact copies of both files (contract.ESTIMATOR_FILE,
contract.SAMPLE_FILE): the estimator is loaded from the very bytes copied and hashed, so the
reference beside the model is the one the gate passed, and --verify re-runs the gate with them.
"""

import hashlib
from collections.abc import Callable
from pathlib import Path

import onnx
from sklearn.base import BaseEstimator

from export import contract, convert, estimator_file, manifest, parity, publish, sample_csv, train
from export.config import Settings
from export.contract import ModelInterface
from export.errors import ExportError

STEPS = 6  # the last, publishing, is pipeline.export_model's


def build_version(staging: Path, settings: Settings, version: int, log: Callable[[str], None]) -> None:
    """Convert, gate and describe the settings' estimator file: the contents of a version directory."""
    log(f"[1/{STEPS}] loading {settings.estimator_file} (joblib: it runs code, so only a file you trust)")
    estimator_bytes = _copy_into(staging / contract.ESTIMATOR_FILE, settings.estimator_file)
    estimator = estimator_file.load_estimator(estimator_bytes, settings.estimator_file, log)
    log(f"        {estimator_file.class_path(estimator)}, {estimator_file.task_of(estimator)}")

    log(f"[2/{STEPS}] reading {settings.sample_csv}")
    sample_bytes = _copy_into(staging / contract.SAMPLE_FILE, settings.sample_csv)
    sample = sample_csv.parse_sample_csv(sample_bytes, settings.sample_csv)
    sample_csv.check_sample_fits(sample, estimator, settings.sample_csv)
    log(f"        {len(sample.rows)} rows of {len(sample.features)} features")
    interface = estimator_file.interface_of(estimator, sample.features, sample.rows)
    check_follows_published(staging.parent, version, interface)

    opset = convert.TARGET_OPSET
    log(f"[3/{STEPS}] converting to ONNX (opset {opset['']}, ai.onnx.ml {opset['ai.onnx.ml']})")
    onnx_model = convert.convert_to_onnx(estimator, interface)
    onnx.save_model(onnx_model, staging / contract.ONNX_FILE)

    log(f"[4/{STEPS}] parity gate: scikit-learn vs onnxruntime")
    onnx_path = staging / contract.ONNX_FILE
    summary = parity.run_gate(
        estimator, onnx_path, sample.rows, settings.seed, task=interface.task, known_name="sample"
    )
    log(parity.format_parity(summary))

    log(f"[5/{STEPS}] writing {contract.MANIFEST_FILE}")
    model_manifest = manifest.build_manifest(
        name=settings.name,
        version=version,
        interface=interface,
        estimator=describe_file_estimator(estimator, settings.estimator_file, estimator_bytes),
        metrics={},  # nothing was trained here, and the sample has no answers to score against
        parity=summary,
        onnx_description=manifest.describe_onnx(onnx_model, onnx_path),
    )
    manifest.validate_manifest(model_manifest)
    manifest.write_manifest(model_manifest, staging / contract.MANIFEST_FILE)


def _copy_into(destination: Path, source: Path) -> bytes:
    """Copy the file and return its bytes, read once."""
    try:
        data = source.read_bytes()
    except OSError as error:
        raise ExportError(f"{source}: cannot read it: {error.strerror}") from None
    destination.write_bytes(data)
    return data


def describe_file_estimator(estimator: BaseEstimator, path: Path, data: bytes) -> dict:
    """The manifest's "estimator": where it came from, and its steps and hyper-parameters."""
    return {
        "kind": "file",
        "class": estimator_file.class_path(estimator),
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "params": train.describe_estimator(estimator),
    }


def check_follows_published(model_dir: Path, version: int, interface: ModelInterface) -> None:
    """Refuse a model whose task or features differ from those of the name's latest other version.

    Clients call a model by its name: another model's inputs must not appear behind it (as they
    would if --model-name were forgotten and the default, iris, taken).
    """
    others = [number for number in publish.published_versions(model_dir) if number != version]
    if not others:
        return
    latest_dir = model_dir / str(others[-1])
    latest = manifest.interface_of(manifest.read_manifest(latest_dir / contract.MANIFEST_FILE))
    if (latest.task, latest.features) != (interface.task, interface.features):
        raise ExportError(
            f"{latest_dir} is a {latest.task} model of the features {list(latest.features)}; this one is "
            f"a {interface.task} model of {list(interface.features)}: publish it under its own --model-name"
        )
