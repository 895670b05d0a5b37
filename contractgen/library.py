"""Find and load the clause library: clause modules, facts, labels and skeleton strings.

A library is a folder laid out like the repository: ``clauses/`` (modules and
``facts.toml``), ``templates/`` (skeletons, ``labels.toml``, ``strings.toml``) and
``schemas/``. Loading checks the metadata strictly, so a typo in a key or a
reference to a missing module is a ``LibraryError`` (exit 5), not a silent default.

Parsing the TOML files is most of the cost of loading, so the parsed tables are kept in
the user's cache folder (see ``_TomlFiles``); the checks run on every load.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from contractgen.cache import code_stamp, entry_name, read_entry, write_entry
from contractgen.errors import LibraryError

LANGUAGES = ("en", "es")
KINDS = ("clause", "schedule", "section")
_KEYS = {
    "id", "kind", "area", "order", "version", "include", "requires", "excludes",
    "fields", "parent", "title", "definitions", "counsel",
}
_REQUIRED = ("id", "kind", "area", "order", "version", "include", "title")
_Stamp = tuple[int, int, int, int]  # a file's size, inode, modification and change times


@dataclass(frozen=True, eq=False)
class ClauseModule:
    """One clause module: its metadata and where its templates are."""

    id: str
    kind: str
    area: str
    order: int
    version: str
    include: str
    requires: tuple[str, ...]
    excludes: tuple[str, ...]
    fields: tuple[str, ...]
    parent: str | None
    titles: Mapping[str, str]
    definitions: Mapping[str, tuple[tuple[str, str], ...]]
    notes: str
    verify: tuple[str, ...]
    meta_path: Path
    root: Path

    @cached_property
    def location(self) -> str:
        """Return the metadata file's path in the library (``Library.rel``), for messages."""
        return _relative(self.root, self.meta_path)

    @cached_property
    def _stem(self) -> str:
        return self.location.removesuffix(".toml")

    def template_name(self, language: str) -> str:
        """Return the loader name of this module's template in a language."""
        return f"{self._stem}.{language}.md.j2"

    def template_path(self, language: str) -> Path:
        """Return the file of this module's template in a language."""
        return self.root / self.template_name(language)

    def title(self, language: str) -> str:
        """Return the module's title in a language."""
        return self.titles[language]


@dataclass(frozen=True)
class Fact:
    """A named expression over the deal that rules and templates can use."""

    name: str
    rule: str
    description: str


@dataclass(frozen=True, eq=False)
class Library:
    """The clause library: modules sorted by order, facts, labels and strings."""

    root: Path
    modules: tuple[ClauseModule, ...]
    facts: tuple[Fact, ...]
    labels: Mapping[str, Any]
    strings: Mapping[str, Any]

    @cached_property
    def _by_id(self) -> dict[str, ClauseModule]:
        return {module.id: module for module in self.modules}

    def get(self, module_id: str) -> ClauseModule:
        """Return the module with this id, or raise LibraryError."""
        try:
            return self._by_id[module_id]
        except KeyError:
            raise LibraryError(f"no clause module with id {module_id!r}") from None

    def skeleton_name(self, language: str) -> str:
        """Return the loader name of the agreement skeleton in a language."""
        return f"templates/agreement.{language}.md.j2"

    def rel(self, path: Path) -> str:
        """Return a path relative to the library root, for messages."""
        return _relative(self.root, path)


@lru_cache(maxsize=1024)
def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _read_toml(path: Path, root: Path) -> dict[str, Any]:
    import tomllib  # only when a file is not in the cache folder

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise LibraryError(f"{path.relative_to(root)}: invalid TOML: {error}") from error
    except OSError as error:
        raise LibraryError(f"{path}: cannot read: {error.strerror}") from error


class _TomlFiles:
    """Read a library's TOML files, reusing the tables that earlier runs parsed.

    The tables are cached in the ``library`` cache folder, one entry per library folder,
    valid for the code that wrote it (``cache.code_stamp``). A file's table is reused while
    the file's size, inode and modification and change times (in ns) are unchanged. A file
    changed in the last few seconds is not stored, since a second edit within the file
    system's clock resolution could leave all of them unchanged. Only files that parse are
    stored, so a TOML error is reported on every run.
    """

    RECENT_NS = 3_000_000_000

    def __init__(self, root: Path):
        self.root = root
        self.name = entry_name("library", str(root))
        stored = read_entry("library", self.name)
        valid = (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == code_stamp()
                 and isinstance(stored[1], dict))
        self.stored: dict[str, tuple[_Stamp, dict[str, Any]]] = stored[1] if valid else {}
        self.kept: dict[str, tuple[_Stamp, dict[str, Any]]] = {}
        self.parsed = False
        self.recent = time.time_ns() - self.RECENT_NS

    def read(self, path: Path) -> dict[str, Any]:
        """Return the parsed table of one TOML file."""
        key = str(path)
        try:
            stat = os.stat(path)
        except OSError:
            return _read_toml(path, self.root)  # reports the error
        stamp = (stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns)
        entry = self.stored.get(key)
        if entry is not None and entry[0] == stamp:
            self.kept[key] = entry
            return entry[1]
        table = _read_toml(path, self.root)
        if max(stat.st_mtime_ns, stat.st_ctime_ns) < self.recent:
            self.kept[key] = (stamp, table)
            self.parsed = True
        return table

    def save(self) -> None:
        """Store the tables read, if they differ from the stored ones."""
        if self.parsed or self.kept.keys() != self.stored.keys():
            write_entry("library", self.name, (code_stamp(), self.kept))


def _str_tuple(meta: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = meta.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LibraryError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _definitions(meta: dict[str, Any], where: str) -> dict[str, tuple[tuple[str, str], ...]]:
    raw = meta.get("definitions", {})
    if not isinstance(raw, dict) or not set(raw) <= set(LANGUAGES):
        raise LibraryError(f"{where}: [definitions] must have tables named {', '.join(LANGUAGES)}")
    out = {}
    for lang, table in raw.items():
        if not all(isinstance(v, str) and v.strip() for v in table.values()):
            raise LibraryError(f"{where}: [definitions.{lang}] values must be non-empty text")
        out[lang] = tuple(table.items())
    return out


def _module(path: Path, root: Path, files: _TomlFiles) -> ClauseModule:
    where = path.relative_to(root).as_posix()
    meta = files.read(path)
    unknown = sorted(set(meta) - _KEYS)
    if unknown:
        raise LibraryError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise LibraryError(f"{where}: missing key(s) {', '.join(missing)}")
    if meta["id"] != path.stem:
        raise LibraryError(f"{where}: id {meta['id']!r} must equal the file name {path.stem!r}")
    if meta["kind"] not in KINDS:
        raise LibraryError(f"{where}: kind must be one of {', '.join(KINDS)}")
    if not isinstance(meta["order"], int):
        raise LibraryError(f"{where}: order must be a whole number")
    titles = meta["title"]
    if not isinstance(titles, dict) or not all(isinstance(t, str) for t in titles.values()):
        raise LibraryError(f"{where}: [title] must give a title per language")
    if (meta["kind"] == "section") != ("parent" in meta):
        raise LibraryError(f"{where}: a parent is required for, and only for, kind = 'section'")
    counsel = meta.get("counsel", {})
    return ClauseModule(
        id=meta["id"],
        kind=meta["kind"],
        area=str(meta["area"]),
        order=meta["order"],
        version=str(meta["version"]),
        include=str(meta["include"]),
        requires=_str_tuple(meta, "requires", where),
        excludes=_str_tuple(meta, "excludes", where),
        fields=_str_tuple(meta, "fields", where),
        parent=meta.get("parent"),
        titles=dict(titles),
        definitions=_definitions(meta, where),
        notes=str(counsel.get("notes", "")),
        verify=tuple(counsel.get("verify", [])),
        meta_path=path,
        root=root,
    )


def _check_relations(modules: tuple[ClauseModule, ...], root: Path) -> None:
    ids = {m.id for m in modules}
    orders: dict[int, str] = {}
    for m in modules:
        where = m.meta_path.relative_to(root).as_posix()
        if m.order in orders:
            raise LibraryError(f"{where}: order {m.order} is also used by {orders[m.order]}")
        orders[m.order] = m.id
        for other in (*m.requires, *m.excludes):
            if other not in ids:
                raise LibraryError(f"{where}: refers to unknown clause module {other!r}")
        if m.parent is not None:
            if m.parent not in ids:
                raise LibraryError(f"{where}: parent {m.parent!r} does not exist")
            if next(p for p in modules if p.id == m.parent).kind != "schedule":
                raise LibraryError(f"{where}: parent {m.parent!r} is not a schedule")


def _facts(root: Path, files: _TomlFiles) -> tuple[Fact, ...]:
    path = root / "clauses" / "facts.toml"
    if not path.exists():
        return ()
    facts = []
    for name, table in files.read(path).items():
        if not isinstance(table, dict) or "rule" not in table:
            raise LibraryError(f"clauses/facts.toml: [{name}] needs a rule")
        facts.append(Fact(name, str(table["rule"]), str(table.get("description", ""))))
    return tuple(facts)


@lru_cache(maxsize=8)
def load_library(root: Path) -> Library:
    """Load and check the clause library under ``root``."""
    clauses = root / "clauses"
    if not clauses.is_dir():
        raise LibraryError(f"{root}: no clauses/ folder (is this a contractgen library?)")
    files = _TomlFiles(root)
    seen: dict[str, Path] = {}
    modules = []
    for path in sorted(clauses.rglob("*.toml")):
        if path.name == "facts.toml" and path.parent == clauses:
            continue
        module = _module(path, root, files)
        if module.id in seen:
            raise LibraryError(f"{module.id}: defined twice ({seen[module.id]} and {path})")
        seen[module.id] = path
        modules.append(module)
    ordered = tuple(sorted(modules, key=lambda m: m.order))
    _check_relations(ordered, root)
    templates = root / "templates"
    labels = files.read(templates / "labels.toml") if templates.is_dir() else {}
    strings = files.read(templates / "strings.toml") if templates.is_dir() else {}
    library = Library(root, ordered, _facts(root, files), labels, strings)
    files.save()
    return library
