"""Export settings: flags, IRIS_* twins, and messages naming the setting and the bad value."""

from pathlib import Path

import pytest

from export.config import parse_settings
from export.errors import ConfigError


def test_defaults():
    settings = parse_settings([], {})
    assert settings.repository == Path("artifacts")
    assert (settings.name, settings.version, settings.estimator) == ("iris", None, "logreg")
    assert (settings.force, settings.seed, settings.verify) == (False, 42, None)


def test_environment_twins_are_read():
    environ = {
        "IRIS_REPOSITORY": "/tmp/r",
        "IRIS_NAME": "flowers",
        "IRIS_VERSION": "3",
        "IRIS_ESTIMATOR": "forest",
        "IRIS_FORCE": "yes",
        "IRIS_SEED": "7",
    }
    settings = parse_settings([], environ)
    assert settings.repository == Path("/tmp/r")
    assert (settings.name, settings.version, settings.estimator) == ("flowers", 3, "forest")
    assert (settings.force, settings.seed) == (True, 7)


def test_flag_wins_over_environment():
    settings = parse_settings(
        ["--estimator", "logreg", "--version", "2"], {"IRIS_ESTIMATOR": "forest", "IRIS_VERSION": "5"}
    )
    assert (settings.estimator, settings.version) == ("logreg", 2)


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--estimator", "svm"], {}, "'svm'"),
        (["--version", "0"], {}, "--version/IRIS_VERSION"),
        ([], {"IRIS_SEED": "-1"}, "--seed/IRIS_SEED"),
        ([], {"IRIS_FORCE": "maybe"}, "'maybe'"),
        (["--name", "../etc"], {}, "'../etc'"),
        (["--repository", ""], {}, "--repository"),
        (["--unknown"], {}, "--unknown"),
    ],
)
def test_bad_values_raise_a_message_naming_them(argv, environ, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_settings(argv, environ)
