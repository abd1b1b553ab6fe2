"""The model versions this server serves now, as the APIs look them up.

The repository watcher (server/repository_watcher.py) builds a new Snapshot whenever what is served
changes and publishes it in one assignment; a call looks its model up once, in whichever snapshot
is current, and keeps that model to the end, so a switch never splits a call and a version that
leaves the snapshot is freed when the last call holding it ends.
"""

import dataclasses

from common.names import MODEL_NAME_PATTERN
from server.model import InvalidInput, OnnxModel

READY, LOADING, UNAVAILABLE = "READY", "LOADING", "UNAVAILABLE"


class ModelNotFound(LookupError):  # noqa: N818 (reads as the NOT_FOUND it becomes)
    """No served model or version by that name (NOT_FOUND); the message lists what is served."""


@dataclasses.dataclass(frozen=True)
class VersionState:
    """A version found in the repository and what became of it (the repository index)."""

    name: str
    version: int
    state: str  # READY, LOADING or UNAVAILABLE
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The served versions of each model, by their decimal text, as requests name them."""

    models: dict[str, dict[str, OnnxModel]]
    latest: dict[str, OnnxModel]  # the highest served version of each model
    index: tuple[VersionState, ...] = ()

    @classmethod
    def of(cls, served: dict[str, dict[int, OnnxModel]], index: tuple[VersionState, ...]) -> "Snapshot":
        models = {name: {str(v): versions[v] for v in sorted(versions)} for name, versions in served.items()}
        latest = {name: versions[max(versions)] for name, versions in served.items() if versions}
        return cls({name: models[name] for name in latest}, latest, index)


class ServedModels:
    """The current Snapshot; reads take no lock (the snapshot is replaced, never changed)."""

    def __init__(self) -> None:
        self._snapshot = Snapshot({}, {})

    @classmethod
    def of(cls, *models: OnnxModel) -> "ServedModels":
        """Serving these loaded versions and no other (as a test or a benchmark wants)."""
        served = cls()
        versions: dict[str, dict[int, OnnxModel]] = {}
        for model in models:
            versions.setdefault(model.metadata.name, {})[model.metadata.version] = model
        index = tuple(VersionState(m.metadata.name, m.metadata.version, READY) for m in models)
        served.publish(Snapshot.of(versions, index))
        return served

    def publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def model(
        self,
        name: str,
        version: str = "",
        name_field: str = "model_name",
        version_field: str = "model_version",
    ) -> OnnxModel:
        """The served `version` of model `name` ("" for its latest).

        InvalidInput names the field if the name or version could name nothing (characters other
        than letters, digits, '_', '.', '-'; a version that is not a positive integer);
        ModelNotFound if it is well formed but not served.
        """
        snapshot = self._snapshot
        model = snapshot.models.get(name, {}).get(version) if version else snapshot.latest.get(name)
        if model is None:
            check_model_names(name, version, name_field, version_field)
            raise ModelNotFound(_not_served(snapshot, name, version))
        return model

    def is_ready(
        self, name: str, version: str = "", name_field: str = "name", version_field: str = "version"
    ) -> bool:
        """Whether `model` would find that model version (InvalidInput for a malformed one)."""
        try:
            self.model(name, version, name_field, version_field)
        except ModelNotFound:
            return False
        return True

    def index(self, ready_only: bool = False) -> list[VersionState]:
        """Every version found in the repository, by name and version (READY ones only if asked)."""
        return [entry for entry in self._snapshot.index if entry.state == READY or not ready_only]


def check_model_names(name: str, version: str, name_field: str, version_field: str) -> None:
    """Raise InvalidInput unless `name` could be a model name and `version` a version ("" or 1, 2, ...)."""
    if not MODEL_NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"model name {name!r} is not valid: 1-64 letters, digits, '_', '.' or '-', starting with "
            "a letter or digit",
            field=name_field,
        )
    if version and not (version.isascii() and version.isdigit() and not version.startswith("0")):
        raise InvalidInput(
            f"model version {version!r} is not valid: a positive integer, or empty for the latest",
            field=version_field,
        )


def describe_served(snapshot: Snapshot) -> str:
    """What the server serves, e.g. "iris (versions 1, 2), wine (version 1)"."""
    if not snapshot.models:
        return "no model"
    parts = []
    for name, versions in snapshot.models.items():
        word = "version" if len(versions) == 1 else "versions"
        parts.append(f"{name} ({word} {', '.join(versions)})")
    return ", ".join(parts)


def _not_served(snapshot: Snapshot, name: str, version: str) -> str:
    served = f"this server serves {describe_served(snapshot)}"
    if name not in snapshot.models:
        return f"unknown model {name!r}; {served}"
    return f"model {name!r} has no version {version!r} served; {served}"
