"""Model repositories for tests: versions copied from the committed iris artifact, published the
way `python -m export` publishes (a staging directory renamed into place), and spoiled on purpose."""

import json
import pathlib
import shutil

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "artifacts"
IRIS_VERSION_DIR = ARTIFACTS / "iris" / "1"
SERVED_FILES = ("model.json", "model.onnx")  # what the server reads (no pickle)


def publish_copy(
    repository: pathlib.Path, name: str, version: int, source: pathlib.Path = IRIS_VERSION_DIR
) -> pathlib.Path:
    """Publish `source`'s model as `name` version `version` of `repository`, atomically."""
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


def corrupt_onnx(version_dir: pathlib.Path) -> None:
    """Change the ONNX file's last bytes, so its sha256 is no longer the manifest's."""
    path = version_dir / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")


def write_policy(repository: pathlib.Path, name: str, policy: dict) -> None:
    """Give model `name` a config.json with this version_policy, e.g. {"all": {}}."""
    (repository / name / "config.json").write_text(json.dumps({"version_policy": policy}))
