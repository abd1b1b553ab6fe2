"""server/repository_watcher.py: which versions are served as the repository changes, in process."""

import json
import shutil

import numpy as np
import pytest

from server.model import InvalidInput
from server.repository import ModelLoadError, ModelRepository
from server.repository_watcher import LoadOptions, ModelEvents, RepositoryWatcher
from server.served_models import LOADING, READY, UNAVAILABLE, ModelNotFound, ServedModels
from server.service import check_iris_model
from server.version_policy import PolicyError, VersionPolicy, model_policy, parse_policy
from tests.support.model_repository import corrupt_onnx, publish_copy, write_policy

FLOWER = np.array([[6.8, 3.2, 5.9, 2.3]], dtype=np.float32)


class Recorder:
    """ModelEvents that remember what they were told."""

    def __init__(self):
        self.loaded, self.unloaded, self.refused = [], [], []

    def events(self) -> ModelEvents:
        return ModelEvents(
            loaded=lambda m: self.loaded.append((m.metadata.name, m.metadata.version)),
            unloaded=lambda m: self.unloaded.append((m.metadata.name, m.metadata.version)),
            refused=lambda name, version: self.refused.append((name, version)),
        )


@pytest.fixture
def repository(tmp_path):
    publish_copy(tmp_path, "iris", 1)
    return tmp_path


def watcher_of(repository, policy="latest", models=(), recorder=None, checks=()):
    served = ServedModels()
    watcher = RepositoryWatcher(
        ModelRepository(repository),
        served,
        models=models,
        default_policy=parse_policy(policy),
        options=LoadOptions(max_batch_rows=100),
        checks=checks,
        events=(recorder or Recorder()).events(),
    )
    return watcher, served


def served_versions(served):
    return {name: list(versions) for name, versions in served.snapshot.models.items()}


def test_a_new_version_becomes_the_latest_and_the_old_one_is_unloaded(repository):
    recorder = Recorder()
    watcher, served = watcher_of(repository, recorder=recorder)
    assert watcher.poll() == []
    first = served.model("iris")
    publish_copy(repository, "iris", 2)
    assert watcher.poll() == []
    assert served_versions(served) == {"iris": ["2"]}
    assert served.model("iris").metadata.version == 2
    assert recorder.loaded == [("iris", 1), ("iris", 2)]
    assert recorder.unloaded == [("iris", 1)]
    assert first.predict(FLOWER).labels.tolist() == [2]  # a call holding it still finishes on it


def test_a_broken_version_is_refused_once_and_the_previous_one_keeps_serving(repository):
    recorder = Recorder()
    watcher, served = watcher_of(repository, recorder=recorder)
    watcher.poll()
    corrupt_onnx(publish_copy(repository, "iris", 2))
    problems = [watcher.poll() for _ in range(3)]
    assert problems == [[], [], []]  # a fallback version serves: no problem for the model
    assert served_versions(served) == {"iris": ["1"]}
    assert recorder.refused == [("iris", 2)]  # not retried until republished
    states = {(e.version, e.state) for e in served.index()}
    assert states == {(1, READY), (2, UNAVAILABLE)}
    [refused] = [e for e in served.index() if e.version == 2]
    assert refused.reason.startswith("iris/2/model.onnx is corrupt or replaced")  # inside the repository


def test_a_republished_version_is_loaded_again(repository):
    watcher, served = watcher_of(repository)
    watcher.poll()
    corrupt_onnx(publish_copy(repository, "iris", 2))
    watcher.poll()
    shutil.rmtree(repository / "iris" / "2")
    publish_copy(repository, "iris", 2)
    watcher.poll()
    assert served_versions(served) == {"iris": ["2"]}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("latest:2", ["2", "3"]), ("all", ["1", "2", "3"]), ("specific:1,3", ["1", "3"])],
)
def test_the_version_policy_picks_what_is_served(repository, policy, expected):
    for version in (2, 3):
        publish_copy(repository, "iris", version)
    watcher, served = watcher_of(repository, policy)
    watcher.poll()
    assert served_versions(served) == {"iris": expected}
    assert served.model("iris").metadata.version == int(expected[-1])


def test_a_model_config_overrides_the_default_policy(repository):
    publish_copy(repository, "iris", 2)
    write_policy(repository, "iris", {"specific": {"versions": [1]}})
    watcher, served = watcher_of(repository, "latest")
    watcher.poll()
    assert served_versions(served) == {"iris": ["1"]}
    [left_out] = [e for e in served.index() if e.version == 2]
    assert (left_out.state, left_out.reason) == (UNAVAILABLE, "not picked by version policy specific:1")


def test_an_unreadable_model_config_keeps_what_is_served_and_says_why(repository):
    watcher, served = watcher_of(repository)
    watcher.poll()
    (repository / "iris" / "config.json").write_text("{not json")
    [problem] = watcher.poll()
    assert "config.json is not readable JSON" in problem
    assert served_versions(served) == {"iris": ["1"]}


def test_every_model_is_served_unless_models_names_some(repository):
    publish_copy(repository, "iris-copy", 1)
    watcher, served = watcher_of(repository)
    watcher.poll()
    assert sorted(served_versions(served)) == ["iris", "iris-copy"]
    watcher, served = watcher_of(repository, models=("iris-copy", "absent"))
    [problem] = watcher.poll()
    assert problem.startswith("model 'absent' (--models) is not in repository")
    assert sorted(served_versions(served)) == ["iris-copy"]


def test_directories_that_are_not_models_or_versions_are_ignored(repository):
    (repository / ".staging-x").mkdir()
    (repository / "iris" / ".staging-2").mkdir()
    (repository / "iris" / "02").mkdir()
    watcher, served = watcher_of(repository)
    assert watcher.poll() == []
    assert served_versions(served) == {"iris": ["1"]}


def test_deleting_one_of_several_versions_unloads_it(repository):
    publish_copy(repository, "iris", 2)
    watcher, served = watcher_of(repository, "all")
    watcher.poll()
    shutil.rmtree(repository / "iris" / "2")
    watcher.poll()
    assert served_versions(served) == {"iris": ["1"]}


def test_deleting_a_models_last_version_keeps_it_serving(repository):
    watcher, served = watcher_of(repository)
    watcher.poll()
    shutil.rmtree(repository / "iris" / "1")
    [problem] = watcher.poll()
    assert "has no version to serve" in problem
    assert served.model("iris").predict(FLOWER).labels.tolist() == [2]


def test_deleting_a_model_directory_unloads_the_model(repository):
    publish_copy(repository, "iris-copy", 1)
    watcher, served = watcher_of(repository)
    watcher.poll()
    shutil.rmtree(repository / "iris-copy")
    assert watcher.poll() == []
    assert served_versions(served) == {"iris": ["1"]}


def test_a_check_refuses_a_version_iris_v1_could_not_answer_with(repository):
    manifest_path = publish_copy(repository, "iris", 2) / "model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["features"] = ["a", "b", "c", "d"]
    manifest_path.write_text(json.dumps(manifest))
    watcher, served = watcher_of(repository, checks=[lambda m: check_iris_model("iris", m)])
    watcher.poll()
    assert served_versions(served) == {"iris": ["1"]}
    [refused] = [e for e in served.index() if e.version == 2]
    assert "iris.v1's model (--model-name)" in refused.reason


def test_a_failed_warm_up_refuses_the_version(repository, monkeypatch):
    watcher, served = watcher_of(repository)

    def failing_warm_up(self):
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr("server.model.OnnxModel.warm_up", failing_warm_up)
    [problem] = watcher.poll()
    assert "warm-up failed: onnxruntime fell over" in problem
    assert served.snapshot.models == {}


def test_the_index_shows_a_version_loading(repository, monkeypatch):
    watcher, served = watcher_of(repository)
    seen = []
    real_load = ModelRepository.load

    def observed_load(self, name, version, **options):
        seen.extend((e.version, e.state) for e in served.index())
        return real_load(self, name, version, **options)

    monkeypatch.setattr(ModelRepository, "load", observed_load)
    watcher.poll()
    assert seen == [(1, LOADING)]
    assert [(e.version, e.state) for e in served.index()] == [(1, READY)]


def test_lookups_name_what_is_served_and_refuse_malformed_names(repository):
    watcher, served = watcher_of(repository)
    watcher.poll()
    with pytest.raises(ModelNotFound, match=r"unknown model 'wine'; this server serves iris \(version 1\)"):
        served.model("wine")
    with pytest.raises(ModelNotFound, match="model 'iris' has no version '7' served"):
        served.model("iris", "7")
    for name, version in (("../iris", ""), ("iris", "../1"), ("", ""), ("iris", "-1")):
        with pytest.raises(InvalidInput, match="is not valid"):
            served.model(name, version)


def test_an_unreadable_repository_changes_nothing(repository, tmp_path):
    watcher, served = watcher_of(repository)
    watcher.poll()
    repository.rename(tmp_path.parent / f"{tmp_path.name}-moved")
    [problem] = watcher.poll()
    assert "is not a readable directory" in problem
    assert served_versions(served) == {"iris": ["1"]}


def test_a_model_load_error_of_the_repository_is_one_line(repository):
    with pytest.raises(ModelLoadError, match="no model 'nope' in repository"):
        ModelRepository(repository).versions("nope")


def test_policies_read_from_config_files(tmp_path):
    default = VersionPolicy("latest")
    assert model_policy(tmp_path, default) is default
    for body, expected in (
        ({"latest": {"num_versions": 3}}, "latest:3"),
        ({"all": {}}, "all"),
        ({"specific": {"versions": [4, 2]}}, "specific:2,4"),
    ):
        (tmp_path / "config.json").write_text(json.dumps({"version_policy": body}))
        assert str(model_policy(tmp_path, default)) == expected
    for body in ({"latest": {"num_versions": 0}}, {"newest": {}}, {"specific": {"versions": []}}, []):
        (tmp_path / "config.json").write_text(json.dumps({"version_policy": body}))
        with pytest.raises(PolicyError, match=r"config\.json: version_policy"):
            model_policy(tmp_path, default)
