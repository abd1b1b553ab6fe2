"""Constant-answer servers: the ceiling of each transport, measured in the same run as the product.

They speak the same iris.v1 API (or the same HTTP route) but run no model and validate
nothing, so the gap between them and the real server is what the product itself costs.

  python -m bench.baselines grpc-threaded --port 50100
  python -m bench.baselines grpc-aio --port 50101
  python -m bench.baselines aiohttp --port 50102
"""

import argparse
import asyncio
import json
from concurrent import futures

import grpc
from aiohttp import web

from iris_pb import iris_pb2, iris_pb2_grpc

REPLY = iris_pb2.PredictReply(
    species=0,
    species_name="setosa",
    probabilities=[0.98, 0.02, 0.0],
    model_name="iris",
    model_version="1",
)
BATCH_REPLY = iris_pb2.PredictBatchReply(model_name="iris", model_version="1")
HTTP_BODY = json.dumps(
    {"species": "0", "species_name": "setosa", "probabilities": [0.98, 0.02, 0.0], "model_version": "1"}
).encode()
HANDLER_THREADS = 4


class ConstantPredictor(iris_pb2_grpc.IrisPredictorServicer):
    """Answers every call with the same reply."""

    def Predict(self, request, context):
        return REPLY

    def PredictBatch(self, request, context):
        return BATCH_REPLY

    def PredictStream(self, request_iterator, context):
        for _ in request_iterator:
            yield REPLY


class AsyncConstantPredictor(iris_pb2_grpc.IrisPredictorServicer):
    """The same, for grpc.aio."""

    async def Predict(self, request, context):
        return REPLY

    async def PredictBatch(self, request, context):
        return BATCH_REPLY

    async def PredictStream(self, request_iterator, context):
        async for _ in request_iterator:
            yield REPLY


def serve_grpc_threaded(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=HANDLER_THREADS))
    iris_pb2_grpc.add_IrisPredictorServicer_to_server(ConstantPredictor(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


async def serve_grpc_aio(port: int) -> None:
    server = grpc.aio.server()
    iris_pb2_grpc.add_IrisPredictorServicer_to_server(AsyncConstantPredictor(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def serve_aiohttp(port: int) -> None:
    async def constant(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=HTTP_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/", constant)
    app.router.add_get("/healthz", constant)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main() -> None:
    parser = argparse.ArgumentParser(description="constant-answer baseline servers")
    parser.add_argument("kind", choices=["grpc-threaded", "grpc-aio", "aiohttp"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.kind == "grpc-threaded":
        serve_grpc_threaded(args.port)
    elif args.kind == "grpc-aio":
        asyncio.run(serve_grpc_aio(args.port))
    else:
        serve_aiohttp(args.port)


if __name__ == "__main__":
    main()
