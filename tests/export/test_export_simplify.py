"""The graph simplification: fewer nodes, the same answers, and graphs it does not fit left alone."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from export import convert, parity_inputs, train
from export.simplify import ML_DOMAIN, simplify_graph

SEED = 42


@pytest.fixture(scope="module")
def fitted_logreg():
    features, labels = train.load_training_data()
    return train.fit(train.build_estimator("logreg", SEED), features, labels)


def _run(model: onnx.ModelProto, inputs: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})


def _op_types(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def test_the_logreg_pipeline_becomes_one_linear_classifier(fitted_logreg):
    model = convert.convert_to_onnx(fitted_logreg)
    assert _op_types(model) == ["LinearClassifier"]


def test_the_simplified_graph_answers_like_the_converted_one(fitted_logreg):
    converted = convert.skl2onnx_graph(fitted_logreg, n_features=4)
    assert _op_types(converted) == ["Scaler", "LinearClassifier", "Normalizer"]
    features = train.load_training_data()[0]
    inputs = np.concatenate([features.astype(np.float32), parity_inputs.generated_inputs(features, seed=7)])
    before, after = _run(converted, inputs), _run(simplify_graph(converted), inputs)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1], rtol=0, atol=1e-6)


def _scaled_classifier(post_transform: str, scaled_is_output: bool = False) -> onnx.ModelProto:
    """input -> Scaler -> LinearClassifier(post_transform) -> L1 Normalizer, 2 features, 3 classes."""
    nodes = [
        helper.make_node(
            "Scaler", ["input"], ["scaled"], domain=ML_DOMAIN, offset=[1.0, -2.0], scale=[0.5, 3.0]
        ),
        helper.make_node(
            "LinearClassifier",
            ["scaled"],
            ["label", "scores"],
            domain=ML_DOMAIN,
            coefficients=[1.0, -1.0, 0.5, 2.0, -0.3, 0.1],
            intercepts=[0.1, -0.2, 0.3],
            classlabels_ints=[0, 1, 2],
            multi_class=1,
            post_transform=post_transform,
        ),
        helper.make_node("Normalizer", ["scores"], ["probabilities"], domain=ML_DOMAIN, norm="L1"),
    ]
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
    ]
    if scaled_is_output:
        outputs.append(helper.make_tensor_value_info("scaled", TensorProto.FLOAT, [None, 2]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])], outputs
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ML_DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets)


INPUTS = np.random.default_rng(SEED).normal(0, 3, size=(200, 2)).astype(np.float32)


def test_a_normalizer_after_logistic_scores_is_kept():
    """LOGISTIC scores do not sum to 1: the Normalizer is what makes them probabilities."""
    model = _scaled_classifier("LOGISTIC")
    simplified = simplify_graph(model)
    assert _op_types(simplified) == ["LinearClassifier", "Normalizer"]
    before, after = _run(model, INPUTS), _run(simplified, INPUTS)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1], rtol=0, atol=1e-6)


def test_a_scaler_whose_output_is_also_read_elsewhere_is_kept():
    model = _scaled_classifier("SOFTMAX", scaled_is_output=True)
    simplified = simplify_graph(model)
    assert _op_types(simplified) == ["Scaler", "LinearClassifier"]
    before, after = _run(model, INPUTS), _run(simplified, INPUTS)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-6)


def test_the_input_model_is_not_changed():
    model = _scaled_classifier("SOFTMAX")
    simplify_graph(model)
    assert _op_types(model) == ["Scaler", "LinearClassifier", "Normalizer"]
