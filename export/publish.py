"""Atomic publication of a version directory in the model repository.

A version is built in a hidden staging directory inside the model's own directory (same
filesystem, so the final os.rename is atomic) and renamed to ``<version>`` only when
complete. Any exception, Ctrl-C or SIGTERM removes the staging directory. Readers of the
repository consider only all-digit directory names, so a staging directory left by a
SIGKILL is never mistaken for a version; the next export into the same model removes it
once its process is gone.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError

STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"


@contextlib.contextmanager
def model_directory(repository: Path, name: str) -> Iterator[Path]:
    """Yield ``repository/name``, created if needed and checked writable (else ExportError).

    If the block fails, the directories this call created are removed again (when still
    empty), so a failed first export leaves no trace either.
    """
    model_dir = repository / name
    created = [path for path in (model_dir, *model_dir.parents) if not path.exists()]  # deepest first
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise ExportError(f"repository {str(repository)!r} is not writable: {model_dir}: {reason}") from None
    try:
        if not os.access(model_dir, os.W_OK | os.X_OK):
            raise ExportError(f"repository {str(repository)!r} is not writable: {model_dir} denies writing")
        yield model_dir
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def published_versions(model_dir: Path) -> list[int]:
    return sorted(int(entry.name) for entry in model_dir.iterdir() if entry.is_dir() and entry.name.isdigit())


def next_free_version(model_dir: Path) -> int:
    versions = published_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def check_version_free(model_dir: Path, version: int, force: bool) -> None:
    version_dir = model_dir / str(version)
    if version_dir.exists() and not force:
        raise ExportError(f"version {version_dir} already exists (pass --force to replace it)")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_staging(model_dir: Path) -> list[Path]:
    """Clean up after exports that died (SIGKILL, power loss) and return what was removed.

    A staging directory is simply deleted. A retired directory holds the previous
    contents of a version being replaced with --force; if the export died before the new
    version was in place, that old version is moved back first.
    """
    removed = []
    for entry in model_dir.iterdir():
        if not entry.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)):
            continue
        parts = entry.name.split("-")  # .staging-<version>-<pid>-<random>
        if len(parts) != 4 or not parts[2].isdigit() or _process_alive(int(parts[2])):
            continue
        old_version, version_dir = entry / parts[1], model_dir / parts[1]
        if entry.name.startswith(RETIRED_PREFIX) and old_version.is_dir() and not version_dir.exists():
            os.rename(old_version, version_dir)
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _swap_into_place(staging: Path, version_dir: Path, force: bool) -> None:
    if not version_dir.exists():
        os.rename(staging, version_dir)
        return
    if not force:
        raise ExportError(f"version {version_dir} already exists (pass --force to replace it)")
    retired = Path(
        tempfile.mkdtemp(prefix=f"{RETIRED_PREFIX}{version_dir.name}-{os.getpid()}-", dir=version_dir.parent)
    )
    os.rename(version_dir, retired / version_dir.name)
    try:
        os.rename(staging, version_dir)
    except BaseException:
        os.rename(retired / version_dir.name, version_dir)
        retired.rmdir()
        raise
    shutil.rmtree(retired)


@contextlib.contextmanager
def staged_version(model_dir: Path, version: int, force: bool) -> Iterator[Path]:
    """Yield an empty staging directory; publish it as ``model_dir/version`` if the block succeeds."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}-{os.getpid()}-", dir=model_dir))
    except OSError as error:
        raise ExportError(f"model directory {str(model_dir)!r} is not writable: {error.strerror}") from None
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a published version is world-readable
        for path in [*staging.iterdir(), staging]:
            _fsync(path)
        _swap_into_place(staging, model_dir / str(version), force)
        _fsync(model_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
