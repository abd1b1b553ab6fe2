"""The iris.v1 IrisPredictor service: unpack the request, call IrisModel.predict, build the reply.

Errors are raised, and leave through server/errors.py (status, log line, details); a bad row
is an InvalidInput naming it, counted from 0 (in a stream, from the stream's first message).
"""

import queue
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np

from common.names import FEATURE_NAMES
from iris_pb import iris_pb2, iris_pb2_grpc
from server.errors import ApiError, streaming_rpc, unary_rpc
from server.iris_messages import (
    replies,
    row_from_request,
    rows_from_batch,
    rows_from_requests,
)
from server.iris_wire import BatchAnswer
from server.model import InvalidInput, IrisModel
from server.repository import ModelLoadError


class IrisPredictorService(iris_pb2_grpc.IrisPredictorServicer):
    """iris.v1.IrisPredictor over one IrisModel.

    At most `max_open_streams` PredictStream calls run at once (each holds a handler thread), so
    unary calls and health checks always find a thread.
    """

    def __init__(self, model: IrisModel, max_open_streams: int):
        if model.metadata.feature_names != FEATURE_NAMES:
            raise ModelLoadError(
                f"model features {list(model.metadata.feature_names)} are not the iris.v1 API's "
                f"{list(FEATURE_NAMES)} in that order"
            )
        self._model = model
        self._max_open_streams = max_open_streams
        self._stream_slots = threading.BoundedSemaphore(max_open_streams)

    @unary_rpc
    def Predict(
        self, request: iris_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> iris_pb2.PredictReply:
        try:
            prediction = self._model.predict(row_from_request(request))
        except InvalidInput as error:
            raise error.without_row() from None
        return replies(prediction, self._model.metadata)[0]

    @unary_rpc
    def PredictBatch(
        self, request: iris_pb2.PredictBatchRequest | np.ndarray, context: grpc.ServicerContext
    ) -> BatchAnswer:
        """Answer a batch; its bytes come and go through server/iris_wire.py's codec."""
        prediction = self._model.predict(rows_from_batch(request))
        return BatchAnswer(prediction, self._model.metadata)

    @streaming_rpc
    def PredictStream(
        self, requests: Iterator[iris_pb2.PredictRequest], context: grpc.ServicerContext
    ) -> Iterator[iris_pb2.PredictReply]:
        """Answer rows in order, one model call per group of rows that arrived together.

        A bad row ends the stream with INVALID_ARGUMENT naming its index in the stream; the rows
        before it are answered first.
        """
        self._claim_stream_slot(context)
        answered = 0
        for batch in _arrived_batches(requests, self._model.max_batch_rows):
            try:
                prediction = self._model.predict(rows_from_requests(batch))
            except InvalidInput as error:
                good_rows = batch[: error.row or 0]
                yield from replies(self._model.predict(rows_from_requests(good_rows)), self._model.metadata)
                raise error.shifted(answered) from None
            yield from replies(prediction, self._model.metadata)
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
