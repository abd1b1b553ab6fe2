"""scikit-learn estimator -> ONNX model with the artifact contract's inputs and outputs."""

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import ClassifierMixin
from sklearn.pipeline import Pipeline

from export.contract import INPUT_NAME, ONNX_INPUTS, ONNX_OUTPUTS, describe_tensors
from export.errors import ExportError
from export.simplify import simplify_graph

# Pinned rather than "latest" so a library upgrade cannot silently raise the opset the
# server's onnxruntime must support. ai.onnx.ml 3 is the last with TreeEnsembleClassifier.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def convert_to_onnx(estimator: ClassifierMixin, n_features: int) -> onnx.ModelProto:
    """Convert a fitted classifier: input float32 [N, n_features]; outputs label, probabilities.

    Tree thresholds: scikit-learn compares float32 inputs with float64 thresholds, ONNX
    with float32 ones. skl2onnx (1.20) stores for each split the largest float32 not above
    the threshold, which branches identically; rounding to the nearest float32 would not.
    The parity gate's ``thresholds`` input set checks exactly this on every export.

    The converted graph is then simplified (export/simplify.py): fewer nodes, the same answers.
    """
    model = simplify_graph(skl2onnx_graph(estimator, n_features))
    onnx.checker.check_model(model, full_check=True)
    check_model_interface(model)
    return model


def skl2onnx_graph(estimator: ClassifierMixin, n_features: int) -> onnx.ModelProto:
    """The graph as skl2onnx writes it (probabilities as a tensor, not ZipMap), not yet simplified."""
    final_step = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    return to_onnx(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(final_step): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )


def check_model_interface(model: onnx.ModelProto) -> None:
    """Raise ExportError unless the graph has exactly the contract's input and outputs."""
    inputs, outputs = describe_tensors(model.graph.input), describe_tensors(model.graph.output)
    if inputs != ONNX_INPUTS or outputs != ONNX_OUTPUTS:
        raise ExportError(
            f"ONNX interface {inputs} -> {outputs}; the contract is {ONNX_INPUTS} -> {ONNX_OUTPUTS}"
        )
