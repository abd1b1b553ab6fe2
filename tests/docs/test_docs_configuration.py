"""docs/configuration.md lists every flag of every command with its env twin and default, and no other.

Each program's own declaration is the truth: the settings of the server, the proxy and the export
(their READER: each Setting and the Settings defaults, and the parser it builds), the client's
argparse parser, and server.healthcheck's build_parser(); the edge's variables are the
ENV block of Dockerfile.edge.
"""

import argparse
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from client import cli as client_cli
from common.settings import SettingsReader
from export import config as export_config
from proxy import config as proxy_config
from server import config as server_config
from server import healthcheck

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
DOCKERFILE_EDGE = ROOT / "Dockerfile.edge"
NO_ENV = "—"  # the env cell of a flag without an environment twin
SENTINEL = "12345"  # an env value that changes any default read from that variable
# Written in the prose, not flags of any program documented here.
OTHER_FLAGS = {"--help"}

Expected = dict[str, tuple[str | None, Any]]  # flag -> (env twin or None, default)


def shown(value: Any) -> str:
    """A default as configuration.md writes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value == "":
        return '""'
    return str(value)


def sections() -> dict[str, str]:
    """configuration.md's level-2 sections: heading line -> body."""
    found: dict[str, str] = {}
    heading = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line
            found[heading] = ""
        elif heading:
            found[heading] += line + "\n"
    return found


def section(name: str) -> str:
    """The body of the section whose heading names `name` in backticks."""
    matches = [body for heading, body in sections().items() if f"`{name}`" in heading]
    assert len(matches) == 1, f"configuration.md needs one section headed with `{name}`, found {len(matches)}"
    return matches[0]


def table_rows(body: str) -> dict[str, list[str]]:
    """First cell -> the other cells of each table row naming a flag or a variable, without backticks."""
    rows = {}
    for line in body.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        assert cells[0] not in rows, f"{cells[0]} is listed twice"
        rows[cells[0]] = cells[1:]
    return rows


def from_reader(reader: SettingsReader) -> Expected:
    """The flags of a program's settings, each with its env twin and default; deprecated ones are
    left out (the prose names them, see `deprecated`)."""
    defaults = reader.settings_type()
    expected: Expected = {
        setting.flag: (setting.env_name, setting.shown_default or getattr(defaults, setting.field))
        for setting in reader.settings
    }
    parsed = {max(action.option_strings, key=len) for action in reader.parser()._actions}
    deprecated_flags = {name for name in deprecated(reader) if name.startswith("--")}
    assert set(expected) | deprecated_flags == parsed - {"--help"}, "the parser has other flags"
    return expected


def deprecated(reader: SettingsReader) -> set[str]:
    """The deprecated flags of a program's settings, and their environment twins."""
    return {
        name
        for setting in reader.settings
        for name in setting.sources
        if name not in (setting.flag, setting.env_name)
    }


def from_argparse(build: Callable[[Mapping[str, str]], argparse.ArgumentParser]) -> Expected:
    """The flags of the parser `build(environ)` makes, each with the IRIS_<DEST> variable whose
    value changes its default (its env twin), if any."""
    expected: Expected = {}
    for action in build({})._actions:
        if action.dest == "help":
            continue
        env = f"IRIS_{action.dest.upper()}"
        with_env = {a.dest: a.default for a in build({env: SENTINEL})._actions}
        twin = env if with_env[action.dest] != action.default else None
        expected[max(action.option_strings, key=len)] = (twin, action.default)
    return expected


def healthcheck_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    """The parser server.healthcheck builds: its --port default is the server's own setting."""
    return healthcheck.build_parser(server_config.READER.read([], environ).port)


READERS = (server_config.READER, proxy_config.READER, export_config.READER)
PROGRAMS: dict[str, Callable[[], Expected]] = {
    "python -m server": lambda: from_reader(server_config.READER),
    "python -m proxy": lambda: from_reader(proxy_config.READER),
    "python -m export": lambda: from_reader(export_config.READER),
    "python -m client": lambda: from_argparse(lambda environ: client_cli.build_parser()),
    "python -m server.healthcheck": lambda: from_argparse(healthcheck_parser),
}


def edge_variables() -> dict[str, str]:
    """The edge's IRIS_EDGE_* variables and their defaults, from Dockerfile.edge's ENV."""
    text = DOCKERFILE_EDGE.read_text(encoding="utf-8")
    return dict(re.findall(r"\b(IRIS_EDGE_[A-Z0-9_]+)=(\S+)", text))


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_flag_is_documented_with_its_env_and_default(program: str) -> None:
    """Each flag of the program has a row in its section, with its env twin and its default."""
    rows = table_rows(section(program))
    for flag, (env, default) in PROGRAMS[program]().items():
        assert flag in rows, f"configuration.md, {program}: no row for {flag}"
        documented_env, documented_default = rows[flag][0], rows[flag][1]
        assert documented_env == (env or NO_ENV), f"{program} {flag}: env twin is {env or 'none'}"
        assert documented_default == shown(default), f"{program} {flag}: default is {shown(default)}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_no_documented_flag_is_missing_from_the_program(program: str) -> None:
    """Every flag in the program's section is one the program has."""
    unknown = set(table_rows(section(program))) - set(PROGRAMS[program]())
    assert not unknown, f"configuration.md documents flags {program} lacks: {sorted(unknown)}"


def test_edge_variables_are_documented_with_their_defaults() -> None:
    """The edge's section lists exactly Dockerfile.edge's variables, with the image's defaults."""
    variables = edge_variables()
    assert variables, "no IRIS_EDGE_* variable found in Dockerfile.edge"
    rows = table_rows(section("Dockerfile.edge"))
    assert set(rows) == set(variables)
    for name, default in variables.items():
        assert rows[name][0] == default, f"{name}: the image's default is {default}"


def test_no_flag_or_variable_is_named_that_no_program_has() -> None:
    """Every --flag and IRIS_ name anywhere in configuration.md belongs to a documented program."""
    expected = [flags() for flags in PROGRAMS.values()]
    old_names = set().union(*(deprecated(reader) for reader in READERS))
    flags = {flag for program in expected for flag in program} | OTHER_FLAGS | old_names
    names = {env for program in expected for env, _ in program.values() if env} | set(edge_variables())
    names |= old_names
    text = DOC.read_text(encoding="utf-8")
    unknown_flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)) - flags
    assert not unknown_flags, f"configuration.md names flags no program has: {sorted(unknown_flags)}"
    unknown_names = set(re.findall(r"\bIRIS_[A-Z0-9_]*[A-Z0-9]", text)) - names
    assert not unknown_names, f"configuration.md names variables no program reads: {sorted(unknown_names)}"
