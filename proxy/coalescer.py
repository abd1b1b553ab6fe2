"""Concurrent POST / requests, one flower each, gathered into PredictBatch calls.

One gRPC call per HTTP request is what the proxy spends most on; one call for many rows costs
little more than one for a single row. The Coalescer adapts to the load:
- no call in flight: a row goes at once, alone (no wait at low load), as the next message of
  the proxy's long-lived PredictStream, or as a unary Predict (see proxy/row_stream.py);
- calls in flight: rows wait, and go together as one PredictBatch when a call returns, when
  `max_rows` are waiting, or `max_wait_us` after the first began waiting, whichever comes first.
`max_rows` 1 turns coalescing off (every row its own Predict).

Each caller gets its own answer or its own error, and the server stays the only judge of a row:
- a batch refused with INVALID_ARGUMENT whose details name row k (a google.rpc.BadRequest field
  `rows[k]...`, see common/error_details.py; the message is never parsed): row k is sent again
  alone, so its caller gets exactly what an uncoalesced request would (the server's own
  single-row message), and the other rows are sent again as a batch, until one succeeds; a bad
  row costs its neighbours one more call, never their answer;
- INVALID_ARGUMENT whose details name no row of the batch: every row is sent again alone;
- any other failure of a batch (UNAVAILABLE after gRPC's retries, DEADLINE_EXCEEDED, ...) is
  every one of its callers' error.

Request ids: a batch call's x-request-id holds its rows' ids, space-separated (ids have no
spaces), cut at MAX_BATCH_ID_CHARS; a failed batch logs every id it carried, and a row sent
again alone carries its own id, so the server logs a bad row's error under that row's id.
"""

import asyncio
import logging
import math
from collections.abc import Coroutine, Mapping
from typing import Any, NamedTuple

import grpc
from aiohttp import web

from common.error_details import field_violations, row_of
from common.names import FEATURE_NAMES
from iris_pb import iris_pb2
from proxy.row_stream import RowStream
from proxy.upstream import Upstream

log = logging.getLogger("proxy.coalescer")

MAX_BATCH_ID_CHARS = 1024  # well under gRPC's 8 KiB metadata limit, whatever the ids


class _Waiting(NamedTuple):
    features: Mapping[str, float]
    request_id: str
    answer: asyncio.Future[iris_pb2.PredictReply]


def batch_request_id(request_ids: list[str]) -> str:
    """The x-request-id of a batch call: its rows' ids, space-separated, cut at MAX_BATCH_ID_CHARS."""
    joined = " ".join(request_ids)
    if len(joined) <= MAX_BATCH_ID_CHARS:
        return joined
    kept = joined[:MAX_BATCH_ID_CHARS].rsplit(" ", 1)[0]
    return f"{kept} +{len(request_ids) - kept.count(' ') - 1} more"


def bad_row(error: grpc.aio.AioRpcError, rows: int) -> int | None:
    """The row of the batch that an INVALID_ARGUMENT's details name, if any."""
    for violation in field_violations(error):
        row = row_of(violation.field)
        if row is not None and row < rows:
            return row
    return None


def _copy(error: grpc.aio.AioRpcError) -> grpc.aio.AioRpcError:
    """The same failure as a new exception, so each caller raises its own."""
    return grpc.aio.AioRpcError(
        error.code(),
        error.initial_metadata(),
        error.trailing_metadata(),
        error.details(),
        error.debug_error_string(),
    )


def _settle(waiting: _Waiting, answer: iris_pb2.PredictReply | None, error: BaseException | None) -> None:
    if waiting.answer.done():  # the caller went away
        return
    if error is not None:
        waiting.answer.set_exception(error)
    else:
        waiting.answer.set_result(answer)


class Coalescer:
    """Answers `predict` calls, gathering concurrent ones into batch calls (see the module doc)."""

    def __init__(
        self, upstream: Upstream, max_rows: int, max_wait_us: int, row_stream: RowStream | None = None
    ) -> None:
        self.max_rows = max_rows
        self.max_wait_seconds = max_wait_us / 1_000_000
        self._upstream = upstream
        self._row_stream = row_stream
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def predict(self, features: Mapping[str, float], request_id: str) -> iris_pb2.PredictReply:
        """Classify one flower (feature name -> value); raises grpc.aio.AioRpcError as Upstream does."""
        if self._in_flight == 0 or self.max_rows == 1:
            return await self._predict_now(features, request_id)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(features, request_id, loop.create_future())
        self._waiting.append(waiting)
        if len(self._waiting) >= self.max_rows:
            self._send_waiting()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_seconds, self._send_waiting)
        return await waiting.answer

    async def _predict_now(self, features: Mapping[str, float], request_id: str) -> iris_pb2.PredictReply:
        """One row at once, alone, from its caller's task (cheapest when nothing else is going on):
        on the row stream if there is one and it answers, else as a unary Predict.

        A row with a NaN (the one value the proxy passes that the server always refuses) goes
        unary at once: refused on the stream, it would end the stream and be sent again anyway.
        """
        self._in_flight += 1
        try:
            if self._row_stream is not None and all(map(math.isfinite, features.values())):
                reply = await self._row_stream.predict(iris_pb2.PredictRequest(**features))
                if reply is not None:
                    return reply
            return await self._upstream.predict(features, request_id)
        finally:
            self._call_returned()

    def _call_returned(self) -> None:
        self._in_flight -= 1
        if self._waiting:  # they gathered while the call was in flight
            self._send_waiting()

    def _send_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_rows], self._waiting[self.max_rows :]
            self._in_flight += 1
            self._start(self._answer(batch), counted=True)

    def _start(self, coroutine: Coroutine[Any, Any, None], counted: bool) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, counted))

    def _finished(self, task: asyncio.Task[None], counted: bool) -> None:
        self._tasks.discard(task)
        if counted:
            self._call_returned()

    async def _answer(self, batch: list[_Waiting]) -> None:
        try:
            while len(batch) > 1:
                try:
                    reply = await self._upstream.predict_batch(
                        [w.features[name] for w in batch for name in FEATURE_NAMES],
                        batch_request_id([w.request_id for w in batch]),
                    )
                except grpc.aio.AioRpcError as error:
                    batch = self._after_failure(batch, error)
                    continue
                self._deliver(batch, reply)
                return
            if batch:
                await self._answer_alone(batch[0])
        except Exception as error:  # a bug: every caller still waiting gets it (answered 500)
            for waiting in batch:
                _settle(waiting, None, error)
        finally:
            for waiting in batch:  # cancelled (shutting down): nobody waits for ever
                if not waiting.answer.done():
                    waiting.answer.cancel()

    def _after_failure(self, batch: list[_Waiting], error: grpc.aio.AioRpcError) -> list[_Waiting]:
        """Settle what a failed batch call settles; the rows still to send again as a batch."""
        log.warning(
            "coalesced call failed",
            extra={
                "request_ids": [w.request_id for w in batch],
                "grpc_code": error.code().name,
                "grpc_details": error.details(),
            },
        )
        if error.code() is not grpc.StatusCode.INVALID_ARGUMENT:
            for waiting in batch:
                _settle(waiting, None, _copy(error))
            return []
        row = bad_row(error, len(batch))
        alone = batch if row is None else [batch[row]]
        for waiting in alone:
            self._start(self._answer_alone(waiting), counted=False)
        return [] if row is None else batch[:row] + batch[row + 1 :]

    async def _answer_alone(self, waiting: _Waiting) -> None:
        try:
            reply = await self._upstream.predict(waiting.features, waiting.request_id)
        except Exception as error:
            _settle(waiting, None, error)
        else:
            _settle(waiting, reply, None)

    def _deliver(self, batch: list[_Waiting], reply: iris_pb2.PredictBatchReply) -> None:
        if len(reply.species) != len(batch):
            raise RuntimeError(f"PredictBatch answered {len(reply.species)} rows for {len(batch)}")
        names, classes = reply.class_names, len(reply.class_names)
        probabilities = list(reply.probabilities)
        for row, (waiting, species) in enumerate(zip(batch, reply.species, strict=True)):
            answer = iris_pb2.PredictReply(
                species=species,
                species_name=names[species],
                probabilities=probabilities[classes * row : classes * row + classes],
                model_name=reply.model_name,
                model_version=reply.model_version,
            )
            _settle(waiting, answer, None)

    def close(self) -> None:
        """Stop the timer; rows still waiting (none once requests have drained) are cancelled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiting in self._waiting:
            waiting.answer.cancel()
        self._waiting = []


COALESCER = web.AppKey("coalescer", Coalescer)
