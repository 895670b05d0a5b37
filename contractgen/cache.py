"""The user's cache folder for contractgen (compiled templates).

Caches never change an output: every entry is keyed by the text it was made from.
``CONTRACTGEN_CACHE_DIR=DIR`` moves the folder; ``CONTRACTGEN_CACHE_DIR=off`` turns caching
off. Where the folder cannot be created or written, contractgen runs without it.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path


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
