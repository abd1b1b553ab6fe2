"""gRPC replies -> JSON bodies: species as a string, rows in order, never invalid JSON."""

import json
import math

import pytest

from iris_pb import iris_pb2
from proxy.replies import batch_body, json_reply, prediction_body


def test_prediction_species_is_a_string():
    """species is sent as a string ("2"), as the original REST service did."""
    reply = iris_pb2.PredictReply(
        species=2,
        species_name="virginica",
        probabilities=[0.0, 0.25, 0.75],
        model_name="iris",
        model_version="1",
    )
    assert prediction_body(reply) == {
        "species": "2",
        "species_name": "virginica",
        "probabilities": [0.0, 0.25, 0.75],
        "model_name": "iris",
        "model_version": "1",
    }


def test_batch_rows_are_split_by_class_count():
    """Row i of a batch reply becomes predictions[i] with its own slice of probabilities."""
    reply = iris_pb2.PredictBatchReply(
        species=[0, 2],
        probabilities=[1.0, 0.0, 0.0, 0.0, 0.5, 0.5],
        class_names=["setosa", "versicolor", "virginica"],
        model_name="iris",
        model_version="1",
    )
    body = batch_body(reply)
    assert body["predictions"] == [
        {"species": "0", "species_name": "setosa", "probabilities": [1.0, 0.0, 0.0]},
        {"species": "2", "species_name": "virginica", "probabilities": [0.0, 0.5, 0.5]},
    ]
    assert (body["model_name"], body["model_version"]) == ("iris", "1")


def test_json_reply_is_strict_json():
    """A normal body is sent as JSON."""
    assert json.loads(json_reply({"probabilities": [0.5, 0.5]}).text) == {"probabilities": [0.5, 0.5]}


def test_json_reply_refuses_nan():
    """NaN from the server is never sent as `NaN` (not JSON): it raises, and the middleware answers 500."""
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_reply({"probabilities": [math.nan, 0.5, 0.5]})
