"""iris.v1 messages to and from the numpy arrays the model takes and gives.

The service calls these, so it never handles wire types and arrays at once. Field order is the
API's and the model's feature order (the service checks they agree at start-up).
"""

from collections.abc import Sequence

import numpy as np

from common.names import FEATURE_NAMES
from iris_pb import iris_pb2
from server.model import InvalidInput, ModelMetadata, Prediction

ROW_WIDTH = len(FEATURE_NAMES)


def _check_present(request: iris_pb2.PredictRequest, row: int | None) -> None:
    for field in FEATURE_NAMES:
        if not request.HasField(field):
            raise InvalidInput(f"{field} is missing", row=row, field=field)


def row_from_request(request: iris_pb2.PredictRequest) -> np.ndarray:
    """One flower as a float32 [1, 4] array; InvalidInput names a missing field."""
    _check_present(request, row=None)
    values = (request.sepal_length, request.sepal_width, request.petal_length, request.petal_width)
    return np.array([values], dtype=np.float32)


def rows_from_requests(requests: Sequence[iris_pb2.PredictRequest]) -> np.ndarray:
    """Several flowers as a float32 [N, 4] array; InvalidInput names the first missing field and row."""
    for row, request in enumerate(requests):
        _check_present(request, row)
    values = [(r.sepal_length, r.sepal_width, r.petal_length, r.petal_width) for r in requests]
    return np.array(values, dtype=np.float32).reshape(-1, ROW_WIDTH)


def rows_from_batch(request: iris_pb2.PredictBatchRequest | np.ndarray) -> np.ndarray:
    """The flat `features` array as float32 [N, 4]; InvalidInput if its length is not 4 * N.

    `request` is the message, or its features already read from the wire (server/iris_wire.py).
    """
    features = request if isinstance(request, np.ndarray) else np.array(request.features, dtype=np.float32)
    if len(features) % ROW_WIDTH:
        raise InvalidInput(
            f"features has {len(features)} values, not a multiple of {ROW_WIDTH} "
            f"(each row is {', '.join(FEATURE_NAMES)})",
            field="features",
        )
    return features.reshape(-1, ROW_WIDTH)


def replies(prediction: Prediction, metadata: ModelMetadata) -> list[iris_pb2.PredictReply]:
    """One PredictReply per row of a prediction."""
    names, version = metadata.class_names, str(metadata.version)
    return [
        iris_pb2.PredictReply(
            species=label,
            species_name=names[label],
            probabilities=probabilities,
            model_name=metadata.name,
            model_version=version,
        )
        for label, probabilities in zip(
            prediction.labels.tolist(), prediction.probabilities.tolist(), strict=True
        )
    ]


def batch_reply(prediction: Prediction, metadata: ModelMetadata) -> iris_pb2.PredictBatchReply:
    return iris_pb2.PredictBatchReply(
        species=prediction.labels.tolist(),
        probabilities=prediction.probabilities.ravel().tolist(),
        class_names=metadata.class_names,
        model_name=metadata.name,
        model_version=str(metadata.version),
    )
