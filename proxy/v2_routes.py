"""The KServe V2 (Open Inference Protocol) REST API under /v2: each handler makes one call to the
server's gRPC V2 service (inference.GRPCInferenceService) and shapes the spec's JSON reply, except
Triton's model load and unload, which the proxy refuses itself (proxy/v2_repository.py).

It is a sub-application with its own error middleware, so its failures carry the spec's error body
`{"error": "..."}` (tritonclient reads it), with the HTTP status of the same GRPC_TO_HTTP table as
the iris API. "Not live" and "not ready" are 503, which Triton's clients read as false.
"""

from typing import Any

from aiohttp import web

from inference_pb import grpc_predict_v2_pb2 as pb
from proxy.errors import ERROR_BODY, RequestError
from proxy.middlewares import REQUEST_ID
from proxy.upstream import UPSTREAM
from proxy.v2_codec import HEADER_LENGTH, infer_reply, infer_request
from proxy.v2_repository import index_reply, index_request, model_control_refused

PREFIX = "/v2"
# The proxy adds this protocol extension (binary tensor data) to the server's own list.
BINARY_EXTENSION = "binary_tensor_data"


def v2_error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": message}


async def _call(request: web.Request, rpc: str, message: Any) -> Any:
    """Call one V2 method of the server with this request's deadline and id."""
    upstream = request.config_dict[UPSTREAM]
    method = getattr(upstream.inference, rpc)
    return await method(message, **upstream.call_options(request[REQUEST_ID]))


def _model(request: web.Request) -> tuple[str, str]:
    """The model name and version ("" for the served one) named by the path."""
    return request.match_info["name"], request.match_info.get("version", "")


async def server_metadata(request: web.Request) -> web.Response:
    """GET /v2: the server's name, version and protocol extensions."""
    reply = await _call(request, "ServerMetadata", pb.ServerMetadataRequest())
    extensions = [*reply.extensions, BINARY_EXTENSION]
    return web.json_response({"name": reply.name, "version": reply.version, "extensions": extensions})


async def server_live(request: web.Request) -> web.Response:
    """GET /v2/health/live: 200 while the server answers, else 503."""
    reply = await _call(request, "ServerLive", pb.ServerLiveRequest())
    if not reply.live:
        raise web.HTTPServiceUnavailable(text="the server is not live")
    return web.json_response({"live": True})


async def server_ready(request: web.Request) -> web.Response:
    """GET /v2/health/ready: 200 when the server's model is ready to infer, else 503."""
    reply = await _call(request, "ServerReady", pb.ServerReadyRequest())
    if not reply.ready:
        raise web.HTTPServiceUnavailable(text="the server is not ready")
    return web.json_response({"ready": True})


async def model_metadata(request: web.Request) -> web.Response:
    """GET /v2/models/{name}[/versions/{version}]: versions, platform and tensor signatures."""
    name, version = _model(request)
    reply = await _call(request, "ModelMetadata", pb.ModelMetadataRequest(name=name, version=version))

    def tensors(items: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

    return web.json_response(
        {
            "name": reply.name,
            "versions": list(reply.versions),
            "platform": reply.platform,
            "inputs": tensors(reply.inputs),
            "outputs": tensors(reply.outputs),
        }
    )


async def model_ready(request: web.Request) -> web.Response:
    """GET /v2/models/{name}[/versions/{version}]/ready: 200 when ready, else 404 (the protocol's
    4xx for false: the server does not tell a model not served from one not ready)."""
    name, version = _model(request)
    reply = await _call(request, "ModelReady", pb.ModelReadyRequest(name=name, version=version))
    if not reply.ready:
        which = f"model {name!r}" + (f" version {version!r}" if version else "")
        raise RequestError(f"{which} is not ready, or not served", status=404)
    return web.json_response({"name": name, "ready": True})


async def infer(request: web.Request) -> web.Response:
    """POST /v2/models/{name}[/versions/{version}]/infer: JSON and binary tensors in and out."""
    name, version = _model(request)
    call = infer_request(name, version, await request.read(), request.headers.get(HEADER_LENGTH))
    reply = await _call(request, "ModelInfer", call.message)
    body, header_length = infer_reply(reply, call.binary_outputs)
    if header_length is None:
        return web.Response(body=body, content_type="application/json")
    return web.Response(
        body=body, content_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)}
    )


async def repository_index(request: web.Request) -> web.Response:
    """POST /v2/repository/index: every model version of the server's repository and its state."""
    reply = await _call(request, "RepositoryIndex", index_request(await request.read()))
    return web.json_response(index_reply(reply))


async def model_control(request: web.Request) -> web.Response:
    """POST /v2/repository/models/{name}/load and /unload: refused, the server loads versions itself."""
    raise model_control_refused()


def make_v2_app() -> web.Application:
    """The /v2 sub-application; mount it with `app.add_subapp(PREFIX, make_v2_app())`."""
    app = web.Application()
    app[ERROR_BODY] = v2_error_body  # the main app's error middleware answers /v2 failures with it
    app.router.add_get("", server_metadata, allow_head=False)
    app.router.add_get("/health/live", server_live, allow_head=False)
    app.router.add_get("/health/ready", server_ready, allow_head=False)
    for model in ("/models/{name}", "/models/{name}/versions/{version}"):
        app.router.add_get(model, model_metadata, allow_head=False)
        app.router.add_get(f"{model}/ready", model_ready, allow_head=False)
        app.router.add_post(f"{model}/infer", infer)
    app.router.add_post("/repository/index", repository_index)
    for action in ("load", "unload"):
        app.router.add_post(f"/repository/models/{{name}}/{action}", model_control)
    return app
