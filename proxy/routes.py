"""Handlers of the iris REST API: each parses its body, makes one gRPC call, shapes the reply."""

import asyncio

import grpc
from aiohttp import web

from proxy.coalescer import COALESCER
from proxy.middlewares import REQUEST_ID
from proxy.openapi import OPENAPI_JSON
from proxy.parsing import batch_features, read_features, read_json
from proxy.replies import batch_body, json_reply, prediction_body
from proxy.upstream import UPSTREAM
from proxy.v2_routes import PREFIX as V2_PREFIX
from proxy.v2_routes import make_v2_app

# Set once the process is stopping (proxy/serving.py): GET /readyz answers 503 from then on.
DRAINING = web.AppKey("draining", asyncio.Event)
# /readyz answers within this (or the request deadline, if shorter), even with no server up.
READY_DEADLINE_SECONDS = 1.0


async def predict_one(request: web.Request) -> web.Response:
    """POST /: one flower from form fields or a JSON object (concurrent ones share gRPC calls)."""
    features = await read_features(request)
    reply = await request.app[COALESCER].predict(features, request[REQUEST_ID])
    return json_reply(prediction_body(reply))


async def predict_batch(request: web.Request) -> web.Response:
    """POST /predict: many flowers as JSON, in one PredictBatch call."""
    features = batch_features(await read_json(request))
    reply = await request.app[UPSTREAM].predict_batch(features, request[REQUEST_ID])
    return json_reply(batch_body(reply))


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the proxy is up (it does not look at the server)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 when the server's health check says SERVING, else 503 (also once this proxy
    is draining)."""
    if request.app[DRAINING].is_set():
        raise web.HTTPServiceUnavailable(text="the proxy is draining: it stops taking requests soon")
    upstream = request.app[UPSTREAM]
    deadline = min(READY_DEADLINE_SECONDS, upstream.deadline_seconds)
    try:
        status = await upstream.serving_status(request[REQUEST_ID], deadline)
    except grpc.aio.AioRpcError as error:
        raise web.HTTPServiceUnavailable(
            text=f"the prediction server is not ready: health check failed with {error.code().name}"
        ) from None
    if status != "SERVING":
        raise web.HTTPServiceUnavailable(text=f"the prediction server is not ready: its health is {status}")
    return web.json_response({"status": status})


async def openapi_json(request: web.Request) -> web.Response:
    """GET /openapi.json: the OpenAPI document of this API."""
    return web.Response(text=request.app[OPENAPI_JSON], content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/", predict_one)
    app.router.add_post("/predict", predict_batch)
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/openapi.json", openapi_json, allow_head=False)
    app.add_subapp(V2_PREFIX, make_v2_app())  # KServe V2 under /v2, with its own error body (ERROR_BODY)
