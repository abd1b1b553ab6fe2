"""The KServe V2 (Open Inference Protocol) service `inference.GRPCInferenceService`, over the
same IrisModel as iris.v1: ModelInfer converts tensors (v2_tensors) and calls IrisModel.predict,
so both APIs share one validation and one prediction path.

The model answers to its manifest name and version (a string, e.g. "1"; an empty version means
the served one). Errors are raised, and leave through server/errors.py:
- unknown model or version -> NOT_FOUND;
- ModelInfer before the model is warmed up -> UNAVAILABLE (ServerReady and ModelReady say false);
- a wrong input, output, datatype, shape or byte count, a NaN -> INVALID_ARGUMENT naming it, in
  the message and in BadRequest details (rows along the input's first dimension; common/error_details.py);
- more rows than --max-batch-rows -> RESOURCE_EXHAUSTED, as in iris.v1.
"""

import threading

import grpc

from inference_pb import grpc_predict_v2_pb2 as pb
from inference_pb import grpc_predict_v2_pb2_grpc as pb_grpc
from server.errors import ApiError, unary_rpc
from server.model import IrisModel
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
    """inference.GRPCInferenceService over one IrisModel; not ready until set_serving(True)."""

    def __init__(self, model: IrisModel):
        self._model = model
        self._signature = signature(model.metadata)
        self._ready = threading.Event()

    def set_serving(self, serving: bool) -> None:
        """Called when the model is warmed up (True) or stops serving (False)."""
        if serving:
            self._ready.set()
        else:
            self._ready.clear()

    def _check_model(self, name: str, version: str) -> None:
        """Raise NOT_FOUND unless `name` and `version` ("" for the served one) name this model."""
        meta = self._model.metadata
        served = f"this server serves model {meta.name!r} version {meta.version}"
        if name != meta.name:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"unknown model {name!r}; {served}")
        if version not in ("", str(meta.version)):
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"model {name!r} has no version {version!r}; {served}")

    def _check_serving(self, name: str, version: str) -> None:
        """Raise NOT_FOUND as _check_model does, or UNAVAILABLE until the model is warmed up."""
        self._check_model(name, version)
        if not self._ready.is_set():
            raise ApiError(grpc.StatusCode.UNAVAILABLE, f"model {name!r} is not ready yet; retry shortly")

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
        self._check_model(request.name, request.version)
        return pb.ModelReadyResponse(ready=self._ready.is_set())

    @unary_rpc
    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=EXTENSIONS)

    @unary_rpc
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        self._check_model(request.name, request.version)
        return pb.ModelMetadataResponse(
            name=self._model.metadata.name,
            versions=[str(self._model.metadata.version)],
            platform=PLATFORM,
            inputs=[_tensor_metadata(self._signature.input)],
            outputs=[_tensor_metadata(spec) for spec in self._signature.outputs],
        )

    @unary_rpc
    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        self._check_serving(request.model_name, request.model_version)
        meta = self._model.metadata
        inputs = features_from_request(request, meta)
        outputs = requested_outputs(request, meta)
        prediction = self._model.predict(inputs.features)
        return infer_response(prediction, meta, outputs, inputs.raw, request.id)
