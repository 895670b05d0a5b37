"""The user's cache folder for contractgen: work that a cold start would otherwise redo.

Six kinds of entry live there, each in its own sub-folder:

* ``jinja-*``: compiled templates (Jinja's byte-code cache), keyed by each template's text;
* ``library``: the parsed TOML files of a clause library (see ``library.load_library``),
  one entry per library folder, each file's table keyed by its path, size and modification
  time;
* ``rules``: a stamp saying that a library's rules passed ``rules.check_rules``, keyed by
  a digest of the rules, the deal schema's fields, Jinja's version and contractgen's code;
* ``valid``: a stamp saying that a deal sheet passed validation (``dealsheet.load_deal``,
  on a cold start), keyed by a digest of its data, the schema, contractgen's code and
  jsonschema's version;
* ``markdown``: the parsed trees of Markdown chunks (see ``mdtree``), keyed by their text;
* ``word``: the Word package without its body, as python-docx builds it for one set of
  document metadata (see ``writers.word``).

Caches never change an output or a message: an entry is only ever a result that the code
would compute again from the same inputs, and anything unreadable is a miss.
``CONTRACTGEN_CACHE_DIR=DIR`` moves the folder; ``CONTRACTGEN_CACHE_DIR=off`` turns caching
off. Where the folder cannot be created or written, contractgen runs without it.

The folder is kept bounded by ``prune_if_due``, which the CLI calls (through
``pipeline.save_caches``) after a render has committed its outputs: at most once a day it
removes entries unused for ``MAX_AGE`` and then the least recently used ones beyond
``MAX_BYTES`` (see ``prune``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from stat import S_ISREG
from typing import Any


def cache_base() -> Path | None:
    """Return the cache folder (which may not exist yet), or None (caching off)."""
    setting = os.environ.get("CONTRACTGEN_CACHE_DIR", "")
    if setting.lower() == "off":
        return None
    return Path(setting) if setting else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "contractgen"


@lru_cache(maxsize=8)
def cache_dir(kind: str) -> Path | None:
    """Return a writable cache folder for one kind of entry, or None (caching off)."""
    base = cache_base()
    if base is None:
        return None
    folder = base / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        return None
    return folder


def entry_name(*parts: str) -> str:
    """Return a file name for an entry identified by ``parts`` (such as a folder's path)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def read_entry(kind: str, name: str) -> Any:
    """Return the value stored as ``name``, or None if there is none or it cannot be read."""
    folder = cache_dir(kind)
    if folder is None:
        return None
    try:
        with open(folder / name, "rb") as handle:
            return pickle.load(handle)
    except Exception:  # missing, truncated, corrupted or from other code: a miss
        return None


def write_entry(kind: str, name: str, value: Any) -> None:
    """Store ``value`` as ``name``, atomically (temporary file, then rename); never fail."""
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PickleError, TypeError, AttributeError):
        return
    write_bytes(kind, name, [data])


def entry_path(kind: str, name: str) -> Path | None:
    """Return where the entry ``name`` is (or would be) kept, or None (caching off)."""
    folder = cache_dir(kind)
    return None if folder is None else folder / name


def write_bytes(kind: str, name: str, parts: Iterable[bytes]) -> None:
    """Store the concatenated ``parts`` as ``name``, atomically; never fail."""
    folder = cache_dir(kind)
    if folder is None:
        return
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{name}.", delete=False) as handle:
            temporary = handle.name
            handle.writelines(parts)
        os.replace(temporary, folder / name)
    except OSError:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


@lru_cache(maxsize=1)
def code_stamp() -> str:
    """Return a stamp of the code that computed an entry: Python, contractgen and its modules.

    Each of contractgen's modules counts by size and modification time, so an edited
    checkout invalidates entries even while the version number stays the same.
    """
    from contractgen import __version__

    parts = [sys.version, __version__]
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        try:
            stat = path.stat()
        except OSError:
            continue
        parts.append(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}")
    return entry_name(*parts)


def package_stamp(*packages: str) -> tuple[str, ...]:
    """Return a stamp of installed packages without importing them: the size and
    modification time of each one's ``__init__.py`` (a new version changes it)."""
    import importlib.util

    stamps = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        stamps.append(file_stamp(spec.origin if spec is not None and spec.origin else package))
    return tuple(stamps)


def file_stamp(path: str) -> str:
    """Return a file's path, size and modification time ("missing" if it cannot be read)."""
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


# Pruning: the folder is kept bounded, so that library copies, checkouts, install locations
# and Jinja or Python versions no longer used do not pile up in it.

# Entries unused for this long are removed. A user who renders at least once a month never
# loses an entry to age, while the entries of a library copy, checkout or install location
# no longer used (and the folder of an earlier Jinja or Python) go a month after their last
# use. Losing an entry that is still wanted costs one slower run (about 1 s more for a
# whole library's templates), never a different output.
MAX_AGE = 30 * 86_400
# The entries are kept within this many bytes, the least recently used removed first. One
# library in two languages leaves about 5 MB (2.9 MB of compiled templates, 0.2 MB of
# parsed TOML, up to a few MB of parsed Markdown shared by every library, a few kB of rules
# stamps and Word skeletons); each further library location about 3 MB more. 64 MiB holds
# a dozen library locations used within the month, and caps the worst case (114 MB in
# 12,584 files was seen on a developer's machine before pruning existed).
MAX_BYTES = 64 * 2**20
# A prune runs at most once a day, decided by the modification time of a stamp file in the
# cache folder: one ``stat`` per run; the prune itself took 2 ms for a usual folder, and
# 0.5 s once for that folder of 12,900 files (removing 5,300).
PRUNE_EVERY = 86_400
PRUNE_STAMP = ".pruned"
# A temporary file this old was left by a write that crashed (a write takes milliseconds).
TEMP_AGE = 3_600

# The names contractgen gives files, per sub-folder; nothing else is ever removed. Entries:
# ``entry_name`` (32 hex digits), the parsed-Markdown entry (``mdtree``), and Jinja's
# ``FileSystemBytecodeCache`` (its default pattern with a SHA-1 key). Temporary files:
# ``write_bytes`` (``.<name>.<random>``), Jinja's (``<entry><random>.tmp``) and the probe
# of ``cache_dir`` (``tmp<random>``), where <random> is ``tempfile``'s eight characters.
_RANDOM = "[a-z0-9_]{8}"
_HEX32 = re.compile("[0-9a-f]{32}")
_ENTRIES = {"library": _HEX32, "rules": _HEX32, "word": _HEX32, "valid": _HEX32,
            "markdown": re.compile("markdown")}
_TEMPORARY = re.compile(rf"\.(?:[0-9a-f]{{32}}|markdown)\.{_RANDOM}|tmp{_RANDOM}")
_JINJA_FOLDER = re.compile(r"jinja-[0-9][0-9A-Za-z.+!_-]*-py[0-9]+")
_JINJA_ENTRY = re.compile(r"__jinja2_[0-9a-f]{40}\.cache")
_JINJA_TEMPORARY = re.compile(rf"__jinja2_[0-9a-f]{{40}}\.cache{_RANDOM}\.tmp|tmp{_RANDOM}")


@dataclass(frozen=True)
class Pruned:
    """What a prune did: files removed and their bytes; entries kept and their bytes."""

    removed: int
    freed: int
    kept: int
    kept_bytes: int


def prune_if_due(now: float | None = None) -> bool:
    """Prune the cache folder if the last prune was a day ago or more; return whether it ran.

    When it is not due, this costs one ``stat``. It never raises (a cache must not fail a
    run whose outputs are committed), and does nothing in a child process such as a batch
    worker, nor where the stamp cannot be written (a folder it could not prune anyway).
    """
    try:
        base = cache_base()
        if base is None or _in_child_process():
            return False
        when = time.time() if now is None else now
        if not _claim(base / PRUNE_STAMP, when):
            return False
        prune(base, when)
    except Exception:  # OSError, or anything else a listing might raise: never fail a run
        return False
    return True


def _in_child_process() -> bool:
    """Whether this is a process that ``multiprocessing`` started (without importing it)."""
    processes = sys.modules.get("multiprocessing")
    return processes is not None and processes.parent_process() is not None


def _claim(stamp: Path, now: float) -> bool:
    """Return whether a prune is due, and if so set the stamp's time to ``now`` first (so a
    concurrent run does not prune too). A stamp more than a day in the future (the clock
    was set back) counts as due."""
    try:
        age = now - os.stat(stamp, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        pass
    else:
        if -PRUNE_EVERY < age < PRUNE_EVERY:
            return False
    fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.utime(fd if os.utime in os.supports_fd else stamp, (now, now))
    finally:
        os.close(fd)
    return True


def prune(base: Path, now: float, max_age: float = MAX_AGE,
          max_bytes: int = MAX_BYTES) -> Pruned:
    """Remove from the cache folder ``base``, as of the time ``now``:

    * temporary files older than ``TEMP_AGE`` (left by a write that crashed);
    * entries unused for ``max_age`` seconds, an entry's last use being the later of its
      modification and access times (where the file system records no reads, as with
      ``noatime``, an entry counts as used when it was written);
    * then, while the entries left hold more than ``max_bytes``, the least recently used;
    * a folder of compiled templates of another Jinja or Python (``jinja-<version>-py<ver>``)
      that has been empty for ``max_age`` (another installation may still use it: its
      entries go by age and budget like any, the folder only when it has long been empty).

    Only contractgen's own sub-folders are looked into, and in them only files named as
    contractgen names them are removed; symbolic links are neither followed nor removed.
    Errors are skipped (what cannot be removed stays). A run that finds an entry gone
    computes it again: every reader takes a missing file as a miss, and a file already
    open (the parsed-Markdown entry is read lazily) stays readable on POSIX.
    """
    current = jinja_folder()
    entries: list[tuple[float, int, str]] = []  # (last use, size, path)
    removed = freed = 0
    for folder in _listing(str(base)):
        if folder.name in _ENTRIES:
            names, temporaries = _ENTRIES[folder.name], _TEMPORARY
        elif _JINJA_FOLDER.fullmatch(folder.name):
            names, temporaries = _JINJA_ENTRY, _JINJA_TEMPORARY
        else:
            continue  # not contractgen's (or a kind it has never written): left alone
        try:
            if not folder.is_dir(follow_symlinks=False):
                continue
            listing = _listing(folder.path)
            if (not listing and folder.name != current and folder.name not in _ENTRIES
                    and now - folder.stat(follow_symlinks=False).st_mtime > max_age):
                os.rmdir(folder.path)  # fails, harmlessly, if a file appeared since
                continue
        except OSError:
            continue
        for item in listing:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if not S_ISREG(info.st_mode):
                continue
            if names.fullmatch(item.name):
                entries.append((max(info.st_mtime, info.st_atime), info.st_size, item.path))
            elif temporaries.fullmatch(item.name) and now - info.st_mtime > TEMP_AGE:
                if _remove(item.path):
                    removed, freed = removed + 1, freed + info.st_size
    entries.sort()
    kept: list[tuple[float, int, str]] = []
    for entry in entries:
        if now - entry[0] > max_age and _remove(entry[2]):
            removed, freed = removed + 1, freed + entry[1]
        else:
            kept.append(entry)
    total, left = sum(size for _, size, _ in kept), len(kept)
    for _, size, path in kept:  # the least recently used first
        if total <= max_bytes:
            break
        if _remove(path):
            removed, freed, total, left = removed + 1, freed + size, total - size, left - 1
    return Pruned(removed, freed, left, total)


def jinja_folder() -> str:
    """The sub-folder of compiled templates this process writes (``sandbox``'s choice)."""
    import jinja2

    return f"jinja-{jinja2.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"


def _listing(path: str) -> list[os.DirEntry[str]]:
    """Return a folder's entries ([] if it cannot be listed)."""
    try:
        with os.scandir(path) as items:
            return list(items)
    except OSError:
        return []


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
