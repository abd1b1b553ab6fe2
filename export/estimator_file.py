"""An estimator fitted elsewhere: load its file, and tell what it is and what it answers.

Loading a joblib or pickle file runs code the file names: only the export loads one, offline,
and only from a file its user trusts. Nothing at runtime opens it (docs/model-export.md).
"""

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from export.contract import CLASSIFICATION, REGRESSION, ModelInterface
from export.errors import ExportError

SINGLE_TARGET = "prediction"  # the name of a single-target regressor's one prediction column


def class_path(value: object) -> str:
    """The class as its package exports it: sklearn.pipeline.Pipeline, not sklearn.pipeline._base...."""
    public = [part for part in type(value).__module__.split(".") if not part.startswith("_")]
    return ".".join([*public, type(value).__qualname__])


@contextlib.contextmanager
def columns_by_position() -> Iterator[None]:
    """Quiet scikit-learn's warning that an estimator fitted with feature names was given an array:
    the sample's header was checked against those names, so the columns are in their order."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        yield


def load_estimator(data: bytes, path: Path, log: Callable[[str], None]) -> BaseEstimator:
    """joblib.load the bytes of the file at ``path`` (joblib or plain pickle); check they hold a
    fitted estimator. Warnings while loading (another scikit-learn version pickled it) are logged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            estimator = joblib.load(io.BytesIO(data))
        except Exception as error:  # unpickling fails in many ways: a missing module, a damaged file
            raise ExportError(f"{path}: cannot load it: {type(error).__name__}: {error}") from None
    for warning in caught:
        log(f"        warning: {' '.join(str(warning.message).split())}")
    if not isinstance(estimator, BaseEstimator):
        raise ExportError(f"{path}: holds a {class_path(estimator)}, not a scikit-learn estimator")
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ExportError(f"{path}: the {class_path(estimator)} in it is not fitted") from None
    return estimator


def task_of(estimator: BaseEstimator) -> str:
    """classification or regression; ExportError for anything else (a transformer, a clusterer)."""
    if is_classifier(estimator):
        if not hasattr(estimator, "predict_proba"):
            raise ExportError(
                f"{class_path(estimator)} has no predict_proba: the contract's classifiers answer "
                "probabilities (wrap it in sklearn.calibration.CalibratedClassifierCV)"
            )
        classes = getattr(estimator, "classes_", None)
        if classes is None or isinstance(classes, list) or np.asarray(classes).ndim != 1:
            raise ExportError(f"{class_path(estimator)} has no classes_ of one output; one is supported")
        return CLASSIFICATION
    if is_regressor(estimator):
        return REGRESSION
    raise ExportError(f"{class_path(estimator)} is neither a classifier nor a regressor")


def interface_of(estimator: BaseEstimator, features: tuple[str, ...], rows: np.ndarray) -> ModelInterface:
    """The interface the estimator will have in ONNX, given the sample's feature names and rows.

    Class names are str(classes_[k]); a regressor's targets are ``prediction``, or
    ``prediction_0``... for several (their number is the width of predict's answer).
    """
    task = task_of(estimator)
    if task == CLASSIFICATION:
        return ModelInterface(task, features, classes=tuple(str(name) for name in estimator.classes_))
    try:
        with columns_by_position():
            width = np.asarray(estimator.predict(rows[:1].astype(np.float64))).reshape(1, -1).shape[1]
    except Exception as error:  # whatever the estimator raises for inputs it refuses
        raise ExportError(
            f"{class_path(estimator)} cannot predict the first sample row: {type(error).__name__}: {error}"
        ) from None
    targets = (SINGLE_TARGET,) if width == 1 else tuple(f"{SINGLE_TARGET}_{k}" for k in range(width))
    return ModelInterface(task, features, targets=targets)
