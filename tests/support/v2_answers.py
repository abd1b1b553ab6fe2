"""What the KServe V2 tests over gRPC and over REST share: the rows they send, iris.v1's answers
for the same rows to compare with, and how a refused call is caught."""

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_iris
from tritonclient.utils import InferenceServerException

from iris_pb import iris_pb2

TIMEOUT = 10


def flowers(count: int) -> np.ndarray:
    """`count` float32 rows: the iris data, repeated and jittered (the same rows every run)."""
    data = load_iris().data.astype(np.float32)
    rows = np.resize(data, (count, data.shape[1]))
    jitter = np.random.default_rng(6).normal(0, 0.3, rows.shape).astype(np.float32)
    return np.abs(rows + jitter).astype(np.float32)


def iris_v1_answers(stub, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities from the iris.v1 API (PredictBatch) for the same rows."""
    reply = stub.PredictBatch(iris_pb2.PredictBatchRequest(features=rows.ravel().tolist()), timeout=TIMEOUT)
    return np.array(reply.species), np.array(reply.probabilities, dtype=np.float32).reshape(-1, 3)


def assert_same_answers(labels, probabilities, expected) -> None:
    np.testing.assert_array_equal(labels, expected[0])
    np.testing.assert_allclose(probabilities, expected[1], rtol=0, atol=1e-7)


def refused(call: Callable[[], object]) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as error:
        call()
    return error.value
