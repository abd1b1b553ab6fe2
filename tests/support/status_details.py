"""Read a failed call's google.rpc details as the grpc examples' errors/client.py does, independently
of the project's own reader (common/error_details.py), to check what the server sends."""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]] | None:
    """(field, description) of each BadRequest violation in the call's status; None without a Status."""
    status = rpc_status.from_call(error)  # also checks its code and message are the call's
    if status is None:
        return None
    violations = []
    for detail in status.details:
        assert detail.Is(error_details_pb2.BadRequest.DESCRIPTOR), detail.type_url
        bad_request = error_details_pb2.BadRequest()
        detail.Unpack(bad_request)
        violations.extend((v.field, v.description) for v in bad_request.field_violations)
    return violations
