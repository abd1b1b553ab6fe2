"""What the server's interceptors share: wrap a method handler's behaviour, once per method.

gRPC asks every interceptor for a handler on every call; wrapping anew each time would allocate
on the hot path, so each interceptor keeps the wrapped copy of each method's handler.
"""

from collections.abc import Callable
from typing import Any

import grpc


def replace_behavior(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> grpc.RpcMethodHandler:
    """The handler with its behaviour (unary_unary, stream_stream, ...) replaced by wrap(behaviour)."""
    kind = ("stream" if handler.request_streaming else "unary") + "_"
    kind += "stream" if handler.response_streaming else "unary"
    return handler._replace(**{kind: wrap(getattr(handler, kind))})


class WrappingInterceptor(grpc.ServerInterceptor):
    """Gives gRPC each method's handler as `wrap(handler, method)` makes it, made on the method's
    first call (and again if the service's handler for it changes)."""

    def __init__(self, wrap: Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]) -> None:
        self._wrap = wrap
        # method -> (the service's handler, its wrapped copy)
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:  # gRPC answers UNIMPLEMENTED; no handler runs
            self.on_unknown_method(method)
            return None
        known = self._wrapped.get(method)
        if known is None or known[0] is not handler:
            known = self._wrapped[method] = (handler, self._wrap(handler, method))
        return known[1]

    def on_unknown_method(self, method: str) -> None:
        """Called for a call to a method no service has."""
