"""Export settings: flags, IRIS_* twins, and messages naming the setting and the bad value."""

import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import SettingsError
from export.config import parse_settings


def test_defaults():
    settings = parse_settings([], {})
    assert settings.repository == Path("artifacts")
    assert (settings.name, settings.version, settings.estimator) == ("iris", None, "logreg")
    assert (settings.force, settings.seed, settings.verify) == (False, 42, None)
    assert (settings.estimator_file, settings.sample_csv) == (None, None)


def test_environment_twins_are_read():
    environ = {
        "IRIS_REPOSITORY": "/tmp/r",
        "IRIS_MODEL_NAME": "flowers",
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


def test_force_alone_turns_it_on():
    """`--force`, as scripts and the "already exists" message write it, needs no value."""
    assert parse_settings(["--force"], {"IRIS_FORCE": "off"}).force is True
    assert parse_settings(["--force=off"], {"IRIS_FORCE": "on"}).force is False


def test_deprecated_name_flag_and_variable_still_name_the_model():
    """--name and IRIS_NAME, from before --model-name, still work; the new names win."""
    assert parse_settings(["--name", "flowers"], {}).name == "flowers"
    assert parse_settings([], {"IRIS_NAME": "flowers"}).name == "flowers"
    assert parse_settings(["--name", "a", "--model-name", "b"], {}).name == "b"
    assert parse_settings([], {"IRIS_NAME": "a", "IRIS_MODEL_NAME": "b"}).name == "b"
    assert parse_settings(["--name", "a"], {"IRIS_MODEL_NAME": "b"}).name == "a"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--estimator", "svm"], {}, "--estimator='svm' is not valid: expected one of logreg, forest"),
        (["--version", "0"], {}, "--version='0' is not valid: expected a positive integer"),
        ([], {"IRIS_VERSION": ""}, "IRIS_VERSION='' is not valid: expected a positive integer"),
        ([], {"IRIS_SEED": "-1"}, "IRIS_SEED='-1' is not valid: expected an integer, 0 or more"),
        ([], {"IRIS_FORCE": "maybe"}, "IRIS_FORCE='maybe' is not valid: expected on or off"),
        ([], {"IRIS_FORCE": ""}, "IRIS_FORCE='' is not valid: expected on or off"),
        (["--model-name", "../etc"], {}, "--model-name='../etc' is not valid: expected a model name"),
        (["--name", "../etc"], {}, "--name='../etc' is not valid: expected a model name"),
        ([], {"IRIS_NAME": "../etc"}, "IRIS_NAME='../etc' is not valid: expected a model name"),
        (["--repository", ""], {}, "--repository='' is not valid: expected a directory"),
    ],
)
def test_bad_values_raise_a_message_naming_them(argv, environ, message):
    with pytest.raises(SettingsError) as raised:
        parse_settings(argv, environ)
    assert str(raised.value).startswith(message)


def test_unknown_flag_exits_with_usage():
    """An unknown flag is argparse's usage error, exit status 2."""
    with pytest.raises(SystemExit) as raised:
        parse_settings(["--unknown"], {})
    assert raised.value.code == 2


def test_program_refuses_bad_setting_with_status_2():
    """`python -m export` with a bad value exits 2 with one line naming it, as the server and proxy do."""
    result = subprocess.run(
        [sys.executable, "-m", "export", "--seed", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected = "--seed='x' is not valid: expected an integer, 0 or more"
    assert (result.returncode, result.stderr) == (2, f"python -m export: error: {expected}\n")


def test_estimator_file_and_sample_csv_are_read_from_flags_or_twins(tmp_path):
    estimator, sample = tmp_path / "model.joblib", tmp_path / "sample.csv"
    estimator.write_bytes(b"")
    sample.write_text("")
    from_flags = parse_settings(["--estimator-file", str(estimator), "--sample-csv", str(sample)], {})
    from_env = parse_settings([], {"IRIS_ESTIMATOR_FILE": str(estimator), "IRIS_SAMPLE_CSV": str(sample)})
    assert (from_flags.estimator_file, from_flags.sample_csv) == (estimator, sample)
    assert (from_env.estimator_file, from_env.sample_csv) == (estimator, sample)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--estimator-file", "{file}"], "--estimator-file without --sample-csv is not valid"),
        (["--sample-csv", "{file}"], "--sample-csv without --estimator-file is not valid"),
        (
            ["--estimator-file", "{file}", "--sample-csv", "{file}", "--verify", "artifacts/iris/1"],
            "--verify with --estimator-file is not valid",
        ),
        (
            ["--estimator-file", "{missing}"],
            "--estimator-file='{missing}' is not valid: expected a readable file",
        ),
    ],
)
def test_settings_that_do_not_go_together_are_named(tmp_path, flags, message):
    paths = {"file": tmp_path / "given", "missing": tmp_path / "missing"}
    paths["file"].write_text("")
    with pytest.raises(SettingsError) as raised:
        parse_settings([flag.format(**paths) for flag in flags], {})
    assert str(raised.value).startswith(message.format(**paths))
