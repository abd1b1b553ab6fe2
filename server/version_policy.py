"""Which versions of a model the server serves: its version policy.

The policies are Triton's `version_policy` (TF Serving's model_version_policy is the same three):
- latest N: the N highest versions found (latest, the default, is latest 1);
- all: every version found;
- specific: the versions listed (those of them that are found).

The server's --version-policy sets it for every model, written `latest`, `latest:2`, `all` or
`specific:1,3`. A model directory may hold `config.json` with its own, in Triton's JSON shape:
`{"version_policy": {"latest": {"num_versions": 2}}}`, `{"version_policy": {"all": {}}}` or
`{"version_policy": {"specific": {"versions": [1, 3]}}}`.
"""

import dataclasses
import json
import pathlib
from typing import Any

MODEL_CONFIG_FILE = "config.json"
LATEST, ALL, SPECIFIC = "latest", "all", "specific"


class PolicyError(ValueError):
    """A version policy that cannot be read; the message says where and why."""


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    kind: str  # LATEST, ALL or SPECIFIC
    count: int = 1  # LATEST: how many of the highest versions
    versions: tuple[int, ...] = ()  # SPECIFIC: which

    def select(self, found: list[int]) -> list[int]:
        """The versions to serve out of those `found`, ascending."""
        ordered = sorted(found)
        if self.kind == LATEST:
            return ordered[-self.count :]
        if self.kind == SPECIFIC:
            return [version for version in ordered if version in self.versions]
        return ordered

    def __str__(self) -> str:
        if self.kind == LATEST:
            return LATEST if self.count == 1 else f"{LATEST}:{self.count}"
        if self.kind == SPECIFIC:
            return f"{SPECIFIC}:{','.join(map(str, self.versions))}"
        return ALL


DEFAULT_POLICY = VersionPolicy(LATEST)
POLICY_VALUES = "latest, latest:N, all or specific:V1,V2,... (N and V positive integers)"


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(text)
    return int(text)


def parse_policy(text: str) -> VersionPolicy:
    """A policy written as --version-policy takes it; ValueError if it is none of the forms."""
    kind, _, argument = text.strip().lower().partition(":")
    try:
        if kind == LATEST:
            return VersionPolicy(LATEST, _positive(argument) if argument else 1)
        if kind == ALL and not argument:
            return VersionPolicy(ALL)
        if kind == SPECIFIC:
            return VersionPolicy(
                SPECIFIC, versions=tuple(sorted({_positive(v) for v in argument.split(",")}))
            )
    except ValueError:
        pass
    raise ValueError(f"not {POLICY_VALUES}")


def _policy_from_json(value: Any) -> VersionPolicy:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("version_policy needs exactly one of latest, all, specific")
    ((kind, body),) = value.items()
    body = body if isinstance(body, dict) else None
    if kind == LATEST and body is not None:
        count = body.get("num_versions", 1)
        if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
            return VersionPolicy(LATEST, count)
    if kind == ALL and body == {}:
        return VersionPolicy(ALL)
    if kind == SPECIFIC and body is not None:
        versions = body.get("versions")
        if isinstance(versions, list) and versions and all(_is_version(v) for v in versions):
            return VersionPolicy(SPECIFIC, versions=tuple(sorted(set(versions))))
    raise ValueError(
        f"version_policy {json.dumps(value)} is not latest {{num_versions: N}}, all {{}} "
        "or specific {versions: [V, ...]}"
    )


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def model_policy(model_dir: pathlib.Path, default: VersionPolicy) -> VersionPolicy:
    """The policy in model_dir/config.json, or `default` when there is no such file.

    PolicyError if the file cannot be read or says something else than a version policy.
    """
    path = model_dir / MODEL_CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(config, dict) or set(config) - {"version_policy"}:
        raise PolicyError(f"{path}: expected an object whose only key is 'version_policy'")
    if "version_policy" not in config:
        return default
    try:
        return _policy_from_json(config["version_policy"])
    except ValueError as error:
        raise PolicyError(f"{path}: {error}") from None
