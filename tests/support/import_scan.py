"""Which top-level modules a package of ours imports: the dependency tests compare them with its image."""

import ast
import pathlib


def imported_top_level_names(package_dir: pathlib.Path) -> dict[str, set[str]]:
    """{top-level module name: files importing it} over every .py file under `package_dir`."""
    names: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                names.setdefault(module.split(".")[0], set()).add(path.name)
    return names


def imported_modules(path: pathlib.Path) -> set[str]:
    """The dotted names one file imports; `from a import b` counts as both `a` and `a.b` (b may be
    a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names
