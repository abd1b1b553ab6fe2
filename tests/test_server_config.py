"""The server's settings: defaults, flags over IRIS_* variables, and messages naming bad values."""

import pathlib

import pytest

from server.config import Settings, SettingsError, parse_settings


def test_defaults_serve_the_compose_file():
    """With no flags and no variables the server serves artifacts/iris, latest version, on port 50052."""
    settings = parse_settings([], {})
    assert settings == Settings()
    assert (settings.repository, settings.model_name, settings.model_version) == (
        pathlib.Path("artifacts"),
        "iris",
        None,
    )
    assert settings.port == 50052
    assert (settings.intra_op_threads, settings.inter_op_threads) == (1, 1)


def test_environment_twins_are_read():
    environ = {
        "IRIS_PORT": "6000",
        "IRIS_MAX_BATCH_ROWS": "500",
        "IRIS_LOG_FORMAT": "TEXT",
        "IRIS_MODEL_VERSION": "2",
    }
    settings = parse_settings([], environ)
    assert (settings.port, settings.max_batch_rows, settings.log_format, settings.model_version) == (
        6000,
        500,
        "text",
        2,
    )


def test_a_flag_beats_its_environment_twin():
    assert parse_settings(["--port", "7000"], {"IRIS_PORT": "6000"}).port == 7000


def test_latest_version_is_none():
    assert parse_settings(["--model-version", "latest"], {}).model_version is None


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--port", "70000"], {}, "--port='70000': must be at least 0 and at most 65535"),
        ([], {"IRIS_PORT": "abc"}, "IRIS_PORT='abc': must be a whole number"),
        (["--workers", "0"], {}, "--workers='0': must be at least 1"),
        (["--grace-seconds", "-1"], {}, "--grace-seconds='-1': must be a finite number of seconds"),
        ([], {"IRIS_GRACE_SECONDS": "soon"}, "IRIS_GRACE_SECONDS='soon': must be a number of seconds"),
        (["--log-format", "xml"], {}, "--log-format='xml': must be one of json, text"),
        (["--log-level", "loud"], {}, "--log-level='loud': must be one of"),
        (["--model-version", "0"], {}, "--model-version='0': must be at least 1"),
        (["--model-name", " "], {}, "--model-name=' ': must not be empty"),
        (["--workers", "2", "--port", "0"], {}, "--port=0 with --workers=2"),
        (["--max-batch-rows", "1000000"], {}, "--max-batch-rows=1000000 needs messages of about"),
    ],
)
def test_bad_values_name_the_setting_and_value(argv, environ, named):
    with pytest.raises(SettingsError) as error:
        parse_settings(argv, environ)
    assert named in str(error.value)


def test_address_brackets_an_ipv6_literal():
    assert Settings(host="::1", port=1).address == "[::1]:1"
    assert Settings(host="[::]", port=2).address == "[::]:2"
    assert Settings(host="127.0.0.1", port=3).address == "127.0.0.1:3"
