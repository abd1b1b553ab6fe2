"""Triton's model repository extension over REST, read only.

`POST /v2/repository/index` is gRPC RepositoryIndex: the body is empty or `{"ready": <boolean>}`
(true: only the versions ready to infer), and the reply Triton's JSON array, one entry per model
version: `name` and `state` always, `version` and `reason` when the server gives them (Triton
leaves an empty reason out).

The server loads and unloads versions by itself, from its repository, so Triton's
`POST /v2/repository/models/{name}/load` and `.../unload` are refused: 405 with an empty Allow
header, which RFC 9110 reserves for a resource switched off by configuration.
"""

from inference_pb import grpc_predict_v2_pb2 as pb
from proxy.errors import RequestError
from proxy.parsing import json_kind
from proxy.v2_codec import parse_json

MODEL_CONTROL_REFUSED = (
    "this server loads and unloads model versions by itself, from its repository, and takes no load or "
    "unload requests; POST /v2/repository/index lists the versions and their states"
)


def index_request(body: bytes) -> pb.RepositoryIndexRequest:
    """The RepositoryIndex request for a REST index body; RequestError (400) names what is wrong."""
    if not body:
        return pb.RepositoryIndexRequest()
    fields = parse_json(body)
    if not isinstance(fields, dict):
        raise RequestError(f"the index request must be a JSON object, got {json_kind(fields)}")
    for name in fields:
        if name != "ready":
            raise RequestError(f"{name!r} is not a field of the index request; it takes only 'ready'")
    ready = fields.get("ready", False)
    if not isinstance(ready, bool):
        raise RequestError(f"ready must be a boolean, got {json_kind(ready)}")
    return pb.RepositoryIndexRequest(ready=ready)


def _model_index_json(model: pb.RepositoryIndexResponse.ModelIndex) -> dict[str, str]:
    entry = {"name": model.name}
    if model.version:
        entry["version"] = model.version
    entry["state"] = model.state
    if model.reason:
        entry["reason"] = model.reason
    return entry


def index_reply(response: pb.RepositoryIndexResponse) -> list[dict[str, str]]:
    """The REST index reply: the server's model versions, in its order."""
    return [_model_index_json(model) for model in response.models]


def model_control_refused() -> RequestError:
    """The answer to a load or unload request."""
    return RequestError(MODEL_CONTROL_REFUSED, status=405, headers={"Allow": ""})
