"""The iris.v1 IrisPredictor service: find the model version, unpack the request, call
OnnxModel.predict, build the reply.

It answers with the iris model (--model-name): the version the request names, or the latest served.

Errors are raised, and leave through server/errors.py (status, log line, details); a bad row
is an InvalidInput naming it, counted from 0 (in a stream, from the stream's first message).
"""

import queue
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np

from common.names import CLASSIFICATION, FEATURE_NAMES
from iris_pb import iris_pb2, iris_pb2_grpc
from server.errors import ApiError, streaming_rpc, unary_rpc
from server.iris_messages import (
    replies,
    row_from_request,
    rows_from_batch,
    rows_from_requests,
)
from server.iris_wire import BatchAnswer
from server.model import InvalidInput, OnnxModel
from server.repository import ModelLoadError
from server.served_models import ServedModels


def check_iris_model(iris_model_name: str, model: OnnxModel) -> None:
    """Refuse (ModelLoadError) a version of the iris.v1 model that iris.v1 could not answer with."""
    meta = model.metadata
    if meta.name != iris_model_name:
        return
    if meta.task != CLASSIFICATION or meta.feature_names != FEATURE_NAMES:
        raise ModelLoadError(
            f"model {meta.name!r} version {meta.version} is iris.v1's model (--model-name), which "
            f"needs a classifier of features {list(FEATURE_NAMES)} in that order; it is a "
            f"{meta.task} model of {list(meta.feature_names)}"
        )


class IrisPredictorService(iris_pb2_grpc.IrisPredictorServicer):
    """iris.v1.IrisPredictor over the served versions of one model.

    At most `max_open_streams` PredictStream calls run at once (each holds a handler thread), so
    unary calls and health checks always find a thread.
    """

    def __init__(self, served: ServedModels, model_name: str, max_open_streams: int, max_batch_rows: int):
        self._served = served
        self._model_name = model_name
        self._max_batch_rows = max_batch_rows
        self._max_open_streams = max_open_streams
        self._stream_slots = threading.BoundedSemaphore(max_open_streams)

    def _model(self, version: str) -> OnnxModel:
        return self._served.model(self._model_name, version, version_field="model_version")

    @unary_rpc
    def Predict(
        self, request: iris_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> iris_pb2.PredictReply:
        model = self._model(request.model_version)
        try:
            prediction = model.predict(row_from_request(request))
        except InvalidInput as error:
            raise error.without_row() from None
        return replies(prediction, model.metadata)[0]

    @unary_rpc
    def PredictBatch(
        self, request: iris_pb2.PredictBatchRequest | np.ndarray, context: grpc.ServicerContext
    ) -> BatchAnswer:
        """Answer a batch; its bytes come and go through server/iris_wire.py's codec."""
        model = self._model("" if isinstance(request, np.ndarray) else request.model_version)
        prediction = model.predict(rows_from_batch(request))
        return BatchAnswer(prediction, model.metadata)

    @streaming_rpc
    def PredictStream(
        self, requests: Iterator[iris_pb2.PredictRequest], context: grpc.ServicerContext
    ) -> Iterator[iris_pb2.PredictReply]:
        """Answer rows in order, one model call per group of rows that arrived together.

        A bad row ends the stream with INVALID_ARGUMENT naming its index in the stream; the rows
        before it are answered first. The first message's model_version holds for the whole stream
        (a later message naming another is a bad row); with none, each group of rows gets the
        latest version as it is run, so a long-lived stream moves to a new version too.
        """
        self._claim_stream_slot(context)
        answered = 0
        version = None
        for batch in _arrived_batches(requests, self._max_batch_rows):
            version = batch[0].model_version if version is None else version
            model = self._model(version)
            try:
                _check_same_version(batch, version)
                prediction = model.predict(rows_from_requests(batch))
            except InvalidInput as error:
                good_rows = batch[: error.row or 0]
                yield from replies(model.predict(rows_from_requests(good_rows)), model.metadata)
                raise error.shifted(answered) from None
            yield from replies(prediction, model.metadata)
            answered += len(batch)

    def _claim_stream_slot(self, context: grpc.ServicerContext) -> None:
        if not self._stream_slots.acquire(blocking=False):
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self._max_open_streams} PredictStream calls are open, the most this server takes "
                "(--stream-threads / 2); retry later or use PredictBatch",
            )
        if not context.add_callback(self._stream_slots.release):
            self._stream_slots.release()  # the call already ended


def _check_same_version(batch: list[iris_pb2.PredictRequest], version: str) -> None:
    for row, request in enumerate(batch):
        if request.model_version != version:
            raise InvalidInput(
                f"model_version {request.model_version!r} differs from the stream's first message's "
                f"{version!r}; a stream keeps one",
                row=row,
                field="model_version",
            )


_END_OF_STREAM = object()


def _arrived_batches(requests: Iterator[Any], max_rows: int) -> Iterator[list[Any]]:
    """Group a request stream into lists of whatever has arrived (at most max_rows each).

    A reader thread drains the stream into a queue, so the caller waits only when nothing is
    queued, and runs one model call for every row that came in meanwhile.
    """
    arrived: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def read() -> None:
        try:
            for request in requests:
                arrived.put(request)
        except grpc.RpcError:
            pass  # the client cancelled or the call ended; nobody is waiting for answers
        finally:
            arrived.put(_END_OF_STREAM)

    threading.Thread(target=read, name="predict-stream-reader", daemon=True).start()
    while True:
        batch = [arrived.get()]
        if batch[0] is _END_OF_STREAM:
            return
        while len(batch) < max_rows:
            try:
                request = arrived.get_nowait()
            except queue.Empty:
                break
            if request is _END_OF_STREAM:
                yield batch
                return
            batch.append(request)
        yield batch
