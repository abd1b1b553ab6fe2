"""Keeps what the server serves in step with its model repository: at start-up, then every
--poll-seconds.

Each poll, for each model (every directory of the repository, or those --models names):
- its version policy (server/version_policy.py) picks the versions to serve out of those found;
- a picked version not loaded yet, or republished since (a new directory or manifest), is checked
  and loaded by server/repository.py, warmed up, and only then served: the new snapshot is
  published in one step (server/served_models.py), so calls go on meanwhile and, from that moment,
  every new call of the model's latest version gets the new one;
- a version that fails is refused: one log line, a count in iris_model_load_failures_total, state
  UNAVAILABLE with the reason in the repository index, and no new try until it is republished.
  Under a `latest` policy the highest versions that do load are served instead, so a broken
  publication leaves the previous version serving, and a restart serves the same;
- a version that leaves the policy (or the repository) leaves the snapshot; calls holding it finish
  on it. If a model's directory is still there but none of its versions can be served, what it
  served stays served.
"""

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

from common.logs import log_event
from server.model import OnnxModel
from server.repository import ModelLoadError, ModelRepository
from server.served_models import LOADING, READY, UNAVAILABLE, ServedModels, Snapshot, VersionState
from server.version_policy import LATEST, PolicyError, VersionPolicy, model_policy

logger = logging.getLogger("server.repository")

Key = tuple[str, int]  # (model name, version)


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How every version is loaded (the server's onnxruntime and batch settings)."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    max_batch_rows: int = 10_000


def _nothing(*_args: object) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class ModelEvents:
    """Told of each version loaded (before it is served), unloaded, and refused (e.g. metrics)."""

    loaded: Callable[[OnnxModel], None] = _nothing
    unloaded: Callable[[OnnxModel], None] = _nothing
    refused: Callable[[str, int], None] = _nothing


class RepositoryWatcher:
    """Loads, serves and unloads versions as the repository and the version policies say.

    `poll` runs in one thread at a time: the caller's at start-up, then the watcher's own.
    `checks` are asked of each loaded version before it is served (e.g. iris.v1's features) and
    refuse it by raising ModelLoadError.
    """

    def __init__(
        self,
        repository: ModelRepository,
        served: ServedModels,
        *,
        models: Sequence[str] = (),
        default_policy: VersionPolicy,
        options: LoadOptions,
        checks: Sequence[Callable[[OnnxModel], None]] = (),
        events: ModelEvents = ModelEvents(),
    ):
        self._repository = repository
        self._served = served
        self._models = tuple(models)  # empty: every model in the repository
        self._default_policy = default_policy
        self._options = options
        self._checks = tuple(checks)
        self._events = events
        self._loaded: dict[Key, tuple[object, OnnxModel]] = {}  # with the fingerprint loaded
        self._refused: dict[Key, tuple[object, str]] = {}  # with the fingerprint refused, and why
        self._retired: list[OnnxModel] = []  # replaced by a republished version, to unload
        self._problems: set[str] = set()  # logged at the poll that found them
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> list[str]:
        """Bring the served snapshot in line with the repository; the problems found, a line each."""
        try:
            names, problems = self._model_names()
        except ModelLoadError as error:
            problems = [str(error)]
            self._log_new_problems(problems)
            return problems  # an unreadable repository changes nothing that is served
        served: dict[str, dict[int, OnnxModel]] = {}
        index: list[VersionState] = []
        for name in names:
            versions, entries, problem = self._sync_model(name)
            if versions:
                served[name] = versions
            index.extend(entries)
            if problem:
                problems.append(problem)
        self._publish(served, index)
        self._log_new_problems(problems)
        return problems

    def _model_names(self) -> tuple[list[str], list[str]]:
        found = self._repository.model_names()
        if not self._models:
            return found, []
        missing = [name for name in self._models if name not in found]
        problems = [
            f"model {name!r} (--models) is not in repository {self._repository.root}" for name in missing
        ]
        return [name for name in self._models if name in found], problems

    def _sync_model(self, name: str) -> tuple[dict[int, OnnxModel], list[VersionState], str | None]:
        """The versions of `name` to serve, its index entries, and a problem if there is one."""
        serving = {
            version: model for (model_name, version), (_, model) in self._loaded.items() if model_name == name
        }
        try:
            policy = model_policy(self._repository.root / name, self._default_policy)
            found = self._repository.versions(name)
        except (PolicyError, ModelLoadError) as error:
            entries = [VersionState(name, version, READY) for version in sorted(serving)]
            return serving, entries, f"model {name!r}: {error}"
        chosen = self._choose(name, policy, found)
        problem = None
        if not chosen:
            problem = self._describe_nothing_to_serve(name, policy, found)
            chosen = serving  # nothing better: keep what it serves
        self._forget_refusals(name, found)
        return chosen, self._index_entries(name, policy, found, chosen), problem

    def _choose(self, name: str, policy: VersionPolicy, found: list[int]) -> dict[int, OnnxModel]:
        """Load the versions the policy picks; under `latest`, older ones stand in for refused ones."""
        chosen: dict[int, OnnxModel] = {}
        candidates = sorted(found, reverse=True) if policy.kind == LATEST else policy.select(found)
        for version in candidates:
            if policy.kind == LATEST and len(chosen) == policy.count:
                break
            model = self._loaded_version(name, version)
            if model is not None:
                chosen[version] = model
        return chosen

    def _describe_nothing_to_serve(self, name: str, policy: VersionPolicy, found: list[int]) -> str:
        refusals = [
            f"version {version} refused: {self._refused[(name, version)][1]}"
            for version in found
            if (name, version) in self._refused
        ]
        reasons = "; ".join(refusals) or f"versions found: {found}"
        return f"model {name!r} has no version to serve under version policy {policy} ({reasons})"

    def _index_entries(
        self, name: str, policy: VersionPolicy, found: list[int], chosen: dict[int, OnnxModel]
    ) -> list[VersionState]:
        entries = []
        for version in sorted(set(found) | set(chosen)):
            refused = self._refused.get((name, version))
            if version in chosen:
                entries.append(VersionState(name, version, READY))
            elif refused is not None:
                entries.append(VersionState(name, version, UNAVAILABLE, refused[1]))
            else:
                entries.append(
                    VersionState(name, version, UNAVAILABLE, f"not picked by version policy {policy}")
                )
        return entries

    def _forget_refusals(self, name: str, found: list[int]) -> None:
        for key in [key for key in self._refused if key[0] == name and key[1] not in found]:
            del self._refused[key]

    def _loaded_version(self, name: str, version: int) -> OnnxModel | None:
        """The version loaded as it is now in the repository, loading it if need be; None if refused.

        A republished version that fails keeps its previous load serving, if it had one.
        """
        key = (name, version)
        fingerprint = self._repository.fingerprint(name, version)
        loaded = self._loaded.get(key)
        if loaded is not None and (loaded[0] == fingerprint or fingerprint is None):
            return loaded[1]
        refused = self._refused.get(key)
        if fingerprint is None or (refused is not None and refused[0] == fingerprint):
            return loaded[1] if loaded else None
        try:
            model = self._load(name, version)
        except ModelLoadError as error:
            self._refuse(key, fingerprint, str(error))
            return loaded[1] if loaded else None
        self._refused.pop(key, None)
        if loaded is not None:
            self._retired.append(loaded[1])
        self._loaded[key] = (fingerprint, model)
        return model

    def _load(self, name: str, version: int) -> OnnxModel:
        """Check, load and warm up one version (ModelLoadError if anything fails)."""
        self._show_loading(name, version)
        started = time.perf_counter()
        model = self._repository.load(
            name,
            version,
            intra_op_threads=self._options.intra_op_threads,
            inter_op_threads=self._options.inter_op_threads,
            max_batch_rows=self._options.max_batch_rows,
        )
        for check in self._checks:
            check(model)
        try:
            model.warm_up()
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"model {name!r} version {version}: warm-up failed: {error}") from None
        self._events.loaded(model)
        log_event(
            logger,
            logging.INFO,
            "model version loaded",
            model=name,
            version=version,
            sha256=model.metadata.sha256,
            task=model.metadata.task,
            seconds=round(time.perf_counter() - started, 3),
        )
        return model

    def _show_loading(self, name: str, version: int) -> None:
        snapshot = self._served.snapshot
        others = tuple(e for e in snapshot.index if (e.name, e.version) != (name, version))
        self._served.publish(
            dataclasses.replace(snapshot, index=(*others, VersionState(name, version, LOADING)))
        )

    def _refuse(self, key: Key, fingerprint: object, reason: str) -> None:
        # The index tells clients why, with paths inside the repository: where it lies is the log's.
        self._refused[key] = (fingerprint, reason.replace(f"{self._repository.root}/", ""))
        self._events.refused(*key)
        log_event(logger, logging.ERROR, "model version refused", model=key[0], version=key[1], error=reason)

    def _publish(self, served: dict[str, dict[int, OnnxModel]], index: list[VersionState]) -> None:
        """Serve `served` from now on, then unload whatever it no longer holds."""
        self._served.publish(Snapshot.of(served, tuple(index)))
        kept = {(name, version) for name, versions in served.items() for version in versions}
        for key in [key for key in self._loaded if key not in kept]:
            self._retired.append(self._loaded.pop(key)[1])
        for model in self._retired:
            self._events.unloaded(model)
            log_event(
                logger,
                logging.INFO,
                "model version unloaded",
                model=model.metadata.name,
                version=model.metadata.version,
            )
        self._retired.clear()

    def _log_new_problems(self, problems: list[str]) -> None:
        for problem in problems:
            if problem not in self._problems:
                log_event(logger, logging.WARNING, "model repository problem", error=problem)
        self._problems = set(problems)

    def start(self, poll_seconds: float) -> None:
        """Poll every `poll_seconds` in a thread of its own until `stop`."""
        self._thread = threading.Thread(
            target=self._run, args=(poll_seconds,), name="repository-watcher", daemon=True
        )
        self._thread.start()

    def _run(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.poll()
            except Exception:  # a bug here must not stop the polling, nor the serving
                logger.exception("repository poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
