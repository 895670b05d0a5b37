"""Commit rendered files to disk atomically: all of them, or none.

Every output is first written to a temporary file in the target directory, then
renamed over its final name. An existing file (or symlink) is refused unless
``force``; with ``force`` a symlink is replaced, never written through. When anything
fails, the temporary files are removed and files that existed before are restored.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from contractgen.errors import OutputError


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


def check_targets(targets: list[Path], force: bool) -> None:
    """Refuse outputs that already exist (unless force) or that are not plain files."""
    for target in targets:
        if target.is_symlink() or target.exists():
            if target.is_dir() and not target.is_symlink():
                raise OutputError(f"{target}: is a directory; choose another output directory")
            if not force:
                raise OutputError(f"{target}: already exists (use --force to replace it)")


def _stage(directory: Path, name: str, data: bytes) -> Path:
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # inside the try: a failed chmod must not leave the temp file
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return Path(temp)


def _make_directory(directory: Path) -> list[Path]:
    """Create the directory (and missing parents); return what was created."""
    created = []
    for path in [directory, *directory.parents]:
        if path.exists():
            break
        created.append(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{directory}: cannot create the output directory: "
                          f"{_describe(error)}") from error
    if not directory.is_dir():
        raise OutputError(f"{directory}: is not a directory")
    return created


def commit(directory: Path, files: dict[str, bytes], force: bool) -> list[Path]:
    """Write ``files`` (name -> bytes) into ``directory`` atomically; return their paths."""
    targets = [directory / name for name in files]
    check_targets(targets, force)
    created = _make_directory(directory)
    staged: list[tuple[Path, Path]] = []
    backups: list[tuple[Path, Path]] = []
    done: list[Path] = []
    try:
        for name, data in files.items():
            staged.append((_stage(directory, name, data), directory / name))
        for temp, target in staged:
            if target.is_symlink() or target.exists():
                backup = _backup_name(directory, target)
                _keep(target, backup)
                backups.append((backup, target))
            os.replace(temp, target)
            done.append(target)
    except OSError as error:
        _roll_back(staged, backups, done, created)
        raise OutputError(f"{directory}: cannot write the output: {_describe(error)}") from error
    except BaseException:
        _roll_back(staged, backups, done, created)
        raise
    for backup, _ in backups:
        with contextlib.suppress(OSError):
            os.unlink(backup)
    return targets


_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV}


def _keep(target: Path, backup: Path) -> None:
    """Keep the file about to be replaced under ``backup``, to restore it if the commit fails.

    A hard link costs nothing; where the file system has none, the file is copied. A symlink
    is kept as itself (never the file it points to), so it can be restored as it was.
    """
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if target.is_symlink():
            os.symlink(os.readlink(target), backup)
        else:
            shutil.copy2(target, backup)


def _backup_name(directory: Path, target: Path) -> Path:
    """Return an unused name for a hard link that keeps a replaced file until success."""
    for attempt in range(1000):
        candidate = directory / f".{target.name}.{os.getpid()}.{attempt}.bak"
        if not candidate.exists():
            return candidate
    raise OutputError(f"{directory}: cannot find a free name for a backup of {target.name}")


def _roll_back(staged: list[tuple[Path, Path]], backups: list[tuple[Path, Path]],
               done: list[Path], created: list[Path]) -> None:
    """Undo a partial commit: drop temporaries, restore replaced files, remove new ones."""
    restored = {target for _, target in backups}
    for temp, _ in staged:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    for backup, target in backups:
        with contextlib.suppress(OSError):
            os.replace(backup, target)
        # Renaming a hard link onto the file it links to (target not yet replaced) does
        # nothing and leaves the backup behind: remove it, but only then.
        with contextlib.suppress(OSError):
            if os.path.samestat(os.lstat(backup), os.lstat(target)):
                os.unlink(backup)
    for target in done:
        if target not in restored:
            with contextlib.suppress(OSError):
                os.unlink(target)
    for path in created:
        with contextlib.suppress(OSError):
            path.rmdir()
