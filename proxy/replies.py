"""gRPC replies -> the REST API's JSON bodies.

`species` is a string ("2"), as the original REST service answered; `probabilities` is a list
indexed by species number.
"""

import json
from typing import Any

from aiohttp import web

from iris_pb import iris_pb2

# One encoder for every reply: json.dumps with a non-default option builds a new encoder per call.
_STRICT_JSON = json.JSONEncoder(allow_nan=False)


def json_text(body: Any) -> str:
    """`body` as JSON; NaN or infinity (a server bug) raise ValueError rather than becoming `NaN`,
    which is not JSON."""
    return _STRICT_JSON.encode(body)


def json_reply(body: dict[str, Any]) -> web.Response:
    """A 200 JSON response; a ValueError from json_text is answered 500 by the error middleware."""
    return web.Response(text=json_text(body), content_type="application/json")


def prediction_body(reply: iris_pb2.PredictReply) -> dict[str, Any]:
    return {
        "species": str(reply.species),
        "species_name": reply.species_name,
        "probabilities": list(reply.probabilities),
        "model_name": reply.model_name,
        "model_version": reply.model_version,
    }


def batch_body(reply: iris_pb2.PredictBatchReply) -> dict[str, Any]:
    """Row i of the reply as predictions[i]; the model name and version once, beside them."""
    classes = len(reply.class_names)
    probabilities = list(reply.probabilities)
    predictions = [
        {
            "species": str(species),
            "species_name": reply.class_names[species],
            "probabilities": probabilities[classes * row : classes * row + classes],
        }
        for row, species in enumerate(reply.species)
    ]
    return {"predictions": predictions, "model_name": reply.model_name, "model_version": reply.model_version}
