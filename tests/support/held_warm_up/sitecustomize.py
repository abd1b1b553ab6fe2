"""Make every server process started with this folder on PYTHONPATH hold its model's warm-up.

    PYTHONPATH=tests/support/held_warm_up IRIS_TEST_RELEASE_DIR=DIR python -m server ...

Python imports sitecustomize at start-up, in a --workers parent's workers too. Each process's
warm-up then waits until DIR/release-<worker index> exists ("release-0" without --workers), so a
test can watch a server, or one of its workers, while it is still warming up.
"""

import importlib.abc
import importlib.machinery
import os
import pathlib
import sys
import time

POLL_SECONDS = 0.02


def _hold_warm_up(model_class: type) -> None:
    warm_up = model_class.warm_up
    index = os.environ.get("IRIS_WORKER_INDEX", "0")
    release = pathlib.Path(os.environ["IRIS_TEST_RELEASE_DIR"]) / f"release-{index}"

    def held_warm_up(model: object) -> None:
        while not release.exists():
            time.sleep(POLL_SECONDS)
        warm_up(model)

    model_class.warm_up = held_warm_up


class _HoldOnImport(importlib.abc.MetaPathFinder):
    """Patches server.model.OnnxModel as soon as the module is imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "server.model":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        exec_module = spec.loader.exec_module

        def exec_and_hold(module):
            exec_module(module)
            _hold_warm_up(module.OnnxModel)

        spec.loader.exec_module = exec_and_hold
        return spec


if "IRIS_TEST_RELEASE_DIR" in os.environ:
    sys.meta_path.insert(0, _HoldOnImport())
