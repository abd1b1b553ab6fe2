"""Run `python -m server` where training libraries cannot be imported and pickles cannot be loaded.

    python tests/support/server_without_sklearn.py [server flags...]

Proves the server needs only its own image's packages. numpy itself imports the pickle module,
so pickle stays importable, but loading anything with it raises.
"""

import importlib.abc
import pickle
import runpy
import sys

BLOCKED_MODULES = frozenset({"sklearn", "skl2onnx", "onnx", "joblib", "cloudpickle", "dill"})


class BlockedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in BLOCKED_MODULES:
            raise ModuleNotFoundError(f"{fullname} is blocked: the server must not need it", name=fullname)
        return None


def _refuse_unpickling(*args, **kwargs):
    raise RuntimeError("pickle loading is blocked: nothing at runtime may open a pickle")


def block_training_libraries() -> None:
    for name in BLOCKED_MODULES:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, BlockedModuleFinder())
    pickle.load = pickle.loads = _refuse_unpickling
    pickle.Unpickler = _refuse_unpickling


if __name__ == "__main__":
    block_training_libraries()
    sys.path.insert(0, ".")  # the server runs from the repository root, as `python -m` would
    runpy.run_module("server", run_name="__main__", alter_sys=True)
