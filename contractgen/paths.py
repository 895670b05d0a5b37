"""Where contractgen finds its library: clauses, templates, schemas and examples."""

from __future__ import annotations

from pathlib import Path

import contractgen

SCHEMA_FILE = "deal.schema.json"


def library_root(override: Path | None = None) -> Path:
    """Return the directory holding clauses/, templates/ and schemas/."""
    if override is not None:
        return override
    package_dir = Path(contractgen.__file__).resolve().parent
    bundled = package_dir / "_library"
    if bundled.is_dir():
        return bundled
    return package_dir.parent


def schema_path(root: Path | None = None) -> Path:
    """Return the path of the deal-sheet schema under the library root."""
    return library_root(root) / "schemas" / SCHEMA_FILE
