"""The inputs of the parity gate, float32 as on the wire, in up to three named sets:

- the known rows: ``iris``, the 150 training rows of an iris model; ``sample``, the sample CSV's
  rows of a model fitted elsewhere;
- ``generated``: GENERATED_INPUTS seeded uniform rows over a box one feature-range wider than the
  known rows on every side (so it covers and exceeds their range, including negative values);
- ``thresholds`` (tree models only): for every split some known row reaches, rows that reach it
  with the split's feature set exactly on the float32 nearest the threshold and one float32 ulp
  either side, where float64 and float32 comparisons part ways.
"""

import numpy as np
from sklearn.base import BaseEstimator

GENERATED_INPUTS = 12_000
ROWS_PER_SPLIT = 2


def generated_inputs(known_rows: np.ndarray, seed: int, count: int = GENERATED_INPUTS) -> np.ndarray:
    """Seeded uniform rows over the known rows' range widened by one range on each side."""
    low, high = known_rows.min(axis=0), known_rows.max(axis=0)
    span = high - low
    rng = np.random.default_rng(seed)
    return rng.uniform(low - span, high + span, size=(count, known_rows.shape[1])).astype(np.float32)


def tree_splits(estimator: BaseEstimator) -> list[tuple]:
    """(tree, node id, feature, float64 threshold) for every split of a tree or forest model."""
    trees = getattr(estimator, "estimators_", [estimator] if hasattr(estimator, "tree_") else [])
    splits = []
    for tree in trees:
        if not hasattr(tree, "tree_"):
            continue
        structure = tree.tree_
        for node_id in np.flatnonzero(structure.children_left >= 0):
            splits.append(
                (tree, int(node_id), int(structure.feature[node_id]), float(structure.threshold[node_id]))
            )
    return splits


def threshold_inputs(estimator: BaseEstimator, known_rows: np.ndarray) -> np.ndarray:
    """Rows on and one float32 ulp either side of every split threshold (empty for non-tree models).

    The other features come from known rows that reach the split, so the split is actually
    evaluated on the way down the tree; a split no known row reaches is left out.
    """
    rows = []
    base_rows = known_rows.astype(np.float32)
    paths = {}
    for tree, node_id, feature, threshold in tree_splits(estimator):
        if id(tree) not in paths:
            paths[id(tree)] = tree.decision_path(base_rows).tocsc()
        reaching = paths[id(tree)][:, node_id].nonzero()[0]
        if not len(reaching):
            continue
        on = np.float32(threshold)
        values = (np.nextafter(on, np.float32(-np.inf)), on, np.nextafter(on, np.float32(np.inf)))
        for row_index in reaching[np.linspace(0, len(reaching) - 1, ROWS_PER_SPLIT).astype(int)]:
            for value in values:
                row = base_rows[row_index].copy()
                row[feature] = value
                rows.append(row)
    return np.array(rows, dtype=np.float32).reshape(-1, known_rows.shape[1])


def parity_input_sets(
    estimator: BaseEstimator, known_rows: np.ndarray, seed: int, known_name: str = "iris"
) -> dict[str, np.ndarray]:
    """The named float32 input sets the gate runs, the known rows first; ``thresholds`` for trees only."""
    sets = {
        known_name: known_rows.astype(np.float32),
        "generated": generated_inputs(known_rows, seed),
    }
    on_thresholds = threshold_inputs(estimator, known_rows)
    if len(on_thresholds):
        sets["thresholds"] = on_thresholds
    return sets
