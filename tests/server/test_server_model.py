"""OnnxModel.predict, the one inference path: same answers as onnxruntime, every bad input named."""

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_iris

from server.model import BatchTooLargeError, InvalidInput, OnnxModel
from server.repository import ModelRepository
from tests.support.server_process import ARTIFACTS

MAX_ROWS = 200


@pytest.fixture(scope="module")
def model() -> OnnxModel:
    return ModelRepository(ARTIFACTS).load(
        "iris", None, intra_op_threads=1, inter_op_threads=1, max_batch_rows=MAX_ROWS
    )


@pytest.fixture(scope="module")
def iris_rows() -> np.ndarray:
    return load_iris().data.astype(np.float32)


def run_onnxruntime_directly(rows: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(ARTIFACTS / "iris" / "1" / "model.onnx"))
    return session.run(["label", "probabilities"], {"input": rows})


def test_predict_matches_onnxruntime_on_the_whole_iris_data(model, iris_rows):
    labels, probabilities = run_onnxruntime_directly(iris_rows)
    prediction = model.predict(iris_rows)
    np.testing.assert_array_equal(prediction.labels, labels)
    np.testing.assert_allclose(prediction.probabilities, probabilities, rtol=1e-6, atol=1e-7)
    assert prediction.labels.dtype == np.int64
    assert prediction.probabilities.dtype == np.float32
    assert prediction.probabilities.shape == (150, 3)


@pytest.mark.parametrize(("value", "named"), [(np.nan, "NaN"), (np.inf, "+inf"), (-np.inf, "-inf")])
def test_a_non_finite_value_names_its_row_and_feature(model, iris_rows, value, named):
    rows = iris_rows[:10].copy()
    rows[3, 3] = value
    rows[7, 0] = value  # only the first bad row is reported
    with pytest.raises(InvalidInput) as error:
        model.predict(rows)
    assert str(error.value) == f"row 3: petal_width is {named}; features must be finite numbers"
    assert error.value.row == 3


@pytest.mark.parametrize("rows", [1, 4, 5])  # 4 and 16 values are checked in Python, 20 with numpy
@pytest.mark.parametrize(("value", "named"), [(np.nan, "NaN"), (np.inf, "+inf"), (-np.inf, "-inf")])
def test_a_non_finite_value_in_a_small_batch_is_found(model, iris_rows, rows, value, named):
    batch = iris_rows[:rows].copy()
    batch[rows - 1, 2] = value
    with pytest.raises(InvalidInput) as error:
        model.predict(batch)
    assert str(error.value) == f"row {rows - 1}: petal_length is {named}; features must be finite numbers"


@pytest.mark.parametrize("rows", [1, 6])  # 3 probabilities are checked in Python, 18 with numpy
def test_a_row_too_large_for_the_model_in_a_small_batch_is_found(model, iris_rows, rows):
    batch = iris_rows[:rows].copy()
    batch[rows - 1, 3] = 1e38
    with pytest.raises(InvalidInput) as error:
        model.predict(batch)
    assert error.value.row == rows - 1


@pytest.mark.parametrize(
    "rows",
    [np.zeros((2, 4), dtype=np.float64), np.zeros((2, 5), dtype=np.float32), np.zeros(4, dtype=np.float32)],
)
def test_a_wrong_dtype_or_shape_is_invalid(model, rows):
    with pytest.raises(InvalidInput, match=r"features must be float32 \[N, 4\], got"):
        model.predict(rows)


def test_more_rows_than_the_limit_are_refused(model):
    with pytest.raises(BatchTooLargeError, match=f"{MAX_ROWS + 1} rows in one call; the limit is {MAX_ROWS}"):
        model.predict(np.ones((MAX_ROWS + 1, 4), dtype=np.float32))
    assert len(model.predict(np.ones((MAX_ROWS, 4), dtype=np.float32)).labels) == MAX_ROWS


class RefusingSession:
    def run(self, *args, **kwargs):
        raise AssertionError("onnxruntime must not run for zero rows")


def test_zero_rows_answer_zero_rows_without_running_the_model(model):
    empty_model = OnnxModel(RefusingSession(), model.metadata, MAX_ROWS)
    prediction = empty_model.predict(np.empty((0, 4), dtype=np.float32))
    assert prediction.labels.shape == (0,)
    assert prediction.probabilities.shape == (0, 3)


def test_invalid_input_can_be_reworded_for_a_stream_or_one_row():
    error = InvalidInput("sepal_width is missing", row=2)
    assert str(error.shifted(10)) == "row 12: sepal_width is missing"
    assert str(error.without_row()) == "sepal_width is missing"


def test_warm_up_runs_the_model(model):
    session = onnxruntime.InferenceSession(str(ARTIFACTS / "iris" / "1" / "model.onnx"))
    batch_sizes = []

    class CountingSession:
        def run(self, outputs, feeds):
            batch_sizes.append(len(feeds["input"]))
            return session.run(outputs, feeds)

    OnnxModel(CountingSession(), model.metadata, MAX_ROWS).warm_up()
    assert batch_sizes


def test_features_too_large_for_the_model_name_their_row(model, iris_rows):
    """Finite features whose probabilities overflow (NaN) are invalid input naming the first such row."""
    rows = iris_rows[:6].copy()
    rows[4, 3] = 1e38  # float32-finite, but the model's scores overflow
    rows[5, 0] = 3.4e38
    with pytest.raises(InvalidInput) as error:
        model.predict(rows)
    assert error.value.row == 4
    assert str(error.value) == (
        "row 4: features too large for the model: its class probabilities are not finite numbers"
    )


def test_large_features_the_model_can_answer_are_answered(model, iris_rows):
    """The check rejects only rows the model cannot answer, not large values as such."""
    rows = iris_rows[:2].copy()
    rows[1, 3] = 1e30
    prediction = model.predict(rows)
    assert np.isfinite(prediction.probabilities).all()
    assert prediction.labels.tolist()[1] == 2
