"""The export, step by step: train, convert, check parity, write the manifest, publish."""

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from export import contract, convert, manifest, parity, publish, train
from export.config import Settings

STEPS = 6


def format_parity(summary: dict) -> str:
    """One line per input set of the gate's summary."""
    lines = []
    for name, entry in summary["sets"].items():
        lines.append(
            f"  {name:<10} {entry['inputs']:>6} inputs, label disagreements {entry['label_disagreements']}"
            f" ({entry['label_disagreements_within_margin']} within margin), "
            f"max |probability difference| {entry['max_abs_probability_difference']:.2e}"
        )
    return "\n".join(lines)


def load_reference(path: Path):
    """Unpickle the scikit-learn reference. Only ever our own file: pickles run code when loaded."""
    with path.open("rb") as reference_file:
        return pickle.load(reference_file)


def run_gate(reference, onnx_path: Path, training_features: np.ndarray, seed: int) -> dict:
    """Compare the reference with the ONNX file in onnxruntime on the gate's input sets."""
    session = parity.load_onnx_session(onnx_path)
    summary = parity.check_parity(
        reference, session, parity.parity_input_sets(reference, training_features, seed)
    )
    summary["seed"] = seed
    return summary


def export_model(
    settings: Settings, log: Callable[[str], None] = print, estimator_params: dict | None = None
) -> Path:
    """Export one version as the settings say and return its directory.

    ``estimator_params`` override the classifier's hyper-parameters (tests use a small forest).
    """
    with publish.model_directory(settings.repository, settings.name) as model_dir:
        for leftover in publish.remove_abandoned_staging(model_dir):
            log(f"removed {leftover}, left by an interrupted export")
        version = settings.version or publish.next_free_version(model_dir)
        publish.check_version_free(model_dir, version, settings.force)
        version_dir = model_dir / str(version)
        log(f"exporting {settings.estimator} model to {version_dir}")
        with publish.staged_version(model_dir, version, settings.force) as staging:
            _build_version(staging, settings, version, log, estimator_params or {})
            log(f"[6/{STEPS}] publishing {version_dir}")
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
    onnx_model = convert.convert_to_onnx(estimator, n_features=features.shape[1])
    onnx.save_model(onnx_model, staging / contract.ONNX_FILE)

    log(f"[4/{STEPS}] parity gate: scikit-learn pickle vs onnxruntime")
    reference = load_reference(staging / contract.PICKLE_FILE)
    summary = run_gate(reference, staging / contract.ONNX_FILE, features, settings.seed)
    log(format_parity(summary))

    log(f"[5/{STEPS}] writing {contract.MANIFEST_FILE}")
    model_manifest = manifest.build_manifest(
        name=settings.name,
        version=version,
        estimator={"kind": settings.estimator, "params": train.describe_estimator(estimator)},
        metrics=metrics,
        parity=summary,
        onnx_description=manifest.describe_onnx(onnx_model, staging / contract.ONNX_FILE),
    )
    manifest.validate_manifest(model_manifest)
    manifest.write_manifest(model_manifest, staging / contract.MANIFEST_FILE)
