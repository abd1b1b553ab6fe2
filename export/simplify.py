"""Fewer ONNX nodes for the same answers: skl2onnx writes a pipeline step by step, and each node
is a kernel call in every session run.

For the logreg pipeline skl2onnx writes Scaler -> LinearClassifier -> Normalizer. As the one
LinearClassifier those are the same model, and onnxruntime runs it faster (docs/performance.md,
"The levers", has the script that measures it). Two rewrites, each exact but for float
rounding; the parity gate then checks the result against scikit-learn:
- a Scaler read only by a LinearClassifier is folded into the classifier's weights:
  W · ((x - offset) * scale) + b = (W * scale) · x + (b - (W * scale) · offset);
- an L1 Normalizer read only after a LinearClassifier whose post_transform is SOFTMAX is
  dropped: softmax rows already sum to 1.
Any other graph (a forest, a binary or one-vs-rest classifier's LOGISTIC scores) is left as it is.
"""

import numpy as np
import onnx
from onnx import helper

ML_DOMAIN = "ai.onnx.ml"


def simplify_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with the rewrites above applied wherever they fit (a changed copy)."""
    simplified = onnx.ModelProto()
    simplified.CopyFrom(model)
    graph = simplified.graph
    for node in list(graph.node):
        if _is(node, "Scaler"):
            _fold_scaler(graph, node)
    for node in list(graph.node):
        if _is(node, "Normalizer"):
            _drop_normalizer_after_softmax(graph, node)
    return simplified


def _is(node: onnx.NodeProto, op_type: str) -> bool:
    return node.op_type == op_type and node.domain == ML_DOMAIN


def _only_reader(graph: onnx.GraphProto, tensor: str) -> onnx.NodeProto | None:
    """The one node reading `tensor`, or None if several (or none) do or it is a graph output."""
    if any(output.name == tensor for output in graph.output):
        return None
    readers = [node for node in graph.node if tensor in node.input]
    return readers[0] if len(readers) == 1 else None


def _attribute(node: onnx.NodeProto, name: str, default=None):
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _set_floats(node: onnx.NodeProto, name: str, values: np.ndarray) -> None:
    (attribute,) = [attribute for attribute in node.attribute if attribute.name == name]
    attribute.CopyFrom(helper.make_attribute(name, [float(value) for value in values.ravel()]))


def _fold_scaler(graph: onnx.GraphProto, scaler: onnx.NodeProto) -> None:
    classifier = _only_reader(graph, scaler.output[0])
    if classifier is None or not _is(classifier, "LinearClassifier"):
        return
    intercepts = _attribute(classifier, "intercepts")
    if not intercepts:
        return  # all-zero intercepts would have to be written; skl2onnx always writes them
    weights = np.asarray(_attribute(classifier, "coefficients"), dtype=np.float64)
    weights = weights.reshape(len(intercepts), -1)
    features = weights.shape[1]
    offset = np.asarray(_attribute(scaler, "offset", [0.0]), dtype=np.float64)
    scale = np.asarray(_attribute(scaler, "scale", [1.0]), dtype=np.float64)
    if {len(offset), len(scale)} - {1, features}:
        return  # not one value per feature (or one for all): not a Scaler this graph can run
    folded_weights = weights * np.broadcast_to(scale, features)
    folded_intercepts = np.asarray(intercepts, dtype=np.float64) - folded_weights @ np.broadcast_to(
        offset, features
    )
    _set_floats(classifier, "coefficients", folded_weights)
    _set_floats(classifier, "intercepts", folded_intercepts)
    classifier.input[0] = scaler.input[0]
    graph.node.remove(scaler)


def _drop_normalizer_after_softmax(graph: onnx.GraphProto, normalizer: onnx.NodeProto) -> None:
    if _attribute(normalizer, "norm") != b"L1":
        return
    producers = [node for node in graph.node if normalizer.input[0] in node.output]
    if len(producers) != 1 or not _is(producers[0], "LinearClassifier"):
        return
    classifier = producers[0]
    if _attribute(classifier, "post_transform") != b"SOFTMAX":
        return
    if classifier.output[1] != normalizer.input[0] or _only_reader(graph, normalizer.input[0]) is None:
        return
    classifier.output[1] = normalizer.output[0]
    graph.node.remove(normalizer)
