"""Models fitted elsewhere (tests/support/user_models.py: wine, a classifier of 13 features and 3
classes; diabetes, a regressor of 10 features), served beside iris and called as a Triton user
would: answers match scikit-learn's within the parity gate's tolerances, and bad input is refused
as it is for iris."""

import grpc
import joblib
import numpy as np
import pytest
import tritonclient.http as triton_http
from sklearn.datasets import load_diabetes, load_wine
from tritonclient.utils import InferenceServerException

from export.parity import PROBABILITY_TOLERANCE
from export.parity_compare import PREDICTION_RELATIVE_TOLERANCE
from inference_pb import grpc_predict_v2_pb2 as v2
from inference_pb import grpc_predict_v2_pb2_grpc as v2_grpc
from tests.support.model_repository import publish_copy
from tests.support.proxy_process import running_proxy
from tests.support.server_process import running_server
from tests.support.triton_grpc import triton
from tests.support.user_models import publish_diabetes, publish_wine

TIMEOUT = 10


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    repository = tmp_path_factory.mktemp("repository")
    publish_copy(repository, "iris", 1)
    return {"path": repository, "wine": publish_wine(repository), "diabetes": publish_diabetes(repository)}


@pytest.fixture(scope="module")
def server(repository, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    with running_server(logs, "--repository", str(repository["path"])) as server:
        server.logs = logs
        yield server


@pytest.fixture(scope="module")
def client(server):
    with triton.InferenceServerClient(server.target) as client:
        client.target = server.target
        yield client


def reference(repository, name):
    """The estimator the export converted (a test may unpickle it; the server never does)."""
    return joblib.load(repository[name] / "estimator.pkl")


def infer(client, name, rows, outputs=None):
    tensor = triton.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows.astype(np.float32))
    wanted = [triton.InferRequestedOutput(o) for o in outputs] if outputs else None
    return client.infer(name, [tensor], outputs=wanted)


def test_a_classifier_of_other_shape_answers_as_scikit_learn(client, repository):
    rows = load_wine().data[::7]
    reply = infer(client, "wine", rows)
    estimator = reference(repository, "wine")
    expected_labels = np.searchsorted(estimator.classes_, estimator.predict(rows))
    np.testing.assert_array_equal(reply.as_numpy("label"), expected_labels)
    probabilities = reply.as_numpy("probabilities")
    assert probabilities.shape == (len(rows), 3)
    np.testing.assert_allclose(probabilities, estimator.predict_proba(rows), atol=PROBABILITY_TOLERANCE)


def test_a_regressor_answers_predictions_as_scikit_learn(client, repository):
    rows = load_diabetes().data[::9]
    reply = infer(client, "diabetes", rows)
    predictions = reply.as_numpy("predictions")
    assert (predictions.shape, predictions.dtype) == ((len(rows), 1), np.float32)
    expected = reference(repository, "diabetes").predict(rows)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(predictions[:, 0], expected, atol=PREDICTION_RELATIVE_TOLERANCE * scale)
    assert reply.get_response().model_name == "diabetes"


def test_metadata_gives_each_models_signature(client):
    wine = client.get_model_metadata("wine", as_json=True)
    assert wine["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "13"]}]
    assert [o["name"] for o in wine["outputs"]] == ["label", "probabilities"]
    diabetes = client.get_model_metadata("diabetes", as_json=True)
    assert diabetes["inputs"][0]["shape"] == ["-1", "10"]
    assert diabetes["outputs"] == [{"name": "predictions", "datatype": "FP32", "shape": ["-1", "1"]}]


@pytest.mark.parametrize(("name", "task"), [("wine", "classification"), ("diabetes", "regression")])
def test_metadata_says_which_task(client, name, task):
    with grpc.insecure_channel(client.target) as channel:
        metadata = v2_grpc.GRPCInferenceServiceStub(channel).ModelMetadata(
            v2.ModelMetadataRequest(name=name), timeout=TIMEOUT
        )
    assert metadata.parameters["task"].string_param == task


def test_a_row_of_the_wrong_width_is_refused_naming_the_shape(client):
    with pytest.raises(InferenceServerException) as error:
        infer(client, "wine", np.ones((2, 4)))
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "has shape [2, 4]; the model takes [N, 13]" in error.value.message()


def test_a_nan_is_refused_naming_the_feature_and_row(client):
    rows = load_diabetes().data[:3].copy()
    rows[1, 2] = np.nan
    with pytest.raises(InferenceServerException) as error:
        infer(client, "diabetes", rows)
    assert error.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert error.value.message() == "row 1: bmi is NaN; features must be finite numbers"


def test_an_output_the_model_lacks_is_refused(client):
    with pytest.raises(InferenceServerException) as error:
        infer(client, "diabetes", load_diabetes().data[:1], outputs=["label"])
    assert "unknown output 'label'; the model's outputs are 'predictions'" in error.value.message()


def test_iris_is_served_beside_them(client):
    reply = infer(client, "iris", np.array([[6.8, 3.2, 5.9, 2.3]]))
    assert reply.as_numpy("label").tolist() == [2]


def test_rest_through_the_proxy_answers_as_grpc(server, repository):
    """tritonclient's HTTP client, through the proxy, gets the regressor's and the classifier's
    answers as scikit-learn gives them."""
    wine_rows, diabetes_rows = load_wine().data[:5], load_diabetes().data[:5]
    with running_proxy(server.logs, server.target) as proxy:
        client = triton_http.InferenceServerClient(proxy.url.removeprefix("http://"))
        try:
            answers = {}
            for name, rows in (("wine", wine_rows), ("diabetes", diabetes_rows)):
                tensor = triton_http.InferInput("input", list(rows.shape), "FP32")
                tensor.set_data_from_numpy(rows.astype(np.float32))
                answers[name] = client.infer(name, [tensor])
        finally:
            client.close()
    wine = reference(repository, "wine")
    np.testing.assert_allclose(
        answers["wine"].as_numpy("probabilities"), wine.predict_proba(wine_rows), atol=PROBABILITY_TOLERANCE
    )
    expected = reference(repository, "diabetes").predict(diabetes_rows)
    tolerance = PREDICTION_RELATIVE_TOLERANCE * np.abs(expected).max()
    np.testing.assert_allclose(answers["diabetes"].as_numpy("predictions")[:, 0], expected, atol=tolerance)
