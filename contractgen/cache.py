"""The user's cache folder for contractgen: work that a cold start would otherwise redo.

Five kinds of entry live there, each in its own sub-folder:

* ``jinja-*``: compiled templates (Jinja's byte-code cache), keyed by each template's text;
* ``library``: the parsed TOML files of a clause library (see ``library.load_library``),
  one entry per library folder, each file's table keyed by its path, size and modification
  time;
* ``rules``: a stamp saying that a library's rules passed ``rules.check_rules``, keyed by
  a digest of the rules, the deal schema's fields, Jinja's version and contractgen's code;
* ``markdown``: the parsed trees of Markdown chunks (see ``mdtree``), keyed by their text;
* ``word``: the Word package without its body, as python-docx builds it for one set of
  document metadata (see ``writers.word``).

Caches never change an output or a message: an entry is only ever a result that the code
would compute again from the same inputs, and anything unreadable is a miss.
``CONTRACTGEN_CACHE_DIR=DIR`` moves the folder; ``CONTRACTGEN_CACHE_DIR=off`` turns caching
off. Where the folder cannot be created or written, contractgen runs without it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=8)
def cache_dir(kind: str) -> Path | None:
    """Return a writable cache folder for one kind of entry, or None (caching off)."""
    setting = os.environ.get("CONTRACTGEN_CACHE_DIR", "")
    if setting.lower() == "off":
        return None
    base = Path(setting) if setting else Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "contractgen"
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
