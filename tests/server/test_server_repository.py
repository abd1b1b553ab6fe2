"""Loading the model repository: the committed artifact loads; bad ones fail with a clear line."""

import hashlib
import json
import pathlib
import shutil
from collections.abc import Callable

import pytest

from server.repository import ModelLoadError, ModelRepository
from tests.support.server_process import ARTIFACTS

LOAD_OPTIONS = {"intra_op_threads": 1, "inter_op_threads": 1, "max_batch_rows": 100}


def load(root: pathlib.Path, name: str = "iris", version: int | None = None):
    return ModelRepository(root).load(name, version, **LOAD_OPTIONS)


@pytest.fixture
def repository(tmp_path) -> pathlib.Path:
    """A copy of the committed artifacts/iris/1 (manifest and ONNX file only) to spoil."""
    (tmp_path / "iris" / "1").mkdir(parents=True)
    for name in ("model.json", "model.onnx"):
        shutil.copy(ARTIFACTS / "iris" / "1" / name, tmp_path / "iris" / "1" / name)
    return tmp_path


def edit_manifest(root: pathlib.Path, change: Callable[[dict], None], version: str = "1") -> None:
    path = root / "iris" / version / "model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_the_committed_artifact_loads_with_its_manifest_metadata():
    model = load(ARTIFACTS)
    manifest = json.loads((ARTIFACTS / "iris" / "1" / "model.json").read_text())
    assert (model.metadata.name, model.metadata.version) == ("iris", 1)
    assert model.metadata.sha256 == manifest["onnx"]["sha256"]
    assert model.metadata.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert model.metadata.class_names == ("setosa", "versicolor", "virginica")


def test_latest_is_the_highest_numbered_version(repository):
    shutil.copytree(repository / "iris" / "1", repository / "iris" / "10")
    shutil.copytree(repository / "iris" / "1", repository / "iris" / "9")
    (repository / "iris" / "drafts").mkdir()
    edit_manifest(repository, lambda m: m.update(version=10), version="10")
    assert ModelRepository(repository).versions("iris") == [1, 9, 10]
    assert load(repository).metadata.version == 10
    assert load(repository, version=1).metadata.version == 1


def flip_a_byte(root: pathlib.Path) -> None:
    path = root / "iris" / "1" / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def rename_input(manifest: dict) -> None:
    manifest["onnx"]["inputs"][0]["name"] = "features"


def five_features(manifest: dict) -> None:
    manifest["features"].append("stem_length")


def four_classes(manifest: dict) -> None:
    manifest["classes"].append({"id": 3, "name": "sibirica"})


def wider_probabilities(manifest: dict) -> None:
    manifest["onnx"]["outputs"][1]["shape"] = [None, 4]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda root: shutil.rmtree(root / "iris"), "no model 'iris' in repository"),
        (lambda root: shutil.rmtree(root / "iris" / "1"), "model 'iris' has no version directory"),
        (lambda root: (root / "iris" / "1" / "model.onnx").unlink(), "model.onnx is missing"),
        (lambda root: (root / "iris" / "1" / "model.json").unlink(), "model.json is missing"),
        (
            lambda root: (root / "iris" / "1" / "model.json").write_text("{"),
            "model.json is not readable JSON",
        ),
        (lambda root: edit_manifest(root, lambda m: m.pop("onnx")), "'onnx' is missing or not a JSON dict"),
        (lambda root: edit_manifest(root, lambda m: m.update(version="1")), "'version' is missing or not"),
        (lambda root: edit_manifest(root, lambda m: m.update(version=2)), "says model 'iris' version 2"),
        (flip_a_byte, "model.onnx is corrupt or replaced: its sha256 is"),
        (lambda root: edit_manifest(root, rename_input), "the graph's inputs"),
        (lambda root: edit_manifest(root, wider_probabilities), "the graph's outputs"),
        (lambda root: edit_manifest(root, five_features), "the server needs one input float32 [N, 5]"),
        (lambda root: edit_manifest(root, four_classes), "output 'probabilities' float32 [N, 4]"),
    ],
)
def test_a_bad_artifact_is_a_one_line_load_error(repository, spoil, message):
    spoil(repository)
    with pytest.raises(ModelLoadError) as error:
        load(repository)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unknown_version_lists_the_ones_there(repository):
    with pytest.raises(ModelLoadError, match=r"has no version 3 in .*: \[1\]"):
        load(repository, version=3)


def test_a_missing_repository_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model repository .*nowhere is not a directory"):
        load(tmp_path / "nowhere")


def test_an_onnx_file_onnxruntime_cannot_parse_is_named(repository):
    path = repository / "iris" / "1" / "model.onnx"
    path.write_bytes(b"not an onnx graph")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    edit_manifest(repository, lambda m: m["onnx"].update(sha256=digest))
    with pytest.raises(ModelLoadError, match=r"model\.onnx: onnxruntime cannot load it"):
        load(repository)
