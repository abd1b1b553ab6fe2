"""The KServe V2 (Open Inference Protocol) service `inference.GRPCInferenceService`, over every
served model version, the same OnnxModel objects as iris.v1: ModelInfer converts tensors
(v2_tensors) and calls OnnxModel.predict, so both APIs share one validation and one prediction path.

A model answers to its name and version (a string, e.g. "1"; empty means its latest served one).
RepositoryIndex lists every version found in the repository, with its state; nothing here loads or
unloads one (server/repository_watcher.py does, as the repository says).

Errors are raised, and leave through server/errors.py:
- a malformed model name or version -> INVALID_ARGUMENT naming the field;
- unknown model or version -> NOT_FOUND listing what is served (ModelReady answers ready: false,
  as Triton does);
- ModelInfer before the server is ready, or while it drains -> UNAVAILABLE (ServerReady and
  ModelReady say false);
- a wrong input, output, datatype, shape or byte count, a NaN -> INVALID_ARGUMENT naming it, in
  the message and in BadRequest details (rows along the input's first dimension; common/error_details.py);
- more rows than --max-batch-rows -> RESOURCE_EXHAUSTED, as in iris.v1.
"""

import threading

import grpc

from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc
from server.errors import ApiError, unary_rpc
from server.served_models import ServedModels
from server.v2_tensors import TensorSpec, features_from_request, infer_response, requested_outputs, signature

SERVER_NAME = "iris-predictor"
SERVER_VERSION = "0.1.0"  # pyproject.toml's version
# KServe's platform name for ONNX models (Triton calls it onnxruntime_onnx).
PLATFORM = "onnx_onnxv1"
# Protocol extensions over gRPC: none. (The REST proxy adds binary_tensor_data over HTTP.)
EXTENSIONS: tuple[str, ...] = ()


def _tensor_metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.datatype, shape=spec.shape)


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService over the served models; not ready until set_serving(True)."""

    def __init__(self, served: ServedModels):
        self._served = served
        self._ready = threading.Event()

    def set_serving(self, serving: bool) -> None:
        """Called when the models are loaded and warmed up (True) or the server drains (False)."""
        if serving:
            self._ready.set()
        else:
            self._ready.clear()

    @unary_rpc
    def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @unary_rpc
    def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._ready.is_set())

    @unary_rpc
    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        known = self._served.is_ready(request.name, request.version)
        return pb.ModelReadyResponse(ready=known and self._ready.is_set())

    @unary_rpc
    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=EXTENSIONS)

    @unary_rpc
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        model = self._served.model(request.name, request.version, "name", "version")
        meta = model.metadata
        served_versions = list(self._served.snapshot.models.get(meta.name, {}))
        model_signature = signature(meta)
        return pb.ModelMetadataResponse(
            name=meta.name,
            versions=[request.version] if request.version else served_versions,
            platform=PLATFORM,
            inputs=[_tensor_metadata(model_signature.input)],
            outputs=[_tensor_metadata(spec) for spec in model_signature.outputs],
            parameters={"task": pb.InferParameter(string_param=meta.task)},
        )

    @unary_rpc
    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        model = self._served.model(request.model_name, request.model_version)
        if not self._ready.is_set():
            raise ApiError(
                grpc.StatusCode.UNAVAILABLE, f"model {request.model_name!r} is not ready yet; retry shortly"
            )
        meta = model.metadata
        inputs = features_from_request(request, meta)
        outputs = requested_outputs(request, meta)
        prediction = model.predict(inputs.features)
        return infer_response(prediction, meta, outputs, inputs.raw, request.id)

    @unary_rpc
    def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: grpc.ServicerContext
    ) -> pb.RepositoryIndexResponse:
        entries = self._served.index(ready_only=request.ready)
        return pb.RepositoryIndexResponse(
            models=[
                pb.RepositoryIndexResponse.ModelIndex(
                    name=entry.name, version=str(entry.version), state=entry.state, reason=entry.reason
                )
                for entry in entries
            ]
        )
