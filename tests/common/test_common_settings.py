"""The one way every program reads its settings: flag over IRIS_* variable over default, one message
shape for a bad value, one vocabulary of switches and of log levels."""

import dataclasses
import pathlib
import re

import pytest

from common import settings as common_settings
from common.settings import (
    LOG_LEVELS,
    OFF_WORDS,
    ON_WORDS,
    SWITCH_VALUES,
    Setting,
    SettingsError,
    SettingsReader,
    integer_range,
    log_level,
    port,
    readable_file,
    seconds,
    seconds_or_zero,
    switch,
    workers,
)
from export import config as export_config
from proxy import config as proxy_config
from server import config as server_config


@dataclasses.dataclass(frozen=True)
class Example:
    port: int = 8000
    verbose: bool = False
    level: str = "info"
    name: str = "iris"


READER = SettingsReader(
    Example,
    [
        Setting("port", port, "an integer from 1 to 65535", "port to listen on"),
        Setting("verbose", switch, SWITCH_VALUES, "say more"),
        Setting("level", log_level, "a log level", "least severe level logged"),
        Setting("name", str, "a name", "what to call it", flag="--model-name", aliases=("--name",)),
    ],
    prog="python -m example",
    description="An example program.",
)
PROGRAMS = {"server": server_config.READER, "proxy": proxy_config.READER, "export": export_config.READER}


def every_case(word: str) -> list[str]:
    return [word.lower(), word.upper(), word.title()]


@pytest.mark.parametrize(
    ("argv", "environ", "port_read"),
    [
        ([], {}, 8000),
        ([], {"IRIS_PORT": "7000"}, 7000),
        (["--port", "6000"], {"IRIS_PORT": "7000"}, 6000),
        (["--port=6000"], {}, 6000),
    ],
)
def test_a_flag_wins_over_its_variable_which_wins_over_the_default(argv, environ, port_read):
    assert READER.read(argv, environ).port == port_read


@pytest.mark.parametrize(
    ("argv", "environ", "name_read"),
    [
        (["--name", "old"], {"IRIS_MODEL_NAME": "env"}, "old"),
        (["--name", "old", "--model-name", "new"], {}, "new"),
        (["--model-name", "new", "--name", "old"], {}, "new"),
        ([], {"IRIS_NAME": "old", "IRIS_MODEL_NAME": "new"}, "new"),
        ([], {"IRIS_NAME": "old"}, "old"),
    ],
)
def test_a_deprecated_alias_is_read_after_the_name_it_gave_way_to(argv, environ, name_read):
    """Flag, then the alias flag, then the flag's variable, then the alias's variable."""
    assert READER.read(argv, environ).name == name_read


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--port", "x"], {}, "--port='x' is not valid: expected an integer from 1 to 65535"),
        (["--port=0"], {}, "--port='0' is not valid: expected an integer from 1 to 65535"),
        ([], {"IRIS_PORT": "x"}, "IRIS_PORT='x' is not valid: expected an integer from 1 to 65535"),
        (
            [],
            {"IRIS_PORT": " 70000 "},
            "IRIS_PORT=' 70000 ' is not valid: expected an integer from 1 to 65535",
        ),
        (["--name", ""], {}, "--name='' is not valid: expected a name"),
        ([], {"IRIS_NAME": " "}, "IRIS_NAME=' ' is not valid: expected a name"),
    ],
)
def test_a_bad_value_is_named_with_its_flag_or_variable_as_given(argv, environ, message):
    with pytest.raises(SettingsError) as raised:
        READER.read(argv, environ)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        ([], {"IRIS_PORT": ""}),
        ([], {"IRIS_PORT": "  "}),
        ([], {"IRIS_VERBOSE": ""}),
        (["--port", "x"], {"IRIS_PORT": "7000"}),
        ([], {"IRIS_MODEL_NAME": "", "IRIS_NAME": "old"}),
        ([], {"IRIS_LEVEL": "warn"}),
    ],
)
def test_a_bad_value_never_falls_back_to_another_source_or_the_default(argv, environ):
    with pytest.raises(SettingsError):
        READER.read(argv, environ)


@pytest.mark.parametrize("word", [case for word in ON_WORDS for case in every_case(word)])
def test_every_on_word_in_any_case_turns_a_switch_on(word):
    assert READER.read([], {"IRIS_VERBOSE": word}).verbose is True
    assert READER.read(["--verbose", word], {}).verbose is True


@pytest.mark.parametrize("word", [case for word in OFF_WORDS for case in every_case(word)])
def test_every_off_word_in_any_case_turns_a_switch_off(word):
    assert READER.read([], {"IRIS_VERBOSE": word}).verbose is False
    assert READER.read(["--verbose", word], {"IRIS_VERBOSE": "on"}).verbose is False


def test_the_switch_words_are_on_off_true_false_yes_no_1_0():
    assert (set(ON_WORDS), set(OFF_WORDS)) == ({"on", "true", "yes", "1"}, {"off", "false", "no", "0"})


@pytest.mark.parametrize("word", ["", "maybe", "enabled", "2", "y", "n", "t", "onn"])
def test_any_other_switch_word_is_a_bad_value(word):
    with pytest.raises(SettingsError, match=r"^IRIS_VERBOSE='.*' is not valid: expected on or off"):
        READER.read([], {"IRIS_VERBOSE": word})


def test_a_switch_flag_alone_turns_it_on():
    assert READER.read(["--verbose"], {"IRIS_VERBOSE": "off"}).verbose is True


@pytest.mark.parametrize(
    ("program", "field"),
    [
        (name, setting.field)
        for name, reader in PROGRAMS.items()
        for setting in reader.settings
        if isinstance(getattr(reader.settings_type(), setting.field), bool)
    ],
)
def test_every_switch_of_every_program_takes_the_one_vocabulary(program, field):
    reader = PROGRAMS[program]
    (setting,) = [setting for setting in reader.settings if setting.field == field]
    for word in ON_WORDS + OFF_WORDS:
        for case in every_case(word):
            assert getattr(reader.read([], {setting.env_name: case}), field) is (word in ON_WORDS)
    for word in ("", "maybe"):
        with pytest.raises(
            SettingsError, match=f"^{setting.env_name}='{word}' is not valid: expected on or off"
        ):
            reader.read([], {setting.env_name: word})
    assert getattr(reader.read([setting.flag], {setting.env_name: "off"}), field) is True


@pytest.mark.parametrize("level", [case for level in LOG_LEVELS for case in every_case(level)])
@pytest.mark.parametrize("program", ["server", "proxy"])
def test_the_server_and_the_proxy_take_every_log_level_in_any_case(program, level):
    """Both read the same levels, written one way: lower case."""
    assert PROGRAMS[program].read([], {"IRIS_LOG_LEVEL": level}).log_level == level.lower()


@pytest.mark.parametrize("level", ["warn", "fatal", "trace", "notset", "10"])
@pytest.mark.parametrize("program", ["server", "proxy"])
def test_other_log_levels_are_bad_values(program, level):
    with pytest.raises(
        SettingsError, match=f"^--log-level='{level}' is not valid: expected one of debug, info"
    ):
        PROGRAMS[program].read(["--log-level", level], {})


@pytest.mark.parametrize("level", [case for level in LOG_LEVELS for case in every_case(level)])
def test_a_log_level_in_any_case_is_read_in_lower_case(level):
    assert READER.read(["--level", level], {}).level == level.lower()


def test_help_shows_each_flag_with_its_variable_and_default_as_typed():
    text = " ".join(READER.parser().format_help().split())
    assert "--port VALUE port to listen on [env IRIS_PORT, default 8000]" in text
    assert "--verbose [on|off] say more [env IRIS_VERBOSE, default off]" in text
    assert "--name VALUE deprecated, use --model-name [IRIS_NAME: use IRIS_MODEL_NAME]" in text


def test_an_unknown_flag_is_a_usage_error():
    with pytest.raises(SystemExit) as raised:
        READER.read(["--colour", "blue"], {})
    assert raised.value.code == 2


def test_read_or_exit_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as raised:
        READER.read_or_exit([], {"IRIS_PORT": "x"})
    assert raised.value.code == 2
    expected = "IRIS_PORT='x' is not valid: expected an integer from 1 to 65535"
    assert capsys.readouterr().err == f"python -m example: error: {expected}\n"


def test_settings_that_do_not_go_together_stop_the_reading():
    def check(example: Example) -> None:
        if example.verbose and example.level != "debug":
            raise SettingsError("--verbose with --level is not valid")

    reader = SettingsReader(Example, READER.settings, prog="p", description="d", check=check)
    assert reader.read(["--verbose", "--level", "DEBUG"], {}).verbose is True
    with pytest.raises(SettingsError, match="--verbose with --level"):
        reader.read(["--verbose"], {})


def test_a_field_without_a_setting_is_refused_when_declared():
    with pytest.raises(TypeError, match="verbose"):
        SettingsReader(Example, READER.settings[:1] + READER.settings[2:], prog="p", description="d")


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (port, {"1": 1, "65535": 65535}, ["0", "65536", "1.0", "x"]),
        (integer_range(0), {"0": 0, "12": 12}, ["-1", "0.5"]),
        (integer_range(2, 3), {"2": 2, "3": 3}, ["1", "4"]),
        (seconds, {"0.5": 0.5, "30": 30.0}, ["0", "-1", "nan", "inf", "soon"]),
        (seconds_or_zero, {"0": 0.0, "0.5": 0.5}, ["-1", "nan", "inf", "-inf"]),
        (log_level, {"DeBuG": "debug", "critical": "critical"}, ["warn", "information"]),
    ],
)
def test_shared_parsers_take_good_values_and_raise_value_error_for_bad(parse, good, bad):
    assert {text: parse(text) for text in good} == good
    for text in bad:
        with pytest.raises(ValueError, match=re.escape(text)):
            parse(text)


def test_workers_auto_is_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(common_settings, "usable_cpus", lambda: 3)
    assert (workers("auto"), workers("AUTO"), workers("2")) == (3, 3, 2)
    with pytest.raises(ValueError, match="0"):
        workers("0")


def test_readable_file_is_a_file_that_can_be_read(tmp_path: pathlib.Path):
    present = tmp_path / "ca.pem"
    present.write_text("")
    assert readable_file(str(present)) == present
    for text in (str(tmp_path), str(tmp_path / "missing.pem")):
        with pytest.raises(ValueError, match=re.escape(text)):
            readable_file(text)
