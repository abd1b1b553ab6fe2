"""Bytes that are not a valid request message are the caller's mistake: INVALID_ARGUMENT, not INTERNAL.

gRPC answers a request it cannot deserialize with INTERNAL ("Exception deserializing request!"),
the status this server keeps for its own bugs. This interceptor lets the service's deserializer
hand over the decode error instead, and ends the call with INVALID_ARGUMENT naming the message
type. In a request stream, the messages before the bad one are handled (and answered) first,
as for a bad row.
"""

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.handler_wrapping import WrappingInterceptor, replace_behavior


class UndecodableMessage:
    """Stands in for a request message whose bytes did not decode."""

    def __init__(self, message_type: str):
        self.message_type = message_type

    def describe(self, position: str = "the request") -> str:
        return f"{position} is not a valid {self.message_type} message: its bytes do not decode"


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    # The generated FromString of a message class (bound to the class), or a custom decoder naming
    # its message class in `message_class` (server/iris_wire.py).
    message_type = getattr(deserializer, "message_class", None) or getattr(deserializer, "__self__", None)
    type_name = message_type.DESCRIPTOR.full_name if message_type is not None else "request"

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return UndecodableMessage(type_name)

    return deserialize


def _unary_request(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def checked(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, UndecodableMessage):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.describe())
        return behavior(request, context)

    return checked


def _until_undecodable(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    """The request stream up to its first undecodable message, which sets the call's status."""
    for index, request in enumerate(requests):
        if isinstance(request, UndecodableMessage):
            context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            context.set_details(request.describe(f"message {index} of the stream"))
            return
        yield request


def _stream_request(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return behavior(_until_undecodable(requests, context), context)

    return checked


def _checked(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    if handler.request_deserializer is None:  # nothing to decode: nothing to check
        return handler
    wrap = _stream_request if handler.request_streaming else _unary_request
    checked = replace_behavior(handler, wrap)
    return checked._replace(request_deserializer=_tolerant(handler.request_deserializer))


class UndecodableRequestInterceptor(WrappingInterceptor):
    """Answers undecodable request bytes with INVALID_ARGUMENT for every method of every service."""

    def __init__(self) -> None:
        super().__init__(_checked)
