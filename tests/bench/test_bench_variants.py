"""bench/variants.py: each variant makes exactly its one part of the work free, and answers as the
product would for the inputs it has seen."""

import numpy as np
import pytest

from bench import variants
from proxy import routes
from server import model, service

FORM = {"sepal_length": "6.8", "sepal_width": "3.2", "petal_length": "5.9", "petal_width": "2.3"}


@pytest.fixture
def restored(monkeypatch):
    """Undo the variants' class patches after the test."""
    monkeypatch.setattr(model.OnnxModel, "_run", model.OnnxModel._run)
    monkeypatch.setattr(service.IrisPredictorService, "Predict", service.IrisPredictorService.Predict)
    monkeypatch.setattr(routes, "predict_one", routes.predict_one)


def test_cached_model_run_runs_the_model_once_per_distinct_input(restored, monkeypatch):
    calls = []

    def counted_run(self, features):
        calls.append(features.copy())
        return model.Prediction(np.array([int(features[0, 0])]), np.zeros((1, 3), dtype=np.float32))

    monkeypatch.setattr(model.OnnxModel, "_run", counted_run)
    variants.cached_model_run()
    iris_model = object.__new__(model.OnnxModel)
    one, two = np.ones((1, 4), dtype=np.float32), np.full((1, 4), 2, dtype=np.float32)

    answers = [iris_model._run(features).labels[0] for features in (one, two, one, two, one)]

    assert answers == [1, 2, 1, 2, 1]
    assert len(calls) == 2


def test_constant_handler_answers_every_call_with_the_first_reply(restored, monkeypatch):
    calls = []

    def counted_predict(self, request, context):
        calls.append(request)
        return f"reply to {request}"

    monkeypatch.setattr(service.IrisPredictorService, "Predict", counted_predict)
    variants.constant_handler()
    servicer = object.__new__(service.IrisPredictorService)

    replies = [servicer.Predict(request, None) for request in ("a", "b", "c")]

    assert replies == ["reply to a"] * 3
    assert calls == ["a"]


async def test_proxy_no_upstream_parses_the_body_but_makes_no_grpc_call(restored, proxy_client):
    variants.no_upstream()
    client = await proxy_client()  # its upstream refuses connections: a gRPC call would fail

    answered = await client.post("/", data=FORM)
    refused = await client.post("/", data={**FORM, "petal_width": "wide"})

    assert answered.status == 200
    assert (await answered.json())["species"] == "2"
    assert refused.status == 400
    assert "petal_width" in (await refused.json())["error"]["message"]
