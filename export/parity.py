"""The parity gate: the scikit-learn model and its ONNX conversion must behave the same.

Both answer the same float32 inputs (export/parity_inputs.py: the known rows, generated rows around
them and, for trees, rows on their thresholds), compared row by row within the tolerances of
export/parity_compare.py. The gate passes only if every row agrees; otherwise it names how many
did not and shows the worst.
"""

import heapq
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.base import BaseEstimator

from export.contract import CLASSIFICATION, REGRESSION
from export.errors import ParityError
from export.parity_compare import (
    LABEL_MARGIN_TOLERANCE,
    PREDICTION_RELATIVE_TOLERANCE,
    PROBABILITY_TOLERANCE,
    Comparison,
    compare_classes,
    compare_predictions,
    format_numbers,
    prediction_tolerances,
)
from export.parity_inputs import parity_input_sets

WORST_ROWS_SHOWN = 3
# Per task: the per-set summary entries added up, and those whose largest is the total.
TOTALS = {
    CLASSIFICATION: (("inputs", "label_disagreements"), ("max_abs_probability_difference",)),
    REGRESSION: (("inputs",), ("max_abs_prediction_difference", "max_difference_over_allowed")),
}


def load_onnx_session(model: Path | bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session with one thread: the export shares its machine."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_gate(
    reference: BaseEstimator,
    onnx_path: Path,
    known_rows: np.ndarray,
    seed: int,
    *,
    task: str = CLASSIFICATION,
    known_name: str = "iris",
) -> dict:
    """Compare the reference with the ONNX file in onnxruntime on the gate's input sets."""
    session = load_onnx_session(onnx_path)
    input_sets = parity_input_sets(reference, known_rows, seed, known_name)
    summary = check_parity(reference, session, input_sets, task)
    summary["seed"] = seed
    return summary


def check_parity(
    reference: BaseEstimator, session: ort.InferenceSession, input_sets: dict, task: str = CLASSIFICATION
) -> dict:
    """Run the gate; return a JSON-ready summary, or raise ParityError naming count and worst rows.

    A regressor's absolute tolerances come from its predictions on the first set, the known rows.
    """
    if task == REGRESSION:
        absolute = prediction_tolerances(reference, next(iter(input_sets.values())))
        compare = partial(compare_predictions, absolute_tolerance=absolute)
        summary = {
            "prediction_relative_tolerance": PREDICTION_RELATIVE_TOLERANCE,
            "prediction_absolute_tolerance": [float(value) for value in absolute],
        }
    else:
        compare = compare_classes
        summary = {
            "probability_tolerance": PROBABILITY_TOLERANCE,
            "label_margin_tolerance": LABEL_MARGIN_TOLERANCE,
        }
    comparisons = {}
    for name, inputs in input_sets.items():
        try:
            comparisons[name] = compare(reference, session, inputs)
        except ParityError as error:
            raise ParityError(f"parity gate failed on the {name} inputs: {error}") from None
    summary["sets"] = {name: comparison.summary for name, comparison in comparisons.items()}
    summed, largest = TOTALS[task]
    summary |= {key: sum(entry[key] for entry in summary["sets"].values()) for key in summed}
    summary |= {key: max(entry[key] for entry in summary["sets"].values()) for key in largest}
    failing_count = sum(int(comparison.failing.sum()) for comparison in comparisons.values())
    summary["failing_inputs"] = failing_count
    summary["passed"] = failing_count == 0
    if failing_count:
        raise ParityError(
            f"parity gate failed: {failing_count} of {summary['inputs']} inputs disagree; "
            f"worst: {_worst_rows(comparisons)}"
        )
    return summary


def _worst_rows(comparisons: dict[str, Comparison]) -> str:
    """The WORST_ROWS_SHOWN failing rows farthest apart, with their inputs and both answers, one line."""
    failing = [
        (name, int(row)) for name, result in comparisons.items() for row in np.flatnonzero(result.failing)
    ]

    def distance(item: tuple[str, int]) -> float:
        value = comparisons[item[0]].distance[item[1]]
        return np.inf if np.isnan(value) else value

    shown = []
    for name, row in heapq.nlargest(WORST_ROWS_SHOWN, failing, key=distance):
        inputs = format_numbers(comparisons[name].inputs[row], 9)
        shown.append(f"{name} row {row} {inputs}: {comparisons[name].explain(row)}")
    return "; ".join(shown)


def format_parity(summary: dict) -> str:
    """One line per input set of the gate's summary."""
    lines = []
    for name, entry in summary["sets"].items():
        if "max_abs_prediction_difference" in entry:
            outcome = (
                f"max |prediction difference| {entry['max_abs_prediction_difference']:.2e} "
                f"({entry['max_difference_over_allowed']:.2g} of the tolerance)"
            )
        else:
            outcome = (
                f"label disagreements {entry['label_disagreements']}"
                f" ({entry['label_disagreements_within_margin']} within margin), "
                f"max |probability difference| {entry['max_abs_probability_difference']:.2e}"
            )
        lines.append(f"  {name:<10} {entry['inputs']:>6} inputs, {outcome}")
    return "\n".join(lines)
