"""Atomic publication: a failed or interrupted export leaves the model repository as it was."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from export import convert, pipeline, publish, train
from export.config import Settings
from export.errors import ExportError, ParityError
from export.pipeline import export_model

ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "iris" / "1"
SMALL_FOREST = {"n_estimators": 5}


def _quiet(line: str) -> None:
    pass


@pytest.fixture
def repository(tmp_path) -> Path:
    """A repository holding a copy of the committed iris/1."""
    shutil.copytree(ARTIFACT, tmp_path / "artifacts" / "iris" / "1")
    return tmp_path / "artifacts"


def _snapshot(root: Path) -> dict:
    """Every path under root (directories included) with the bytes of each file."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None for path in root.rglob("*")
    }


def _settings(repository: Path, **changes) -> Settings:
    values = {"repository": repository, "name": "iris", "version": None, "estimator": "logreg"}
    values |= {"force": False, "seed": 42, "verify": None} | changes
    return Settings(**values)


def _fail(*args, **kwargs):
    raise ParityError("3 of 12150 inputs disagree; worst: simulated")


def test_failed_gate_publishes_nothing(repository, monkeypatch):
    before = _snapshot(repository)
    monkeypatch.setattr(pipeline, "run_gate", _fail)
    with pytest.raises(ParityError):
        export_model(_settings(repository), log=_quiet)
    assert _snapshot(repository) == before


def test_failed_first_export_leaves_no_directory_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "run_gate", _fail)
    with pytest.raises(ParityError):
        export_model(_settings(tmp_path / "new" / "artifacts"), log=_quiet)
    assert list(tmp_path.iterdir()) == []


def test_failed_replacement_keeps_the_old_version(repository, monkeypatch):
    before = _snapshot(repository)
    monkeypatch.setattr(convert, "convert_to_onnx", _fail)
    with pytest.raises(ParityError):
        export_model(_settings(repository, version=1, force=True), log=_quiet)
    assert _snapshot(repository) == before


def test_interrupted_export_publishes_nothing(repository, monkeypatch):
    def interrupt(*args):
        raise KeyboardInterrupt

    before = _snapshot(repository)
    monkeypatch.setattr(train, "fit", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_model(_settings(repository), log=_quiet)
    assert _snapshot(repository) == before


def test_failure_in_the_final_swap_restores_the_old_version(repository, monkeypatch):
    real_rename = os.rename

    def rename_failing_for_staging(source, destination):
        if Path(source).name.startswith(publish.STAGING_PREFIX):
            raise OSError(28, "No space left on device")
        real_rename(source, destination)

    before = _snapshot(repository)
    monkeypatch.setattr(publish.os, "rename", rename_failing_for_staging)
    with pytest.raises(OSError, match="No space left"):
        export_model(_settings(repository, version=1, force=True), log=_quiet)
    assert _snapshot(repository) == before


def test_force_replaces_an_existing_version_and_leaves_no_temporary_directory(repository):
    settings = _settings(repository, version=1, force=True, estimator="forest")
    export_model(settings, log=_quiet, estimator_params=SMALL_FOREST)
    model_dir = repository / "iris"
    assert sorted(entry.name for entry in model_dir.iterdir()) == ["1"]
    assert json.loads((model_dir / "1" / "model.json").read_text())["estimator"]["kind"] == "forest"


def test_existing_version_without_force_is_refused_before_any_work(repository):
    before = _snapshot(repository)
    with pytest.raises(ExportError, match="already exists"):
        export_model(_settings(repository, version=1), log=_quiet)
    assert _snapshot(repository) == before


def test_next_free_version_follows_the_highest_published_one(tmp_path):
    for name in ("1", "3", "latest", ".staging-4-1-x"):
        (tmp_path / name).mkdir()
    assert publish.next_free_version(tmp_path) == 4
    assert publish.next_free_version(tmp_path / "latest") == 1


def _dead_pid() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(finished.stdout)


def test_staging_left_by_a_dead_export_is_removed(tmp_path):
    dead_pid = _dead_pid()
    abandoned = tmp_path / f"{publish.STAGING_PREFIX}2-{dead_pid}-abc"
    in_progress = tmp_path / f"{publish.STAGING_PREFIX}2-{os.getpid()}-def"
    abandoned.mkdir()
    in_progress.mkdir()
    assert publish.remove_abandoned_staging(tmp_path) == [abandoned]
    assert in_progress.exists()


def test_version_retired_by_a_dead_forced_export_is_restored(tmp_path):
    """Killed between moving the old version aside and moving the new one in: the old one returns."""
    retired = tmp_path / f"{publish.RETIRED_PREFIX}1-{_dead_pid()}-abc"
    (retired / "1").mkdir(parents=True)
    (retired / "1" / "model.json").write_text("{}")
    assert publish.remove_abandoned_staging(tmp_path) == [retired]
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["1"]
    assert (tmp_path / "1" / "model.json").read_text() == "{}"
