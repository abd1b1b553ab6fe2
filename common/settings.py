"""How every program reads its settings: a flag, else its IRIS_<FLAG> environment twin, else the default.

A program declares its settings once: a frozen dataclass of the values and their defaults, and one
`Setting` per field saying how to parse a value, what a good value looks like and what it does.
A `SettingsReader` over the two builds the `--help`, reads the values once, and stops at the first
bad one with a `SettingsError` naming the flag or variable as the user gave it:

    --port='x' is not valid: expected an integer from 1 to 65535

Parse functions raise ValueError for a bad value; the reader writes the message. The parse functions
below are the ones programs share, with the vocabularies of switches and log levels.
"""

import argparse
import dataclasses
import math
import os
import pathlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from common.cpus import usable_cpus

ENV_PREFIX = "IRIS_"
ON_WORDS = ("on", "true", "yes", "1")
OFF_WORDS = ("off", "false", "no", "0")
SWITCH_VALUES = "on or off (or true/false, yes/no, 1/0; any case)"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_LEVEL_VALUES = f"one of {', '.join(LOG_LEVELS)} (any case)"
LOG_FORMATS = ("json", "text")
LOG_FORMAT_VALUES = f"one of {', '.join(LOG_FORMATS)}"
WORKERS_VALUES = "a positive integer, or auto (one per CPU this process may use)"

SettingsT = TypeVar("SettingsT")


class SettingsError(ValueError):
    """A setting with a bad value, or settings that do not go together; the message names them."""


def env_name(flag: str) -> str:
    """The environment twin of a flag: --max-batch-rows -> IRIS_MAX_BATCH_ROWS."""
    return ENV_PREFIX + flag.removeprefix("--").replace("-", "_").upper()


def shown(value: object) -> str:
    """A default as a user would type it: on and off for switches, unset for None."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "unset"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: the dataclass field it fills, how its text is read, and how it is explained."""

    field: str
    parse: Callable[[str], Any]
    """Turns the text given (stripped, never empty) into the value; raises ValueError for a bad one."""
    expected: str
    """What a good value looks like: the end of "--flag='x' is not valid: expected ..."."""
    help: str
    """What the setting does, for --help."""
    flag: str = ""
    """The command-line flag; by default -- and the field with dashes."""
    env: bool = True
    """Whether the flag has an environment twin (IRIS_ and the flag in upper snake case)."""
    aliases: tuple[str, ...] = ()
    """Deprecated flags still read after the flag, each with its twin, read after the flag's twin."""
    shown_default: str = ""
    """The default as --help and the docs write it, where the field's default reads otherwise."""

    def __post_init__(self) -> None:
        if not self.flag:
            object.__setattr__(self, "flag", "--" + self.field.replace("_", "-"))

    @property
    def env_name(self) -> str | None:
        return env_name(self.flag) if self.env else None

    @property
    def sources(self) -> tuple[str, ...]:
        """Where a value is looked for, first found wins: the flags, then their environment twins."""
        flags = (self.flag, *self.aliases)
        return flags + (tuple(env_name(flag) for flag in flags) if self.env else ())


class SettingsReader(Generic[SettingsT]):
    """Reads one program's settings, a frozen dataclass, from its flags, the environment and defaults.

    `check`, if given, is called with the settings read and raises SettingsError for settings that
    do not go together.
    """

    def __init__(
        self,
        settings_type: type[SettingsT],
        settings: Sequence[Setting],
        *,
        prog: str,
        description: str,
        check: Callable[[SettingsT], None] | None = None,
    ) -> None:
        declared = [setting.field for setting in settings]
        fields = [field.name for field in dataclasses.fields(settings_type)]
        if sorted(declared) != sorted(fields):
            raise TypeError(f"{settings_type.__name__}'s fields {fields} are not the settings {declared}")
        self.settings_type = settings_type
        self.settings = tuple(settings)
        self.prog = prog
        self.description = description
        self.check = check

    def default(self, setting: Setting) -> str:
        """The default of `setting` as a user would type it."""
        return setting.shown_default or shown(getattr(self.settings_type(), setting.field))

    def parser(self) -> argparse.ArgumentParser:
        """The program's argparse parser: each flag with its help, environment twin and default."""
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        for setting in self.settings:
            if setting.parse is switch:  # a bare switch flag turns it on
                kind: dict[str, Any] = {"nargs": "?", "const": "on", "metavar": "on|off"}
            else:
                kind = {"metavar": "VALUE"}
            origin = f"env {setting.env_name}, " if setting.env else ""
            parser.add_argument(
                setting.flag,
                dest=setting.flag,
                help=f"{setting.help} [{origin}default {self.default(setting)}]",
                **kind,
            )
            for alias in setting.aliases:
                twin = f" [{env_name(alias)}: use {setting.env_name}]" if setting.env else ""
                parser.add_argument(alias, dest=alias, help=f"deprecated, use {setting.flag}{twin}", **kind)
        return parser

    def read(self, argv: Sequence[str], environ: Mapping[str, str]) -> SettingsT:
        """The settings given by `argv` (without the program name) and `environ`, else the defaults.

        Raises SettingsError for the first bad value, naming its flag or variable as given, or for
        settings that do not go together; an unknown flag is argparse's usage error (exit status 2).
        """
        given = vars(self.parser().parse_args(list(argv)))
        values = {}
        for setting in self.settings:
            found = _given(setting, given, environ)
            if found is None:
                continue
            source, text = found
            try:
                values[setting.field] = _parse(setting.parse, text)
            except ValueError:
                raise SettingsError(f"{source}={text!r} is not valid: expected {setting.expected}") from None
        settings = self.settings_type(**values)
        if self.check is not None:
            self.check(settings)
        return settings

    def read_or_exit(self, argv: Sequence[str], environ: Mapping[str, str]) -> SettingsT:
        """`read`, or a bad setting's message on stderr and exit status 2, as argparse's usage errors."""
        try:
            return self.read(argv, environ)
        except SettingsError as error:
            print(f"{self.prog}: error: {error}", file=sys.stderr)
            raise SystemExit(2) from None


def _given(
    setting: Setting, flags: Mapping[str, str | None], environ: Mapping[str, str]
) -> tuple[str, str] | None:
    """The first of the setting's sources given a value, and that value, if any is."""
    for source in setting.sources:
        text = flags.get(source) if source.startswith("--") else environ.get(source)
        if text is not None:
            return source, text
    return None


def _parse(parse: Callable[[str], Any], text: str) -> Any:
    if not text.strip():
        raise ValueError(text)
    return parse(text.strip())


def integer_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A parser of whole numbers from `minimum` to `maximum` (no upper bound if None)."""

    def parse(text: str) -> int:
        number = int(text)
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError(text)
        return number

    return parse


def positive_integer(text: str) -> int:
    return integer_range(1)(text)


def port(text: str) -> int:
    return integer_range(1, 65535)(text)


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


def seconds_or_zero(text: str) -> float:
    """0, or a positive, finite number of seconds."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(text)
    return value


def readable_file(text: str) -> pathlib.Path:
    path = pathlib.Path(text)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(text)
    return path


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser of one of `choices` (lower case), in any case; the value is in lower case."""

    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(text)
        return text.lower()

    return parse


log_level = one_of(*LOG_LEVELS)
log_format = one_of(*LOG_FORMATS)


def switch(text: str) -> bool:
    """On or off, in any of the words of ON_WORDS and OFF_WORDS, in any case."""
    if text.lower() in ON_WORDS:
        return True
    if text.lower() in OFF_WORDS:
        return False
    raise ValueError(text)


def workers(text: str) -> int:
    """A number of processes, or auto: one per CPU this process may use."""
    return usable_cpus() if text.lower() == "auto" else positive_integer(text)
