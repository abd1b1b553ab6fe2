"""How the parity gate compares the two models' answers to one input set, row by row, per task,
and the tolerances it allows. scikit-learn gets the float32 inputs widened to float64, which is
exact; onnxruntime computes in float32.

Classifiers. The logistic-regression pipeline computes in float64 in scikit-learn and in
float32 in onnxruntime; measured differences stay below 1e-6 (5.3e-7 for the committed
model), so PROBABILITY_TOLERANCE = 1e-5 keeps a 10x margin while real conversion faults
show up far above it (1% off one coefficient: 5,622 of 12,150 inputs fail, worst 3.7e-2).
A random forest averages leaf frequencies, in float32 in onnxruntime (6.6e-7 at 100
trees); every branch agrees (see convert.convert_to_onnx on thresholds), so the same
tolerance holds and labels agree 100%.
Labels are compared as class indices: ONNX's label against the index in classes_ of
scikit-learn's predict. If each probability may move by at most PROBABILITY_TOLERANCE, the
top two can only swap when scikit-learn's margin between them is below twice that, hence
LABEL_MARGIN_TOLERANCE: a label disagreement on such a near-tie (e.g. a forest's exact 50/50
vote) is counted in the summary, not failed.

Regressors. A prediction may differ by PREDICTION_RELATIVE_TOLERANCE = 1e-5 of the larger of
itself and its target's scale, the largest |prediction| on the known rows (so the absolute
tolerance, one per target, is 1e-5 of that scale). float32 holds about 7 significant digits,
and a float32 sum is off by a few units in the last place of its largest terms, which follow
the target's typical size, not the result: a prediction near zero from large terms is held to
the scale. On the diabetes data (Ridge, scaled Ridge, linear regression, a forest, gradient
boosting, SVR, nearest neighbours, an MLP) the worst difference was 8.7e-7 of the scale: a
tenfold margin again.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from sklearn.base import BaseEstimator

from export.contract import INPUT_NAME, LABEL_OUTPUT, PREDICTIONS_OUTPUT, PROBABILITIES_OUTPUT
from export.errors import ParityError
from export.estimator_file import columns_by_position

PROBABILITY_TOLERANCE = 1e-5
LABEL_MARGIN_TOLERANCE = 2 * PROBABILITY_TOLERANCE
PREDICTION_RELATIVE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Comparison:
    """One input set through both models."""

    inputs: np.ndarray
    failing: np.ndarray  # bool, per row
    distance: np.ndarray  # per row, how far apart the answers are: ranks the worst rows
    explain: Callable[[int], str]  # a row's two answers, for the report
    summary: dict


def prediction_tolerances(reference: BaseEstimator, known_rows: np.ndarray) -> np.ndarray:
    """The absolute tolerance of each target: PREDICTION_RELATIVE_TOLERANCE of its scale."""
    return PREDICTION_RELATIVE_TOLERANCE * np.abs(predictions_of(reference, known_rows)).max(axis=0)


def _answer(side: str, method: Callable, *args) -> np.ndarray:
    try:
        with columns_by_position():
            return method(*args)
    except Exception as error:  # scikit-learn and onnxruntime raise many types for inputs they refuse
        message = " ".join(str(error).split())
        raise ParityError(f"{side} cannot answer them: {type(error).__name__}: {message}") from None


def predictions_of(reference: BaseEstimator, inputs: np.ndarray) -> np.ndarray:
    answer = _answer("scikit-learn", reference.predict, inputs.astype(np.float64))
    return np.asarray(answer, dtype=np.float64).reshape(len(inputs), -1)


def _require_shape(name: str, answered: np.ndarray, shape: tuple) -> None:
    if answered.shape != shape:
        raise ParityError(
            f"onnxruntime's {name} has shape {list(answered.shape)}, scikit-learn's {list(shape)}"
        )


def compare_classes(
    reference: BaseEstimator, session: ort.InferenceSession, inputs: np.ndarray
) -> Comparison:
    wide = inputs.astype(np.float64)
    probabilities = _answer("scikit-learn", reference.predict_proba, wide)
    predicted = np.asarray(_answer("scikit-learn", reference.predict, wide))
    labels = np.argmax(predicted[:, None] == np.asarray(reference.classes_)[None, :], axis=1)
    onnx_labels, onnx_probabilities = _answer(
        "onnxruntime", session.run, [LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: inputs}
    )
    _require_shape(LABEL_OUTPUT, onnx_labels, labels.shape)
    _require_shape(PROBABILITIES_OUTPUT, onnx_probabilities, probabilities.shape)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    label_differs = onnx_labels != labels
    difference = np.abs(onnx_probabilities.astype(np.float64) - probabilities).max(axis=1)
    failing = (label_differs & (margin >= LABEL_MARGIN_TOLERANCE)) | ~(difference <= PROBABILITY_TOLERANCE)

    def explain(row: int) -> str:
        return (
            f"sklearn label {labels[row]} probabilities {format_numbers(probabilities[row])} vs onnx label "
            f"{onnx_labels[row]} probabilities {format_numbers(onnx_probabilities[row])}, max |probability "
            f"difference| {difference[row]:.3g} (tolerance {PROBABILITY_TOLERANCE:g})"
        )

    summary = {
        "inputs": len(inputs),
        "label_disagreements": int(label_differs.sum()),
        "label_disagreements_within_margin": int((label_differs & ~failing).sum()),
        "max_abs_probability_difference": float(difference.max(initial=0.0)),
    }
    return Comparison(inputs, failing, difference, explain, summary)


def compare_predictions(
    reference: BaseEstimator,
    session: ort.InferenceSession,
    inputs: np.ndarray,
    absolute_tolerance: np.ndarray,
) -> Comparison:
    expected = predictions_of(reference, inputs)
    (answered,) = _answer("onnxruntime", session.run, [PREDICTIONS_OUTPUT], {INPUT_NAME: inputs})
    _require_shape(PREDICTIONS_OUTPUT, answered, expected.shape)
    difference = np.abs(answered.astype(np.float64) - expected)
    allowed = np.maximum(absolute_tolerance, PREDICTION_RELATIVE_TOLERANCE * np.abs(expected))
    over = np.divide(difference, allowed, out=np.where(difference > 0, np.inf, 0.0), where=allowed > 0)
    over[np.isnan(difference)] = np.inf
    failing = ~(difference <= allowed).all(axis=1)

    def explain(row: int) -> str:
        target = int(np.argmax(over[row]))
        return (
            f"sklearn predictions {format_numbers(expected[row])} vs onnx {format_numbers(answered[row])}, "
            f"|prediction difference| {difference[row, target]:.3g} (allowed {allowed[row, target]:.3g})"
        )

    summary = {
        "inputs": len(inputs),
        "max_abs_prediction_difference": float(difference.max(initial=0.0)),
        "max_difference_over_allowed": float(over.max(initial=0.0)),
    }
    return Comparison(inputs, failing, over.max(axis=1, initial=0.0), explain, summary)


def format_numbers(values: np.ndarray, digits: int = 7) -> str:
    """Answers to float32's 7 significant digits; inputs with digits=9, enough to give them exactly."""
    return "[" + ", ".join(f"{value:.{digits}g}" for value in values) + "]"
