"""Lone POST / rows as messages of one long-lived PredictStream instead of unary Predict calls.

A message on an open stream costs the proxy and the server much less than a unary call
(`python -m bench --only proxy,levers` measures REST with the row stream off), and a row sent
alone (nothing in flight, see proxy/coalescer.py) is the case where nothing else shares that cost.
The stream carries one row at a time, so an answer is always the answer to the row just sent; a
second lone row arriving meanwhile goes as a unary call.

The stream is only a faster way to the same answer: whenever it gives none (it failed, ended or
was refused, the server refused the row, the server is draining) it is closed and `predict`
returns None, and the caller sends the row again as a unary Predict, so the row gets exactly what
a unary call gives (the server's single-row error message, gRPC's retries on another replica).
After a failure other than a refused row, the stream is not reopened for REOPEN_AFTER_SECONDS.
A stream lives at most MAX_AGE_SECONDS: a new one is balanced afresh over the replicas, and a
draining server, which lets open streams finish, is never held for its whole grace period.
A row gets the same deadline on the stream as a unary call would (DEADLINE_EXCEEDED after it).
"""

import asyncio
import time
from collections.abc import Callable

import grpc

from common.names import REQUEST_ID_KEY
from iris_pb import iris_pb2, iris_pb2_grpc

MAX_AGE_SECONDS = 1.0
REOPEN_AFTER_SECONDS = 1.0
# What the server logs as the stream's x-request-id (a row's own id travels with its unary retry).
STREAM_REQUEST_ID = "proxy-row-stream"


def deadline_exceeded() -> grpc.aio.AioRpcError:
    """The error a unary call past its deadline raises (the error middleware answers 504)."""
    return grpc.aio.AioRpcError(
        grpc.StatusCode.DEADLINE_EXCEEDED, grpc.aio.Metadata(), grpc.aio.Metadata(), "Deadline Exceeded"
    )


class RowStream:
    """One PredictStream at a time, carrying one row at a time; each stream is opened with the stub
    `stub_source()` gives then (the proxy's channels change, see proxy/upstream.py).

    `on_row(code)` is told how each row sent on the stream ended ("OK", or the stream's failure
    code), e.g. to count it in the metrics.
    """

    def __init__(
        self,
        stub_source: Callable[[], iris_pb2_grpc.IrisPredictorStub],
        deadline_seconds: float,
        on_row: Callable[[str], None] | None = None,
    ) -> None:
        self._stub_source = stub_source
        self._deadline_seconds = deadline_seconds
        self._on_row = on_row
        self._call: grpc.aio.StreamStreamCall | None = None
        self._busy = False
        self._retire_timer: asyncio.TimerHandle | None = None
        self._closed_until = 0.0  # monotonic time before which no stream is opened
        self._ending: set[asyncio.Task[None]] = set()  # retired streams being ended (strong refs)

    async def predict(self, request: iris_pb2.PredictRequest) -> iris_pb2.PredictReply | None:
        """The server's answer to one row, or None: then send the row as a unary Predict.

        Raises grpc.aio.AioRpcError DEADLINE_EXCEEDED if the server does not answer in time.
        """
        if self._busy or time.monotonic() < self._closed_until:
            return None
        if self._call is not None and self._call.done():  # ended while idle (replica gone, max age)
            self._close()
        call = self._call or self._open()
        self._busy = True
        answered = False
        try:
            async with asyncio.timeout(self._deadline_seconds):
                await call.write(request)
                reply = await call.read()
            answered = reply is not grpc.aio.EOF
            return reply if answered else self._gave_no_answer(None)
        except grpc.aio.AioRpcError as error:
            return self._gave_no_answer(error)
        except asyncio.InvalidStateError:  # it ended as the row was written
            return self._gave_no_answer(None)
        except TimeoutError:
            self._report("DEADLINE_EXCEEDED")
            raise deadline_exceeded() from None
        finally:
            self._busy = False
            if answered:
                self._report("OK")
                if self._retire_timer is None:  # it is past its age: retire it now it is idle
                    self._close(gracefully=True)
            else:  # cancelled, timed out or failed: the stream's state is unknown
                self._close()

    def _open(self) -> grpc.aio.StreamStreamCall:
        self._call = self._stub_source().PredictStream(
            metadata=((REQUEST_ID_KEY, STREAM_REQUEST_ID),), wait_for_ready=False
        )
        self._retire_timer = asyncio.get_running_loop().call_later(MAX_AGE_SECONDS, self._retire)
        return self._call

    def _retire(self) -> None:
        self._retire_timer = None
        if not self._busy:
            self._close(gracefully=True)
        # else: predict() closes it once its row is answered

    def _gave_no_answer(self, error: grpc.aio.AioRpcError | None) -> None:
        """Note why the row got no answer (None: the stream had ended) and return None."""
        code = error.code() if error is not None else grpc.StatusCode.UNAVAILABLE
        self._report(code.name)
        if code is not grpc.StatusCode.INVALID_ARGUMENT:  # a refused row says nothing of the stream
            self._closed_until = time.monotonic() + REOPEN_AFTER_SECONDS
        return None

    def _report(self, code: str) -> None:
        if self._on_row is not None:
            self._on_row(code)

    def _close(self, gracefully: bool = False) -> None:
        if self._retire_timer is not None:
            self._retire_timer.cancel()
            self._retire_timer = None
        call, self._call = self._call, None
        if call is None:
            return
        if not gracefully:  # its state is unknown: the server's handler ends at once
            call.cancel()
            return
        ending = asyncio.ensure_future(_end(call))
        self._ending.add(ending)
        ending.add_done_callback(self._ending.discard)

    def close(self) -> None:
        """End the streams at once (the app is shutting down)."""
        self._close()
        for ending in self._ending:
            ending.cancel()


async def _end(call: grpc.aio.StreamStreamCall) -> None:
    """Half-close an idle stream and wait for the server to end it (OK)."""
    try:
        await call.done_writing()
        await call.code()
    except asyncio.CancelledError:
        call.cancel()
        raise
