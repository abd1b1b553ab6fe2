"""The names every part of the product must spell the same way, read from the .proto where it
says them: the features, the species, the services, and the health and metadata names that the
server and its clients agree on."""

import re

from inference_pb import grpc_predict_v2_pb2
from iris_pb import iris_pb2

# The four measurements, PredictRequest's float fields in order (the order of every row and tensor).
FEATURE_NAMES = tuple(
    field.name for field in iris_pb2.PredictRequest.DESCRIPTOR.fields if field.type == field.TYPE_FLOAT
)
# The species, indexed by the number the model answers.
CLASS_NAMES = tuple(value.name.lower() for value in iris_pb2.Species.DESCRIPTOR.values)
IRIS_SERVICE = iris_pb2.DESCRIPTOR.services_by_name["IrisPredictor"].full_name
V2_SERVICE = grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# A health "service" that says SERVING from start-up (warm-up included) until SIGTERM: whether the
# server takes calls at all, unlike "" and the API names, which say whether the model is ready.
# The proxy's channels watch it, to stop sending calls to a draining server while a warming one's
# liveness and readiness stay reachable.
ACCEPTING_CALLS_HEALTH_NAME = "iris.accepting-calls"
# The gRPC metadata key that carries a request's id from the proxy (or any client) to the server.
REQUEST_ID_KEY = "x-request-id"
# A model name is a directory of the repository and travels in URLs: one portable path component.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The model iris.v1 answers with, unless the server is told another (--model-name).
IRIS_MODEL_NAME = "iris"
# A model version's task, as its manifest says, and the graph outputs each task has (the export
# writes them, the server checks and answers them): a classifier's label (the class index) and
# probabilities, a regressor's predictions.
CLASSIFICATION = "classification"
REGRESSION = "regression"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
PREDICTIONS_OUTPUT = "predictions"
