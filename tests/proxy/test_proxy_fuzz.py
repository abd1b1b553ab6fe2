"""Schemathesis against the real proxy and server: every operation of the document gets generated
requests, valid and not, and each answer is as documented (no 5xx; status, content type, headers
and body schema: schemathesis's default checks).

Repeatable and bounded: derandomized (no seed, no example database), at most MAX_EXAMPLES fuzzed
requests an operation besides the coverage phase's, which are derived from the document.
"""

import json
import urllib.request

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from proxy.config import Settings
from proxy.openapi import openapi_document
from tests.support.server_process import ARTIFACTS

MAX_EXAMPLES = 40
DOCUMENT = openapi_document(Settings())  # as the proxy_process fixture serves it (default settings)
MODEL = "iris"
# The server serves the highest version in the repository.
MODEL_VERSION = max((path.name for path in (ARTIFACTS / MODEL).iterdir() if path.name.isdigit()), key=int)

schema = schemathesis.openapi.from_dict(DOCUMENT)
# The V2 model operations once more, naming the model the server serves: generated names only ever
# reach its 404s; these reach its 200s and the server's own checks of the tensors sent.
served_model = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=SchemathesisConfig.from_dict({"parameters": {"path.name": MODEL, "path.version": MODEL_VERSION}}),
).include(path_regex="^/v2/models/")

repeatable = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)

# The schema allows any float32 feature, but a finite value can still be too large for the model
# (its probabilities overflow): the server's documented 400 for a schema-valid request.
TOO_LARGE_FOR_THE_MODEL = "features too large for the model"


def too_large_for_the_model(response) -> bool:
    return response.status_code == 400 and TOO_LARGE_FOR_THE_MODEL in response.text


def refuses_model_control(case) -> bool:
    """Triton's load and unload: the document's one answer is 405, for valid requests too."""
    return case.path.startswith("/v2/repository/models/")


def test_the_fuzzed_document_is_the_served_one(proxy_process):
    """The document fuzzed here is the one the real proxy serves."""
    with urllib.request.urlopen(f"{proxy_process}/openapi.json", timeout=10) as answer:
        assert json.load(answer) == DOCUMENT


@schema.parametrize()
@repeatable
def test_generated_requests_get_documented_answers(case, proxy_process):
    """Generated requests (valid and not): no 5xx; status, headers and body as documented."""
    response = case.call(base_url=proxy_process)
    refused = too_large_for_the_model(response) or refuses_model_control(case)
    excluded = [positive_data_acceptance] if refused else []
    case.validate_response(response, excluded_checks=excluded)


@served_model.parametrize()
@repeatable
def test_generated_requests_to_the_served_model_get_documented_answers(case, proxy_process):
    """The same for the served model's V2 operations, with its name and version in the path."""
    response = case.call(base_url=proxy_process)
    # The document describes any V2 model's tensors; which ones this model takes (name, datatype,
    # shape) is its metadata, so a schema-valid infer request may well get the documented 400.
    excluded = [positive_data_acceptance] if case.path.endswith("/infer") else []
    case.validate_response(response, excluded_checks=excluded)


FLOWERS = [[6.8, 3.2, 5.9, 2.3], [5.1, 3.5, 1.4, 0.2]]
INFER = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], "data": FLOWERS}]}


@pytest.mark.parametrize(
    "body",
    [INFER, {**INFER, "parameters": {"binary_data_output": True}}],
    ids=["json-outputs", "binary-outputs"],
)
def test_an_infer_request_the_model_takes_gets_a_documented_answer(proxy_process, body):
    """What generated tensors never are, one the model takes, answered 200 (JSON or binary) as documented."""
    operation = served_model["/v2/models/{name}/infer"]["POST"]
    case = operation.Case(path_parameters={"name": MODEL}, body=body, media_type="application/json")
    response = case.call(base_url=proxy_process)
    assert response.status_code == 200
    case.validate_response(response)
