"""Model repositories for the `repository` group: versions copied from the committed iris artifact,
published as `python -m export` publishes them (a staging directory renamed into place)."""

import json
import pathlib
import shutil

IRIS_VERSION_DIR = pathlib.Path(__file__).resolve().parents[1] / "artifacts" / "iris" / "1"
SERVED_FILES = ("model.json", "model.onnx")  # what the server reads (no pickle)


def publish_copy(
    repository: pathlib.Path, name: str, version: int, source: pathlib.Path = IRIS_VERSION_DIR
) -> pathlib.Path:
    """Publish `source`'s model as `name` version `version` of `repository`, atomically: the server
    sees no version directory, then a complete one."""
    model_dir = repository / name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".staging-{version}"
    staging.mkdir()
    for file_name in SERVED_FILES:
        shutil.copy(source / file_name, staging / file_name)
    manifest = json.loads((staging / "model.json").read_text())
    manifest.update(name=name, version=version)
    (staging / "model.json").write_text(json.dumps(manifest))
    return staging.rename(model_dir / str(version))


def fresh_repository(path: pathlib.Path, versions: dict[str, list[int]]) -> pathlib.Path:
    """An empty directory at `path` (whatever was there is removed), holding these versions of
    these models, e.g. {"iris": [1, 2, 3]}."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    for name, numbers in versions.items():
        for version in numbers:
            publish_copy(path, name, version)
    return path
