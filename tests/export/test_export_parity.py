"""The parity gate: the committed artifact passes it, a tampered or misrounded model fails it."""

import json
import pickle
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from export import parity, parity_inputs, train
from export.config import Settings
from export.errors import ParityError
from export.pipeline import export_model

ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "iris" / "1"
SEED = 42
SMALL_FOREST = {"n_estimators": 10}


@pytest.fixture(scope="module")
def training_features():
    return train.load_training_data()[0]


@pytest.fixture(scope="module")
def committed_reference():
    with (ARTIFACT / "iris_model.pickle").open("rb") as reference_file:
        return pickle.load(reference_file)


@pytest.fixture(scope="module")
def forest_version(tmp_path_factory):
    """A small forest exported through the real pipeline (the committed model is not a tree)."""
    settings = Settings(tmp_path_factory.mktemp("repo"), "iris", None, "forest", False, SEED, None)
    return export_model(settings, log=lambda line: None, estimator_params=SMALL_FOREST)


def _set_attribute(model: onnx.ModelProto, op_type: str, name: str, values: list[float]) -> None:
    (node,) = [node for node in model.graph.node if node.op_type == op_type]
    (attribute,) = [attribute for attribute in node.attribute if attribute.name == name]
    attribute.CopyFrom(helper.make_attribute(name, values))


def test_committed_artifact_passes_gate_on_iris_and_generated_inputs(committed_reference, training_features):
    """pickle vs onnxruntime: all labels agree, probabilities within the tolerance."""
    sets = parity_inputs.parity_input_sets(committed_reference, training_features, SEED)
    summary = parity.check_parity(
        committed_reference, parity.load_onnx_session(ARTIFACT / "model.onnx"), sets
    )
    assert summary["passed"]
    assert set(summary["sets"]) == {"iris", "generated"}  # a logistic regression has no thresholds
    assert summary["sets"]["iris"]["inputs"] == 150
    assert summary["sets"]["generated"]["inputs"] >= 10_000
    assert summary["label_disagreements"] == 0
    assert summary["max_abs_probability_difference"] < parity.PROBABILITY_TOLERANCE


def test_generated_inputs_cover_and_exceed_training_range(training_features):
    """Every feature's generated values reach past both ends of the training range, reproducibly."""
    generated = parity_inputs.generated_inputs(training_features, SEED)
    assert generated.dtype == np.float32
    assert len(generated) >= 10_000
    assert (generated.min(axis=0) < training_features.min(axis=0)).all()
    assert (generated.max(axis=0) > training_features.max(axis=0)).all()
    assert np.array_equal(generated, parity_inputs.generated_inputs(training_features, SEED))


def test_threshold_inputs_sit_on_and_one_ulp_around_every_split(training_features):
    forest = train.build_estimator("forest", SEED, **SMALL_FOREST).fit(*train.load_training_data())
    rows = parity_inputs.threshold_inputs(forest, training_features)
    splits = parity_inputs.tree_splits(forest)
    assert len(rows) == len(splits) * parity_inputs.ROWS_PER_SPLIT * 3
    for _, _, feature, threshold in splits:
        on = np.float32(threshold)
        for value in (np.nextafter(on, np.float32(-np.inf)), on, np.nextafter(on, np.float32(np.inf))):
            assert (rows[:, feature] == value).any(), (feature, threshold)


def test_threshold_inputs_are_empty_for_models_without_trees(committed_reference, training_features):
    assert parity_inputs.threshold_inputs(committed_reference, training_features).shape == (0, 4)


def test_forest_export_passes_gate_including_threshold_set(forest_version):
    summary = json.loads((forest_version / "model.json").read_text())["parity"]
    assert summary["passed"]
    assert summary["sets"]["thresholds"]["inputs"] > 0
    assert summary["label_disagreements"] == 0
    assert summary["max_abs_probability_difference"] < parity.PROBABILITY_TOLERANCE


def test_gate_rejects_forest_with_thresholds_rounded_to_nearest(forest_version, training_features):
    """Nearest-float32 thresholds send on-threshold inputs the other way than scikit-learn."""
    with (forest_version / "iris_model.pickle").open("rb") as reference_file:
        forest = pickle.load(reference_file)
    model = onnx.load_model(forest_version / "model.onnx")
    (node,) = [node for node in model.graph.node if node.op_type == "TreeEnsembleClassifier"]
    attributes = {attribute.name: attribute for attribute in node.attribute}
    nearest = [
        float(np.float32(forest.estimators_[tree].tree_.threshold[node_id])) if mode == b"BRANCH_LEQ" else 0.0
        for tree, node_id, mode in zip(
            attributes["nodes_treeids"].ints,
            attributes["nodes_nodeids"].ints,
            attributes["nodes_modes"].strings,
            strict=True,
        )
    ]
    _set_attribute(model, "TreeEnsembleClassifier", "nodes_values", nearest)
    session = parity.load_onnx_session(model.SerializeToString())
    sets = parity_inputs.parity_input_sets(forest, training_features, SEED)
    with pytest.raises(
        ParityError, match=r"^parity gate failed: \d+ of \d+ inputs disagree; worst: thresholds row"
    ):
        parity.check_parity(forest, session, sets)


def test_gate_rejects_perturbed_coefficient(committed_reference, training_features):
    """A 1% change to one coefficient of the committed model fails, naming count and worst row."""
    model = onnx.load_model(ARTIFACT / "model.onnx")
    (node,) = [node for node in model.graph.node if node.op_type == "LinearClassifier"]
    coefficients = list(next(a for a in node.attribute if a.name == "coefficients").floats)
    coefficients[0] *= 1.01
    _set_attribute(model, "LinearClassifier", "coefficients", coefficients)
    session = parity.load_onnx_session(model.SerializeToString())
    sets = parity_inputs.parity_input_sets(committed_reference, training_features, SEED)
    with pytest.raises(ParityError) as raised:
        parity.check_parity(committed_reference, session, sets)
    message = str(raised.value)
    assert "\n" not in message
    counted = re.match(r"^parity gate failed: (\d+) of \d+ inputs disagree; worst: \w+ row \d+ \[", message)
    assert counted
    assert int(counted.group(1)) > 0
    assert "max |probability difference|" in message
