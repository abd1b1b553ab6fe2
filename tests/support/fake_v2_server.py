"""A fake KServe V2 gRPC server in the test's event loop, for tests of what the proxy translates: it
answers RepositoryIndex and ModelInfer with the replies a test sets, and keeps every request."""

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from common.names import ACCEPTING_CALLS_HEALTH_NAME
from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc


@dataclasses.dataclass
class FakeV2Servicer(pb_grpc.GRPCInferenceServiceServicer):
    """Answers with `index_reply` and `infer_reply`; `requests` holds what it was sent, in order."""

    index_reply: pb.RepositoryIndexResponse = dataclasses.field(default_factory=pb.RepositoryIndexResponse)
    infer_reply: pb.ModelInferResponse = dataclasses.field(default_factory=pb.ModelInferResponse)
    requests: list[Message] = dataclasses.field(default_factory=list)

    async def RepositoryIndex(self, request, context) -> pb.RepositoryIndexResponse:
        self.requests.append(request)
        return self.index_reply

    async def ModelInfer(self, request, context) -> pb.ModelInferResponse:
        self.requests.append(request)
        return self.infer_reply


@dataclasses.dataclass
class FakeV2Server:
    servicer: FakeV2Servicer
    target: str


@contextlib.asynccontextmanager
async def running_fake_v2_server() -> AsyncIterator[FakeV2Server]:
    """The fake on a free port of 127.0.0.1, with the health name the proxy's connections watch."""
    server = grpc.aio.server()
    servicer = FakeV2Servicer()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    health = health_aio.HealthServicer()
    await health.set(ACCEPTING_CALLS_HEALTH_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield FakeV2Server(servicer, f"127.0.0.1:{port}")
    finally:
        await server.stop(None)
