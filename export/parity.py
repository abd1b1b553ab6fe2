"""The parity gate: the scikit-learn model and its ONNX conversion must behave the same.

Both models see the same float32 inputs (the wire format is float32; scikit-learn gets
them widened to float64, which is exact), on three sets:

- ``iris``: the 150 training rows;
- ``generated``: GENERATED_INPUTS seeded uniform rows over a box one feature-range wider
  than the training data on every side (so it covers and exceeds the training range,
  including negative values);
- ``thresholds`` (tree models only): for every split, rows that reach that split with the
  split's feature set exactly on the float32 nearest the threshold and one float32 ulp
  either side, where float64 and float32 comparisons part ways.

Tolerances. The logistic-regression pipeline computes in float64 in scikit-learn and in
float32 in onnxruntime; measured differences stay below 1e-6 (5.3e-7 for the committed
model), so PROBABILITY_TOLERANCE = 1e-5 keeps a 10x margin while real conversion faults
show up far above it (1% off one coefficient: 5,622 of 12,150 inputs fail, worst 3.7e-2).
A random forest averages leaf frequencies, in float32 in onnxruntime (6.6e-7 at 100
trees); every branch agrees (see convert.convert_to_onnx on thresholds), so the same
tolerance holds and labels agree 100%.
If each probability may move by at most PROBABILITY_TOLERANCE, the top two can only swap
when scikit-learn's margin between them is below twice that, hence LABEL_MARGIN_TOLERANCE:
a label disagreement on such a near-tie (e.g. a forest's exact 50/50 vote) is counted in
the summary, not failed.
"""

from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.base import ClassifierMixin

from export.contract import INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT
from export.errors import ParityError

PROBABILITY_TOLERANCE = 1e-5
LABEL_MARGIN_TOLERANCE = 2 * PROBABILITY_TOLERANCE
GENERATED_INPUTS = 12_000
ROWS_PER_SPLIT = 2


def load_onnx_session(model: Path | bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session with one thread: the export shares its machine."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def generated_inputs(training_features: np.ndarray, seed: int, count: int = GENERATED_INPUTS) -> np.ndarray:
    """Seeded uniform rows over the training range widened by one range on each side."""
    low, high = training_features.min(axis=0), training_features.max(axis=0)
    span = high - low
    rng = np.random.default_rng(seed)
    return rng.uniform(low - span, high + span, size=(count, training_features.shape[1])).astype(np.float32)


def tree_splits(estimator: ClassifierMixin) -> list[tuple]:
    """(tree, node id, feature, float64 threshold) for every split of a tree or forest model."""
    trees = getattr(estimator, "estimators_", [estimator] if hasattr(estimator, "tree_") else [])
    splits = []
    for tree in trees:
        if not hasattr(tree, "tree_"):
            continue
        structure = tree.tree_
        for node_id in np.flatnonzero(structure.children_left >= 0):
            splits.append(
                (tree, int(node_id), int(structure.feature[node_id]), float(structure.threshold[node_id]))
            )
    return splits


def threshold_inputs(estimator: ClassifierMixin, training_features: np.ndarray) -> np.ndarray:
    """Rows on and one float32 ulp either side of every split threshold (empty for non-tree models).

    The other features come from training rows that reach the split, so the split is
    actually evaluated on the way down the tree.
    """
    rows = []
    base_rows = training_features.astype(np.float32)
    paths = {}
    for tree, node_id, feature, threshold in tree_splits(estimator):
        if id(tree) not in paths:
            paths[id(tree)] = tree.decision_path(base_rows).tocsc()
        reaching = paths[id(tree)][:, node_id].nonzero()[0]
        on = np.float32(threshold)
        values = (np.nextafter(on, np.float32(-np.inf)), on, np.nextafter(on, np.float32(np.inf)))
        for row_index in reaching[np.linspace(0, len(reaching) - 1, ROWS_PER_SPLIT).astype(int)]:
            for value in values:
                row = base_rows[row_index].copy()
                row[feature] = value
                rows.append(row)
    return np.array(rows, dtype=np.float32).reshape(-1, training_features.shape[1])


def parity_input_sets(estimator: ClassifierMixin, training_features: np.ndarray, seed: int) -> dict:
    """The named float32 input sets the gate runs; ``thresholds`` only for tree models."""
    sets = {
        "iris": training_features.astype(np.float32),
        "generated": generated_inputs(training_features, seed),
    }
    on_thresholds = threshold_inputs(estimator, training_features)
    if len(on_thresholds):
        sets["thresholds"] = on_thresholds
    return sets


def _compare_set(reference: ClassifierMixin, session: ort.InferenceSession, inputs: np.ndarray) -> dict:
    reference_probabilities = reference.predict_proba(inputs.astype(np.float64))
    reference_labels = reference.classes_[np.argmax(reference_probabilities, axis=1)]
    onnx_labels, onnx_probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: inputs})
    top_two = np.sort(reference_probabilities, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    label_differs = onnx_labels != reference_labels
    probability_difference = np.abs(onnx_probabilities.astype(np.float64) - reference_probabilities).max(
        axis=1
    )
    failing = (label_differs & (margin >= LABEL_MARGIN_TOLERANCE)) | (
        probability_difference > PROBABILITY_TOLERANCE
    )
    return {
        "inputs": inputs,
        "reference_labels": reference_labels,
        "onnx_labels": onnx_labels,
        "probability_difference": probability_difference,
        "label_differs": label_differs,
        "failing": failing,
    }


def check_parity(reference: ClassifierMixin, session: ort.InferenceSession, input_sets: dict) -> dict:
    """Run the gate; return a JSON-ready summary, or raise ParityError naming count and worst case."""
    comparisons = {name: _compare_set(reference, session, inputs) for name, inputs in input_sets.items()}
    summary = {
        "probability_tolerance": PROBABILITY_TOLERANCE,
        "label_margin_tolerance": LABEL_MARGIN_TOLERANCE,
        "sets": {},
    }
    for name, result in comparisons.items():
        summary["sets"][name] = {
            "inputs": len(result["inputs"]),
            "label_disagreements": int(result["label_differs"].sum()),
            "label_disagreements_within_margin": int((result["label_differs"] & ~result["failing"]).sum()),
            "max_abs_probability_difference": float(result["probability_difference"].max(initial=0.0)),
        }
    per_set = summary["sets"].values()
    summary["inputs"] = sum(entry["inputs"] for entry in per_set)
    summary["label_disagreements"] = sum(entry["label_disagreements"] for entry in per_set)
    summary["max_abs_probability_difference"] = max(
        entry["max_abs_probability_difference"] for entry in per_set
    )
    failing_count = sum(int(result["failing"].sum()) for result in comparisons.values())
    summary["failing_inputs"] = failing_count
    summary["passed"] = failing_count == 0
    if failing_count:
        raise ParityError(
            f"parity gate failed: {failing_count} of {summary['inputs']} inputs disagree; "
            f"{_worst_case(comparisons)}"
        )
    return summary


def _worst_case(comparisons: dict) -> str:
    """The failing row with the largest probability difference, as one line of text."""
    name, row = max(
        (
            (name, int(row))
            for name, result in comparisons.items()
            for row in np.flatnonzero(result["failing"])
        ),
        key=lambda item: comparisons[item[0]]["probability_difference"][item[1]],
    )
    result = comparisons[name]
    features = ", ".join(f"{value:.9g}" for value in result["inputs"][row])
    return (
        f"worst: {name} row {row} [{features}]: max |probability difference| "
        f"{result['probability_difference'][row]:.3g} (tolerance {PROBABILITY_TOLERANCE:g}), "
        f"label sklearn {result['reference_labels'][row]} vs onnx {result['onnx_labels'][row]}"
    )
