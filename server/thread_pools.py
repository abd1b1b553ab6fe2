"""Which threads run which calls: unary calls on a few threads, streaming calls on their own.

Only one thread at a time runs Python, so unary handler threads beyond a few only add thread
switches: 4 answer more Predict and PredictBatch calls than 32 (`python -m bench --only
server,levers`, docs/performance.md). But a
streaming call (PredictStream, health Watch, reflection) holds its thread for as long as it is
open, so streaming calls run on a pool of their own and can never take the unary calls' threads.

The health Watch runs blocking too: our interceptors' wrappers hide grpc_health's non-blocking
flag. That is kept on purpose: with it on, a SIGTERM (HealthServicer.set, which sends to every
watcher while holding its lock) deadlocked against a Watch closing at the same moment (whose
close callback on gRPC's polling thread waits for that lock).
"""

import functools
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from server.handler_wrapping import WrappingInterceptor, replace_behavior


def _on_pool(
    pool: futures.ThreadPoolExecutor, handler: grpc.RpcMethodHandler, method: str
) -> grpc.RpcMethodHandler:
    if not (handler.request_streaming or handler.response_streaming):
        return handler

    def routed(behavior: Callable[..., Any]) -> Callable[..., Any]:
        on_pool = functools.partial(behavior)
        # gRPC's server runs a behavior with this attribute on that pool (grpc/_server.py).
        on_pool.experimental_thread_pool = pool  # type: ignore[attr-defined]
        return on_pool

    return replace_behavior(handler, routed)


class StreamingCallsPool(WrappingInterceptor):
    """Runs every streaming call of every service on `pool`; unary calls stay on the server's own.

    It must be the server's first (outermost) interceptor: gRPC reads the pool from the behavior
    it is finally given, and an outer interceptor's wrapper would hide it.
    """

    def __init__(self, pool: futures.ThreadPoolExecutor) -> None:
        super().__init__(functools.partial(_on_pool, pool))
