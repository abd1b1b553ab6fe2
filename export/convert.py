"""scikit-learn estimator -> ONNX model with the artifact contract's inputs and outputs."""

import numpy as np
import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator, is_classifier
from sklearn.pipeline import Pipeline

from export.contract import CLASSIFICATION, INPUT_NAME, IRIS_INTERFACE, ModelInterface, describe_tensors
from export.errors import ExportError
from export.estimator_file import class_path
from export.outputs import conform_outputs
from export.simplify import simplify_graph

# Pinned rather than "latest" so a library upgrade cannot silently raise the opset the
# server's onnxruntime must support. ai.onnx.ml 3 is the last with TreeEnsembleClassifier.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def convert_to_onnx(estimator: BaseEstimator, interface: ModelInterface = IRIS_INTERFACE) -> onnx.ModelProto:
    """Convert a fitted estimator to a graph with the interface's input and outputs.

    A classifier answers label (the class index) and probabilities; a regressor, predictions.

    Tree thresholds: scikit-learn compares float32 inputs with float64 thresholds, ONNX
    with float32 ones. skl2onnx (1.20) stores for each split the largest float32 not above
    the threshold, which branches identically; rounding to the nearest float32 would not.
    The parity gate's ``thresholds`` input set checks exactly this on every export.

    The converted graph is then simplified (export/simplify.py): fewer nodes, the same answers;
    and given the contract's output names and meanings (export/outputs.py).
    """
    model = simplify_graph(skl2onnx_graph(estimator, len(interface.features)))
    classes = np.asarray(estimator.classes_) if interface.task == CLASSIFICATION else None
    model = conform_outputs(model, interface, classes)
    onnx.checker.check_model(model, full_check=True)
    check_model_interface(model, interface)
    return model


def skl2onnx_graph(estimator: BaseEstimator, n_features: int) -> onnx.ModelProto:
    """The graph as skl2onnx writes it (probabilities as a tensor, not ZipMap), not yet simplified.

    Raises ExportError naming the estimator's class if skl2onnx cannot convert it.
    """
    final_step = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    try:
        return to_onnx(
            estimator,
            initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={id(final_step): {"zipmap": False}} if is_classifier(final_step) else None,
            target_opset=TARGET_OPSET,
        )
    except Exception as error:  # skl2onnx raises many types for what it has no converter for
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"skl2onnx cannot convert {class_path(estimator)}: {reason}") from None


def check_model_interface(model: onnx.ModelProto, interface: ModelInterface = IRIS_INTERFACE) -> None:
    """Raise ExportError unless the graph has exactly the interface's input and outputs."""
    inputs, outputs = describe_tensors(model.graph.input), describe_tensors(model.graph.output)
    expected_inputs, expected_outputs = interface.onnx_inputs, interface.onnx_outputs
    if inputs != expected_inputs or outputs != expected_outputs:
        raise ExportError(
            f"ONNX interface {inputs} -> {outputs}; the contract is {expected_inputs} -> {expected_outputs}"
        )
