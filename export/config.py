"""Settings of the export: command-line flags, each with an ``IRIS_<FLAG>`` environment twin.

A flag wins over its environment variable, which wins over the default (see common/settings.py).
Every value is validated here, and a bad one raises SettingsError naming the setting and the value.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.settings import (
    SWITCH_VALUES,
    Setting,
    SettingsError,
    SettingsReader,
    integer_range,
    one_of,
    positive_integer,
    readable_file,
    switch,
)

ESTIMATOR_KINDS = ("logreg", "forest")
DEFAULT_ESTIMATOR = "logreg"
DEFAULT_REPOSITORY = "artifacts"
DEFAULT_NAME = "iris"
DEFAULT_SEED = 42
# A model name becomes a directory name: keep it a single, portable path component.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Settings:
    repository: Path = Path(DEFAULT_REPOSITORY)
    name: str = DEFAULT_NAME
    version: int | None = None  # None: the next free integer in the repository
    estimator: str = DEFAULT_ESTIMATOR
    force: bool = False
    seed: int = DEFAULT_SEED
    verify: Path | None = None  # a version directory to re-check instead of exporting
    estimator_file: Path | None = None  # a model fitted elsewhere, exported instead of training one
    sample_csv: Path | None = None  # that model's representative inputs, with a header


def _model_name(text: str) -> str:
    if not NAME_PATTERN.fullmatch(text):
        raise ValueError(text)
    return text


SETTINGS = (
    Setting("repository", Path, "a directory", "model repository directory"),
    Setting(
        "name",
        _model_name,
        "a model name of letters, digits, '_', '.' and '-' (a letter or digit first), at most 64 characters",
        "model name, a directory in the repository",
        flag="--model-name",
        aliases=("--name",),
    ),
    Setting(
        "version",
        positive_integer,
        "a positive integer",
        "version number to write; unset: one above the highest published",
    ),
    Setting(
        "estimator",
        one_of(*ESTIMATOR_KINDS),
        f"one of {', '.join(ESTIMATOR_KINDS)}",
        "estimator to train: logreg (StandardScaler and LogisticRegression) or forest (100 trees)",
    ),
    Setting("force", switch, SWITCH_VALUES, "replace the version if it exists"),
    Setting(
        "seed",
        integer_range(0),
        "an integer, 0 or more",
        "seed for training, cross-validation and parity inputs",
    ),
    Setting(
        "verify",
        Path,
        "a version directory",
        "re-check a published version directory instead of exporting",
        env=False,
    ),
    Setting(
        "estimator_file",
        readable_file,
        "a readable file",
        "joblib or pickle file of a fitted scikit-learn classifier or regressor (or Pipeline) to "
        "export instead of training; loading it runs code: only a file you trust",
    ),
    Setting(
        "sample_csv",
        readable_file,
        "a readable file",
        "CSV of representative inputs of --estimator-file: a header naming the features, then rows",
    ),
)


def _check_together(settings: Settings) -> None:
    if (settings.estimator_file is None) != (settings.sample_csv is None):
        given, missing = (
            ("--estimator-file", "--sample-csv")
            if settings.sample_csv is None
            else ("--sample-csv", "--estimator-file")
        )
        raise SettingsError(
            f"{given} without {missing} is not valid: a model from a file is exported with its sample rows"
        )
    if settings.verify is not None and settings.estimator_file is not None:
        raise SettingsError(
            "--verify with --estimator-file is not valid: --verify re-checks a published version "
            "with the files beside it"
        )


READER = SettingsReader(
    Settings,
    SETTINGS,
    prog="python -m export",
    description=(
        "Train an iris classifier, or take a scikit-learn model fitted elsewhere (--estimator-file), "
        "convert it to ONNX, check parity, publish a version."
    ),
    check=_check_together,
)


def parse_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings from the command line and the environment.

    Raises SettingsError naming the flag or variable and its bad value.
    """
    return READER.read(argv, environ)
