"""The export, step by step: train (or load a model fitted elsewhere), convert, check parity,
write the manifest, publish."""

import pickle
from collections.abc import Callable
from pathlib import Path

import onnx

from export import contract, convert, from_file, manifest, publish, train
from export.config import Settings
from export.parity import format_parity, run_gate

STEPS = 6


def load_reference(path: Path):
    """Unpickle the scikit-learn reference. Only ever our own file: pickles run code when loaded."""
    with path.open("rb") as reference_file:
        return pickle.load(reference_file)


def export_model(
    settings: Settings, log: Callable[[str], None] = print, estimator_params: dict | None = None
) -> Path:
    """Export one version as the settings say and return its directory: an iris model trained
    here, or with --estimator-file, a model fitted elsewhere (export/from_file.py).

    ``estimator_params`` override the classifier's hyper-parameters (tests use a small forest).
    """
    with publish.model_directory(settings.repository, settings.name) as model_dir:
        for leftover in publish.remove_abandoned_staging(model_dir):
            log(f"removed {leftover}, left by an interrupted export")
        version = settings.version or publish.next_free_version(model_dir)
        publish.check_version_free(model_dir, version, settings.force)
        version_dir = model_dir / str(version)
        trained = settings.estimator_file is None
        source = f"{settings.estimator} model" if trained else settings.estimator_file
        log(f"exporting {source} to {version_dir}")
        with publish.staged_version(model_dir, version, settings.force) as staging:
            if trained:
                _build_version(staging, settings, version, log, estimator_params or {})
            else:
                from_file.build_version(staging, settings, version, log)
            log(f"[{STEPS}/{STEPS}] publishing {version_dir}")
    log(f"published {version_dir}")
    return version_dir


def _build_version(
    staging: Path, settings: Settings, version: int, log: Callable[[str], None], estimator_params: dict
) -> None:
    """Train, convert, gate and describe a model: the complete contents of a version directory."""
    features, labels = train.load_training_data()
    estimator = train.build_estimator(settings.estimator, settings.seed, **estimator_params)
    log(f"[1/{STEPS}] cross-validating ({train.CV_FOLDS} stratified folds, seed {settings.seed})")
    cross_validation = train.cross_validation_metrics(estimator, features, labels, settings.seed)
    accuracy = cross_validation["accuracy"]
    log(f"        CV accuracy {accuracy['mean']:.4f} +/- {accuracy['std']:.4f}")

    log(f"[2/{STEPS}] fitting on all {len(labels)} rows")
    train.fit(estimator, features, labels)
    metrics = {
        "cross_validation": cross_validation,
        "training_accuracy": round(float(estimator.score(features, labels)), 6),
    }
    with (staging / contract.PICKLE_FILE).open("wb") as reference_file:
        pickle.dump(estimator, reference_file, protocol=pickle.HIGHEST_PROTOCOL)

    opset = convert.TARGET_OPSET
    log(f"[3/{STEPS}] converting to ONNX (opset {opset['']}, ai.onnx.ml {opset['ai.onnx.ml']})")
    onnx_model = convert.convert_to_onnx(estimator, contract.IRIS_INTERFACE)
    onnx.save_model(onnx_model, staging / contract.ONNX_FILE)

    log(f"[4/{STEPS}] parity gate: scikit-learn pickle vs onnxruntime")
    reference = load_reference(staging / contract.PICKLE_FILE)
    summary = run_gate(reference, staging / contract.ONNX_FILE, features, settings.seed)
    log(format_parity(summary))

    log(f"[5/{STEPS}] writing {contract.MANIFEST_FILE}")
    model_manifest = manifest.build_manifest(
        name=settings.name,
        version=version,
        interface=contract.IRIS_INTERFACE,
        estimator={"kind": settings.estimator, "params": train.describe_estimator(estimator)},
        metrics=metrics,
        parity=summary,
        onnx_description=manifest.describe_onnx(onnx_model, staging / contract.ONNX_FILE),
    )
    manifest.validate_manifest(model_manifest)
    manifest.write_manifest(model_manifest, staging / contract.MANIFEST_FILE)
