"""KServe V2 (Open Inference Protocol) tensors to and from the numpy arrays OnnxModel takes and gives.

Input: one tensor, named as the model's input, FP32 [N, F] (FP64 is accepted and converted to
float32), as typed `contents` or as little-endian `raw_input_contents`. Outputs: a classifier's
`label` INT64 [N] and `probabilities` FP32 [N, C], a regressor's `predictions` FP32 [N, T]; the
requested ones in the requested order (all of them when none are named). A raw request gets raw
outputs (tritonclient's gRPC `as_numpy` reads only `raw_output_contents`), a typed one typed
outputs. Every mistake is an InvalidInput naming the tensor. The service calls these, so it never
handles wire types and arrays at once.
"""

import dataclasses
import functools
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from inference_pb import grpc_predict_v2_pb2 as pb
from server.model import InvalidInput, ModelMetadata, Prediction

FLOAT32_MAX = float(np.finfo(np.float32).max)
# V2 datatype -> its little-endian wire type and the InferTensorContents field of typed values.
DATATYPES = {
    "FP32": (np.dtype("<f4"), "fp32_contents"),
    "FP64": (np.dtype("<f8"), "fp64_contents"),
    "INT64": (np.dtype("<i8"), "int64_contents"),
}
INPUT_DATATYPES = ("FP32", "FP64")  # FP64 is converted to float32, the model's type
ANY_SIZE = -1  # a dimension of any size in tensor metadata
INPUT_FIELD = "inputs[0]"  # the one input tensor, once _the_input has checked there is one


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A tensor of the model's signature as V2 metadata describes it."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name!r} {self.datatype} {list(self.shape)}"


@dataclasses.dataclass(frozen=True)
class Signature:
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]  # in the model's order (ModelMetadata.output_widths)


@functools.lru_cache(maxsize=256)
def signature(metadata: ModelMetadata) -> Signature:
    """The model's input and outputs in V2 terms (-1 for the batch dimension)."""
    outputs = []
    for name, width in metadata.output_widths.items():
        if width is None:
            outputs.append(TensorSpec(name, "INT64", (ANY_SIZE,)))
        else:
            outputs.append(TensorSpec(name, "FP32", (ANY_SIZE, width)))
    return Signature(
        input=TensorSpec(metadata.input_name, "FP32", (ANY_SIZE, len(metadata.feature_names))),
        outputs=tuple(outputs),
    )


class InferInputs(NamedTuple):
    features: np.ndarray  # float32 [N, F], for OnnxModel.predict
    raw: bool  # the data came as raw_input_contents, so the outputs go back raw


# Triton's tensor parameters that change what a tensor means (shared memory, top-k classes):
# answering as if they were not there would be wrong, so they are refused. Any other parameter,
# of a tensor or of the request, is one the model does not use, and is ignored (as Triton does).
MEANINGFUL_TENSOR_PARAMETERS = frozenset(
    ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset", "classification")
)


def _refuse_parameters(kind: str, name: str, parameters: Mapping[str, object], field: str) -> None:
    refused = sorted(MEANINGFUL_TENSOR_PARAMETERS.intersection(parameters))
    if refused:
        raise InvalidInput(
            f"{kind} {name!r}: parameter {refused[0]!r} is not supported", field=f"{field}.parameters"
        )


def _the_input(request: pb.ModelInferRequest, spec: TensorSpec) -> pb.ModelInferRequest.InferInputTensor:
    names = [tensor.name for tensor in request.inputs]
    for index, name in enumerate(names):
        if name != spec.name:
            raise InvalidInput(
                f"unknown input {name!r}; the model takes one input, {spec}", field=f"inputs[{index}].name"
            )
    if not names:
        raise InvalidInput(
            f"input {spec.name!r} is missing; the model takes one input, {spec}", field="inputs"
        )
    if len(names) > 1:
        raise InvalidInput(f"input {spec.name!r} is given {len(names)} times; give it once", field="inputs")
    return request.inputs[0]


def _rows(tensor: pb.ModelInferRequest.InferInputTensor, spec: TensorSpec) -> int:
    width = spec.shape[1]
    shape = list(tensor.shape)
    if len(shape) != 2 or shape[1] != width or shape[0] < 0:
        raise InvalidInput(
            f"input {tensor.name!r} has shape {shape}; the model takes [N, {width}]",
            field=f"{INPUT_FIELD}.shape",
        )
    return shape[0]


def _raw_values(
    request: pb.ModelInferRequest, tensor: pb.ModelInferRequest.InferInputTensor, count: int
) -> np.ndarray:
    if tensor.contents.ByteSize():
        raise InvalidInput(
            f"input {tensor.name!r} has typed contents and raw_input_contents; send one",
            field=f"{INPUT_FIELD}.contents",
        )
    if len(request.raw_input_contents) != 1:
        raise InvalidInput(
            f"raw_input_contents has {len(request.raw_input_contents)} entries for 1 input; "
            "send one per input, in the order of inputs",
            field="raw_input_contents",
        )
    raw = request.raw_input_contents[0]
    wire_type = DATATYPES[tensor.datatype][0]
    if len(raw) != count * wire_type.itemsize:
        raise InvalidInput(
            f"input {tensor.name!r} has {len(raw)} bytes of raw data; shape {list(tensor.shape)} "
            f"of {tensor.datatype} takes {count * wire_type.itemsize}",
            field="raw_input_contents[0]",
        )
    return np.frombuffer(raw, dtype=wire_type)


def _typed_values(tensor: pb.ModelInferRequest.InferInputTensor, count: int) -> np.ndarray:
    wire_type, field = DATATYPES[tensor.datatype]
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise InvalidInput(
            f"input {tensor.name!r} has {len(values)} values in contents.{field}; "
            f"shape {list(tensor.shape)} takes {count}",
            field=f"{INPUT_FIELD}.contents.{field}",
        )
    return np.array(values, dtype=wire_type)


def _as_float32(rows: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """The rows as float32; InvalidInput names the first finite value a float32 cannot hold."""
    if rows.dtype.itemsize > 4:
        too_large = np.isfinite(rows) & (np.abs(rows) > FLOAT32_MAX)
        if too_large.any():
            row, column = (int(i) for i in np.argwhere(too_large)[0])
            feature = metadata.feature_names[column]
            raise InvalidInput(
                f"{feature} is {float(rows[row, column])!r}, beyond the range of FP32", row=row, field=feature
            )
    return rows.astype(np.float32, copy=False)


def features_from_request(request: pb.ModelInferRequest, metadata: ModelMetadata) -> InferInputs:
    """The request's input as a float32 [N, F] array; InvalidInput for anything that does not fit."""
    spec = signature(metadata).input
    tensor = _the_input(request, spec)
    if tensor.datatype not in INPUT_DATATYPES:
        raise InvalidInput(
            f"input {tensor.name!r} has datatype {tensor.datatype!r}; the model takes "
            f"{' or '.join(INPUT_DATATYPES)}",
            field=f"{INPUT_FIELD}.datatype",
        )
    _refuse_parameters("input", tensor.name, tensor.parameters, INPUT_FIELD)
    rows = _rows(tensor, spec)
    count = rows * spec.shape[1]
    raw = bool(request.raw_input_contents)
    values = _raw_values(request, tensor, count) if raw else _typed_values(tensor, count)
    return InferInputs(_as_float32(values.reshape(rows, spec.shape[1]), metadata), raw)


def requested_outputs(request: pb.ModelInferRequest, metadata: ModelMetadata) -> list[TensorSpec]:
    """The outputs to answer with, in the requested order (all of them if none are requested)."""
    outputs = {spec.name: spec for spec in signature(metadata).outputs}
    if not request.outputs:
        return list(outputs.values())
    chosen: list[TensorSpec] = []
    for index, output in enumerate(request.outputs):
        field = f"outputs[{index}]"
        if output.name not in outputs:
            raise InvalidInput(
                f"unknown output {output.name!r}; the model's outputs are {', '.join(map(repr, outputs))}",
                field=f"{field}.name",
            )
        if outputs[output.name] in chosen:
            raise InvalidInput(f"output {output.name!r} is requested twice", field=f"{field}.name")
        _refuse_parameters("output", output.name, output.parameters, field)
        chosen.append(outputs[output.name])
    return chosen


def infer_response(
    prediction: Prediction, metadata: ModelMetadata, outputs: list[TensorSpec], raw: bool, request_id: str
) -> pb.ModelInferResponse:
    """The reply carrying `outputs` of `prediction`, raw or typed, echoing the request's id."""
    arrays = prediction.arrays()
    response = pb.ModelInferResponse(
        model_name=metadata.name, model_version=str(metadata.version), id=request_id
    )
    for spec in outputs:
        array = arrays[spec.name]
        tensor = response.outputs.add(name=spec.name, datatype=spec.datatype, shape=array.shape)
        wire_type, field = DATATYPES[spec.datatype]
        if raw:
            response.raw_output_contents.append(array.astype(wire_type, copy=False).tobytes())
        else:
            getattr(tensor.contents, field).extend(array.ravel().tolist())
    return response
