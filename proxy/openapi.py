"""The OpenAPI 3.1 document of the REST API, served at GET /openapi.json.

The document is data: proxy/openapi.json, edited by hand beside the handlers it describes (request
bodies, replies, the error body of every failure, X-Request-Id on every response). The settings it
states are filled in once, at start-up, by `settings_in_document`. Tests check it with
openapi-spec-validator, against the app's routes, and against real answers (schemathesis).
"""

import json
import pathlib
from typing import Any

from aiohttp import web

from proxy.config import Settings

DOCUMENT_FILE = pathlib.Path(__file__).with_name("openapi.json")
OPENAPI_JSON = web.AppKey("openapi_json", str)


def settings_in_document(settings: Settings) -> dict[str, str]:
    """Each placeholder in openapi.json and the value it stands for: the one place where the served
    document depends on settings."""
    return {"{max_body_bytes}": str(settings.max_body_bytes)}


def openapi_json_text(settings: Settings) -> str:
    """The document as served: openapi.json with `settings` filled in."""
    text = DOCUMENT_FILE.read_text(encoding="utf-8")
    for placeholder, value in settings_in_document(settings).items():
        text = text.replace(placeholder, json.dumps(value)[1:-1])  # placeholders sit inside JSON strings
    json.loads(text)  # a malformed document stops the proxy at start-up, not at the first GET
    return text


def openapi_document(settings: Settings) -> dict[str, Any]:
    return json.loads(openapi_json_text(settings))
