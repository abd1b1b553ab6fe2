"""Settings of the export: command-line flags, each with an ``IRIS_<NAME>`` environment twin.

A flag wins over its environment variable, which wins over the default. Every value is
validated here, and a bad one raises ConfigError naming the setting and the value.
"""

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from export.errors import ConfigError

ESTIMATOR_KINDS = ("logreg", "forest")
DEFAULT_ESTIMATOR = "logreg"
DEFAULT_REPOSITORY = "artifacts"
DEFAULT_NAME = "iris"
DEFAULT_SEED = 42
# A model name becomes a directory name: keep it a single, portable path component.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    repository: Path
    name: str
    version: int | None  # None: the next free integer in the repository
    estimator: str
    force: bool
    seed: int
    verify: Path | None  # a version directory to re-check instead of exporting


class _OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints usage plus an error and exits 2; report a ConfigError line instead."""

    def error(self, message: str):
        raise ConfigError(message)


def _build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(
        prog="python -m export",
        description="Train an iris classifier, convert it to ONNX, check parity, publish a version.",
    )

    def env(name: str, default: str | None) -> str | None:
        return environ.get(f"IRIS_{name}", default)

    parser.add_argument(
        "--repository",
        default=env("REPOSITORY", DEFAULT_REPOSITORY),
        help="model repository directory (IRIS_REPOSITORY, default %(default)s)",
    )
    parser.add_argument(
        "--name",
        default=env("NAME", DEFAULT_NAME),
        help="model name, a directory in the repository (IRIS_NAME, default %(default)s)",
    )
    parser.add_argument(
        "--version",
        default=env("VERSION", None),
        help="version number to write (IRIS_VERSION, default: next free integer)",
    )
    parser.add_argument(
        "--estimator",
        default=env("ESTIMATOR", DEFAULT_ESTIMATOR),
        help=f"one of {', '.join(ESTIMATOR_KINDS)} (IRIS_ESTIMATOR, default %(default)s)",
    )
    parser.add_argument(
        "--force",
        action="store_const",
        const="1",
        default=env("FORCE", "0"),
        help="replace the version if it exists (IRIS_FORCE=1)",
    )
    parser.add_argument(
        "--seed",
        default=env("SEED", str(DEFAULT_SEED)),
        help=f"seed for training, cross-validation and parity inputs (IRIS_SEED, default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--verify",
        metavar="VERSION_DIR",
        default=None,
        help="re-check a published version directory instead of exporting",
    )
    return parser


def _parse_int(setting: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{setting}: expected an integer, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{setting}: must be at least {minimum}, got {value!r}")
    return number


def _parse_bool(setting: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{setting}: expected one of 1/0/true/false/yes/no, got {value!r}")


def parse_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    """Read and validate the settings from the command line and the environment."""
    args = _build_parser(environ).parse_args(argv)
    if args.estimator not in ESTIMATOR_KINDS:
        raise ConfigError(
            f"--estimator/IRIS_ESTIMATOR: unknown estimator {args.estimator!r} "
            f"(choose from {', '.join(ESTIMATOR_KINDS)})"
        )
    if not NAME_PATTERN.fullmatch(args.name):
        raise ConfigError(
            f"--name/IRIS_NAME: {args.name!r} is not a valid model name "
            "(letters, digits, '_', '.', '-'; at most 64 characters)"
        )
    if not args.repository:
        raise ConfigError("--repository/IRIS_REPOSITORY: must not be empty")
    version = None
    if args.version not in (None, ""):
        version = _parse_int("--version/IRIS_VERSION", args.version, minimum=1)
    return Settings(
        repository=Path(args.repository),
        name=args.name,
        version=version,
        estimator=args.estimator,
        force=_parse_bool("--force/IRIS_FORCE", args.force),
        seed=_parse_int("--seed/IRIS_SEED", args.seed, minimum=0),
        verify=Path(args.verify) if args.verify else None,
    )
