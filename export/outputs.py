"""The contract's output names and meanings on a graph as skl2onnx writes it.

- A classifier's ``label`` must hold the class index 0..C-1. skl2onnx's label holds the class
  itself (estimator.classes_[k]: a string, or an integer such as 1..3 or -1/1), so unless the
  classes already are 0..C-1, a LabelEncoder maps each class to its index. The label keeps its
  meaning (what predict answers, not always the largest probability: an SVC's label comes from its
  decision function), and the parity gate compares it with predict mapped the same way.
- A regressor's one output (skl2onnx calls it ``variable``) is renamed ``predictions``.
- Output shapes are declared as the contract's where skl2onnx declared others.
"""

import numpy as np
import onnx
from onnx import helper

from export.contract import LABEL_OUTPUT, PREDICTIONS_OUTPUT, REGRESSION, ModelInterface, describe_tensors
from export.errors import ExportError
from export.simplify import ML_DOMAIN

CLASS_LABEL = "class_label"  # skl2onnx's label, once it feeds the LabelEncoder
LABEL_ENCODER_OPSET = 2  # ai.onnx.ml 2 brought LabelEncoder's keys_int64s and values_int64s


def classes_are_indices(classes: np.ndarray) -> bool:
    """Whether the classes are the integers 0..C-1, in order (bool and whole floats count)."""
    return classes.dtype.kind in "biuf" and np.array_equal(classes, np.arange(len(classes)))


def conform_outputs(
    model: onnx.ModelProto, interface: ModelInterface, classes: np.ndarray | None
) -> onnx.ModelProto:
    """The model with the contract's outputs (a changed copy); ``classes`` is classes_ of a classifier."""
    conformed = onnx.ModelProto()
    conformed.CopyFrom(model)
    if interface.task == REGRESSION:
        if len(conformed.graph.output) == 1:
            output = conformed.graph.output[0]
            _rename_tensor(conformed.graph, output.name, PREDICTIONS_OUTPUT)
            output.name = PREDICTIONS_OUTPUT
    elif not classes_are_indices(classes):
        _encode_label_as_index(conformed, classes)
    _declare_shapes(conformed.graph, interface)
    return conformed


def _declare_shapes(graph: onnx.GraphProto, interface: ModelInterface) -> None:
    """Declare the contract's output shapes where skl2onnx declared others (a two-target forest's
    [N, 1]); onnxruntime's answers keep their own, which the parity gate checks."""
    declared = {output["name"]: output["shape"] for output in describe_tensors(graph.output)}
    for output in interface.onnx_outputs:
        if output["name"] not in declared or declared[output["name"]] == output["shape"]:
            continue
        (value,) = [value for value in graph.output if value.name == output["name"]]
        value.type.tensor_type.shape.Clear()
        for size in output["shape"]:
            dimension = value.type.tensor_type.shape.dim.add()
            if size is not None:
                dimension.dim_value = size


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename a tensor wherever a node writes or reads it (the graph's outputs are left to the caller)."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


def _encode_label_as_index(model: onnx.ModelProto, classes: np.ndarray) -> None:
    graph = model.graph
    (label,) = [value for value in graph.output if value.name == LABEL_OUTPUT]
    label_type = label.type.tensor_type.elem_type
    indices = list(range(len(classes)))
    if label_type == onnx.TensorProto.STRING:
        keys = {"keys_strings": [str(name) for name in classes]}
    elif label_type == onnx.TensorProto.INT64:
        keys = {"keys_int64s": [int(name) for name in classes]}
    else:
        type_name = onnx.TensorProto.DataType.Name(label_type)
        raise ExportError(f"cannot map a {type_name} label to the class index (classes {classes.tolist()})")
    _rename_tensor(graph, LABEL_OUTPUT, CLASS_LABEL)
    graph.node.append(
        helper.make_node(
            "LabelEncoder",
            [CLASS_LABEL],
            [LABEL_OUTPUT],
            domain=ML_DOMAIN,
            values_int64s=indices,
            default_int64=-1,
            **keys,
        )
    )
    label.type.tensor_type.elem_type = onnx.TensorProto.INT64
    ml_opsets = [opset for opset in model.opset_import if opset.domain == ML_DOMAIN]
    if not ml_opsets:
        ml_opsets = [model.opset_import.add(domain=ML_DOMAIN, version=LABEL_ENCODER_OPSET)]
    ml_opsets[0].version = max(ml_opsets[0].version, LABEL_ENCODER_OPSET)
