"""scikit-learn estimator -> ONNX model with the artifact contract's inputs and outputs."""

import numpy as np
import onnx
from onnx import helper
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import ClassifierMixin
from sklearn.pipeline import Pipeline

from export.errors import ExportError

INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
# Pinned rather than "latest" so a library upgrade cannot silently raise the opset the
# server's onnxruntime must support. ai.onnx.ml 3 is the last with TreeEnsembleClassifier.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def convert_to_onnx(estimator: ClassifierMixin, n_features: int) -> onnx.ModelProto:
    """Convert a fitted classifier: input float32 [N, n_features]; outputs label, probabilities."""
    final_step = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    model = to_onnx(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(final_step): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    if hasattr(estimator, "estimators_") and hasattr(estimator.estimators_[0], "tree_"):
        align_tree_thresholds(model, estimator)
    onnx.checker.check_model(model, full_check=True)
    check_model_interface(model, n_features, n_classes=len(estimator.classes_))
    return model


def align_tree_thresholds(model: onnx.ModelProto, forest) -> None:
    """Give every split the float32 threshold that makes ONNX branch exactly like scikit-learn.

    scikit-learn casts inputs to float32 and compares them with float64 thresholds;
    skl2onnx stores thresholds rounded to the NEAREST float32, so an input equal to a
    threshold rounded up goes left in ONNX and right in scikit-learn. For a float32 x,
    ``x <= t`` holds exactly when ``x <= w`` with w the largest float32 not above t.
    """
    (tree_node,) = [node for node in model.graph.node if node.op_type == "TreeEnsembleClassifier"]
    attributes = {attribute.name: attribute for attribute in tree_node.attribute}
    modes = [mode.decode() for mode in attributes["nodes_modes"].strings]
    if set(modes) - {"BRANCH_LEQ", "LEAF"}:
        raise ExportError(f"unexpected tree node modes {sorted(set(modes))}")
    aligned = []
    for tree_id, node_id, mode in zip(
        attributes["nodes_treeids"].ints, attributes["nodes_nodeids"].ints, modes, strict=True
    ):
        threshold = float(forest.estimators_[tree_id].tree_.threshold[node_id])
        aligned.append(largest_float32_at_most(threshold) if mode == "BRANCH_LEQ" else 0.0)
    replacement = helper.make_attribute("nodes_values", [float(value) for value in aligned])
    attributes["nodes_values"].CopyFrom(replacement)


def largest_float32_at_most(value: float) -> np.float32:
    nearest = np.float32(value)
    if float(nearest) <= value:
        return nearest
    return np.nextafter(nearest, np.float32(-np.inf))


def _tensor_interface(value_info: onnx.ValueInfoProto) -> tuple[str, int, list[int | None]]:
    tensor_type = value_info.type.tensor_type
    shape = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
    return value_info.name, tensor_type.elem_type, shape


def check_model_interface(model: onnx.ModelProto, n_features: int, n_classes: int) -> None:
    """Raise ExportError unless the graph has exactly the contract's input and outputs."""
    float32, int64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    expected_inputs = [(INPUT_NAME, float32, [None, n_features])]
    expected_outputs = [(LABEL_OUTPUT, int64, [None]), (PROBABILITIES_OUTPUT, float32, [None, n_classes])]
    inputs = [_tensor_interface(value) for value in model.graph.input]
    outputs = [_tensor_interface(value) for value in model.graph.output]
    if inputs != expected_inputs or outputs != expected_outputs:
        raise ExportError(
            f"ONNX interface mismatch: inputs {inputs}, outputs {outputs}; "
            f"expected {expected_inputs}, {expected_outputs}"
        )
