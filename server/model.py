"""The one inference path: every API (iris.v1, KServe V2) hands a float32 [N, F] array to
`OnnxModel.predict`, which validates it and runs the ONNX session once.

A model is a classifier (outputs `label` and `probabilities`) or a regressor (output
`predictions`), as its manifest says (server/repository.py checks the graph agrees).
"""

import dataclasses
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import onnxruntime

from common.names import LABEL_OUTPUT, PREDICTIONS_OUTPUT, PROBABILITIES_OUTPUT, REGRESSION

WARM_UP_ROWS = (1, 64)
# Arrays up to this many values (a Predict row is 4 in, 3 out) are checked for NaN and infinity
# in Python: for so few values numpy's isfinite-then-all costs a loaded server more than the loop
# (an interleaved A/B; `git log -S PYTHON_CHECKED_VALUES` has its numbers).
PYTHON_CHECKED_VALUES = 16


class InvalidInput(ValueError):  # noqa: N818 (reads better than InvalidInputError)
    """A request the model cannot answer (INVALID_ARGUMENT).

    `row` is the 0-based row it names; `field` the feature of that row, or with no row a field of
    the request (e.g. "features", "inputs[0].shape"). The error's details name both (see
    common/error_details.py); its message names the row.
    """

    def __init__(self, detail: str, row: int | None = None, field: str | None = None):
        super().__init__(detail if row is None else f"row {row}: {detail}")
        self.detail = detail
        self.row = row
        self.field = field

    def shifted(self, offset: int) -> "InvalidInput":
        """The same error for a row counted from `offset` rows earlier (e.g. in a stream)."""
        return InvalidInput(self.detail, None if self.row is None else self.row + offset, self.field)

    def without_row(self) -> "InvalidInput":
        """The same error for an API that sends one row, where a row number says nothing."""
        return InvalidInput(self.detail, field=self.field)


class BatchTooLargeError(ValueError):
    """More rows than --max-batch-rows in one call (RESOURCE_EXHAUSTED)."""


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """What the APIs report about one model version (from its manifest and graph)."""

    name: str
    version: int
    sha256: str
    task: str  # common.names.CLASSIFICATION or REGRESSION
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]  # classifiers: class_names[k] names label k
    target_names: tuple[str, ...]  # regressors: a name per column of `predictions`
    input_name: str

    @property
    def output_widths(self) -> dict[str, int | None]:
        """The graph's outputs, in the order the model runs them, each with its second dimension
        (None for the one-dimensional `label`)."""
        if self.task == REGRESSION:
            return {PREDICTIONS_OUTPUT: len(self.target_names)}
        return {LABEL_OUTPUT: None, PROBABILITIES_OUTPUT: len(self.class_names)}


class Prediction(NamedTuple):
    """A classifier's labels and probabilities, or a regressor's predictions (the others None)."""

    labels: np.ndarray | None  # int64 [N]
    probabilities: np.ndarray | None  # float32 [N, C]
    predictions: np.ndarray | None = None  # float32 [N, T]

    def arrays(self) -> dict[str, np.ndarray]:
        """The prediction's arrays by output name."""
        if self.predictions is not None:
            return {PREDICTIONS_OUTPUT: self.predictions}
        return {LABEL_OUTPUT: self.labels, PROBABILITIES_OUTPUT: self.probabilities}


class OnnxModel:
    """A loaded, checked model version (see ModelRepository.load) answering float32 [N, F] arrays."""

    def __init__(self, session: onnxruntime.InferenceSession, metadata: ModelMetadata, max_batch_rows: int):
        self.metadata = metadata
        self.max_batch_rows = max_batch_rows
        # Told (rows, seconds) after each session run that answers a call, e.g. to record metrics.
        self.on_inference: Callable[[int, float], None] | None = None
        self._session = session
        self._output_names = list(metadata.output_widths)
        self._empty = self._prediction(
            [
                np.empty((0,) if width is None else (0, width), np.int64 if width is None else np.float32)
                for width in metadata.output_widths.values()
            ]
        )

    def predict(self, features: np.ndarray) -> Prediction:
        """The prediction for each row of a float32 [N, F] array.

        Raises InvalidInput (wrong shape or dtype, a NaN or infinite value, naming the first bad
        row and feature; or a row the model cannot answer, see `check_answers`) or
        BatchTooLargeError. Zero rows answer zero rows without running the model.
        """
        self.check(features)
        if len(features) == 0:
            return self._empty
        started = time.perf_counter()
        prediction = self._run(features)
        if self.on_inference is not None:
            self.on_inference(len(features), time.perf_counter() - started)
        check_answers(prediction)
        return prediction

    def _run(self, features: np.ndarray) -> Prediction:
        return self._prediction(self._session.run(self._output_names, {self.metadata.input_name: features}))

    def _prediction(self, outputs: list[np.ndarray]) -> Prediction:
        if self.metadata.task == REGRESSION:
            return Prediction(None, None, outputs[0])
        return Prediction(outputs[0], outputs[1])

    def check(self, features: np.ndarray) -> None:
        """Raise InvalidInput or BatchTooLargeError unless `features` is a valid batch."""
        width = len(self.metadata.feature_names)
        if features.dtype != np.float32 or features.ndim != 2 or features.shape[1] != width:
            got = f"{features.dtype} {list(features.shape)}"
            raise InvalidInput(f"features must be float32 [N, {width}], got {got}")
        if len(features) > self.max_batch_rows:
            raise BatchTooLargeError(
                f"{len(features)} rows in one call; the limit is {self.max_batch_rows} (--max-batch-rows)"
            )
        if not all_finite(features):
            row, column = (int(i) for i in np.argwhere(~np.isfinite(features))[0])
            value = features[row, column]
            name = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
            feature = self.metadata.feature_names[column]
            raise InvalidInput(
                f"{feature} is {name}; features must be finite numbers", row=row, field=feature
            )

    def warm_up(self) -> None:
        """Run the model once per batch size in WARM_UP_ROWS so the first real call is not slow.

        These runs answer no call, so on_inference is not told of them.
        """
        for rows in WARM_UP_ROWS:
            self._run(np.ones((rows, len(self.metadata.feature_names)), dtype=np.float32))


def check_answers(prediction: Prediction) -> None:
    """Raise InvalidInput naming the first row whose probabilities (or predictions) are not all
    finite numbers.

    Finite features can still be too large for the model: a logistic regression's scores overflow
    float32 (e.g. petal_width=1e38) and its probabilities come out NaN. Which magnitudes overflow
    depends on the model, so rather than a fixed bound on the features, the model's own answer is
    checked, after the run (a microsecond): such a row is INVALID_ARGUMENT, like a NaN feature.
    """
    regression = prediction.predictions is not None
    answers = prediction.predictions if regression else prediction.probabilities
    if not all_finite(answers):
        row = int(np.argmin(np.isfinite(answers).all(axis=1)))
        what = "predictions" if regression else "class probabilities"
        raise InvalidInput(f"features too large for the model: its {what} are not finite numbers", row=row)


def all_finite(array: np.ndarray) -> bool:
    """Whether no value of `array` is NaN or infinite."""
    if array.size <= PYTHON_CHECKED_VALUES:
        return all(map(math.isfinite, array.ravel().tolist()))
    return bool(np.isfinite(array).all())
