"""Model repositories for tests: versions copied from the committed iris artifact, published the
way `python -m export` publishes (bench/publishing.py, which the bench shares), and spoiled on
purpose."""

import json
import pathlib

from bench.publishing import IRIS_VERSION_DIR, publish_copy

__all__ = ["IRIS_VERSION_DIR", "corrupt_onnx", "publish_copy", "write_policy"]


def corrupt_onnx(version_dir: pathlib.Path) -> None:
    """Change the ONNX file's last bytes, so its sha256 is no longer the manifest's."""
    path = version_dir / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")


def write_policy(repository: pathlib.Path, name: str, policy: dict) -> None:
    """Give model `name` a config.json with this version_policy, e.g. {"all": {}}."""
    (repository / name / "config.json").write_text(json.dumps({"version_policy": policy}))
