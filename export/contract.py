"""The artifact contract the runtime relies on: file names, tasks, features, classes, ONNX interface."""

from dataclasses import dataclass

import onnx

from common.names import (
    CLASS_NAMES,
    CLASSIFICATION,
    FEATURE_NAMES,
    LABEL_OUTPUT,
    PREDICTIONS_OUTPUT,
    PROBABILITIES_OUTPUT,
    REGRESSION,
)

MANIFEST_FILE = "model.json"
ONNX_FILE = "model.onnx"
# The parity references: nothing at runtime opens them, and .dockerignore keeps them out of images.
PICKLE_FILE = "iris_model.pickle"  # an iris model the export trained
ESTIMATOR_FILE = "estimator.pkl"  # a copy of the estimator file of a model fitted elsewhere
SAMPLE_FILE = "sample.csv"  # a copy of that model's sample rows, which the gate ran on

TASKS = (CLASSIFICATION, REGRESSION)

INPUT_NAME = "input"
_DTYPE_NAMES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64"}


@dataclass(frozen=True)
class ModelInterface:
    """What a model takes and answers: its task, feature names, and class or target names."""

    task: str
    features: tuple[str, ...]
    classes: tuple[str, ...] = ()  # classification: class names, by the index the label output holds
    targets: tuple[str, ...] = ()  # regression: the predictions' column names

    @property
    def onnx_inputs(self) -> list[dict]:
        return [{"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(self.features)]}]

    @property
    def onnx_outputs(self) -> list[dict]:
        if self.task == REGRESSION:
            return [{"name": PREDICTIONS_OUTPUT, "dtype": "float32", "shape": [None, len(self.targets)]}]
        return [
            {"name": LABEL_OUTPUT, "dtype": "int64", "shape": [None]},
            {"name": PROBABILITIES_OUTPUT, "dtype": "float32", "shape": [None, len(self.classes)]},
        ]


IRIS_INTERFACE = ModelInterface(CLASSIFICATION, FEATURE_NAMES, CLASS_NAMES)


def describe_tensors(values) -> list[dict]:
    """Name, dtype string and shape (None for a dynamic dimension) of graph inputs or outputs."""
    described = []
    for value in values:
        tensor_type = value.type.tensor_type
        shape = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
        dtype = _DTYPE_NAMES.get(tensor_type.elem_type, onnx.TensorProto.DataType.Name(tensor_type.elem_type))
        described.append({"name": value.name, "dtype": dtype, "shape": shape})
    return described
