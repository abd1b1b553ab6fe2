"""The artifact contract the runtime relies on: file names, features, classes, ONNX interface."""

import onnx

from common.names import CLASS_NAMES, FEATURE_NAMES

MANIFEST_FILE = "model.json"
ONNX_FILE = "model.onnx"
PICKLE_FILE = "iris_model.pickle"  # the parity reference; nothing at runtime opens it


INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
ONNX_INPUTS = [{"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(FEATURE_NAMES)]}]
ONNX_OUTPUTS = [
    {"name": LABEL_OUTPUT, "dtype": "int64", "shape": [None]},
    {"name": PROBABILITIES_OUTPUT, "dtype": "float32", "shape": [None, len(CLASS_NAMES)]},
]
_DTYPE_NAMES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}


def describe_tensors(values) -> list[dict]:
    """Name, dtype string and shape (None for a dynamic dimension) of graph inputs or outputs."""
    described = []
    for value in values:
        tensor_type = value.type.tensor_type
        shape = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
        dtype = _DTYPE_NAMES.get(tensor_type.elem_type, onnx.TensorProto.DataType.Name(tensor_type.elem_type))
        described.append({"name": value.name, "dtype": dtype, "shape": shape})
    return described
