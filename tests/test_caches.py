"""The on-disk caches of the clause library: parsed TOML files and checked rules.

Every test points CONTRACTGEN_CACHE_DIR at its own folder. A cache may only ever save
work: the library, the selection and every error must be what they are without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minilib import module_toml, write_library

from contractgen import library as library_module
from contractgen import pipeline, rules
from contractgen.cache import cache_dir
from contractgen.errors import LibraryError
from contractgen.library import Library, load_library

REPO = Path(__file__).resolve().parents[1]


def _clear() -> None:
    cache_dir.cache_clear()
    load_library.cache_clear()
    pipeline._checked_library.cache_clear()
    rules._compiled.cache_clear()
    rules._ONE_EXPRESSION.clear()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache folder; files count as old enough to store however new they are."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(folder))
    monkeypatch.setattr(library_module._TomlFiles, "RECENT_NS", -60 * 10**9)
    _clear()
    yield folder
    _clear()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the TOML files parsed (not taken from the cache), in order."""
    parsed: list[str] = []
    real = library_module._read_toml

    def counting(path: Path, root: Path) -> dict[str, Any]:
        parsed.append(path.name)
        return real(path, root)

    monkeypatch.setattr(library_module, "_read_toml", counting)
    return parsed


def _describe(library: Library) -> Any:
    """Everything a library holds, as plain values."""
    modules = [(m.id, m.kind, m.area, m.order, m.version, m.include, m.requires, m.excludes,
                m.fields, m.parent, dict(m.titles), dict(m.definitions), m.notes, m.verify,
                m.meta_path, m.root) for m in library.modules]
    return modules, library.facts, dict(library.labels), dict(library.strings)


def _reload(root: Path) -> Library:
    load_library.cache_clear()
    return load_library(root)


def _entries(cache: Path, kind: str) -> list[Path]:
    folder = cache / kind
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) \
        if folder.is_dir() else []


def test_second_load_parses_nothing_and_gives_the_same_library(
        cache: Path, parses: list[str]) -> None:
    root = REPO.resolve()
    first = load_library(root)
    assert len(parses) > 90 and len(_entries(cache, "library")) == 1
    parses.clear()
    second = _reload(root)
    assert parses == []
    assert _describe(second) == _describe(first)


def test_cached_library_equals_an_uncached_one(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = REPO.resolve()
    load_library(root)
    cached = _describe(_reload(root))
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", "off")
    cache_dir.cache_clear()
    assert _describe(_reload(root)) == cached


def test_an_edited_clause_file_is_parsed_again(
        cache: Path, parses: list[str], tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib")
    load_library(root)
    path = root / "clauses" / "performance" / "step_in.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("Step-In", "Step In"),
                    encoding="utf-8")
    parses.clear()
    assert _reload(root).get("step_in").title("en") == "Step In"
    assert parses == ["step_in.toml"]


def test_an_edit_that_keeps_size_and_modification_time_is_seen(
        cache: Path, tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib")
    load_library(root)
    path = root / "clauses" / "performance" / "step_in.toml"
    before = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("Step-In", "Step-Up"),
                    encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert _reload(root).get("step_in").title("en") == "Step-Up"


def test_added_and_removed_files_are_seen(cache: Path, tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib")
    ids = {m.id for m in load_library(root).modules}
    extra = root / "clauses" / "performance" / "extra.toml"
    extra.write_text(module_toml("extra", "true", order=950), encoding="utf-8")
    assert {m.id for m in _reload(root).modules} == ids | {"extra"}
    extra.unlink()
    assert {m.id for m in _reload(root).modules} == ids


def test_a_recently_changed_file_is_not_stored(
        cache: Path, parses: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library_module._TomlFiles, "RECENT_NS", 3 * 10**9)
    root = write_library(tmp_path / "lib")  # every file is seconds old at most
    load_library(root)
    parses.clear()
    _reload(root)
    assert "step_in.toml" in parses


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", b"\x80\x05K\x01.", b"\x80\x05"])
def test_a_corrupted_cache_file_is_a_miss(
        cache: Path, parses: list[str], tmp_path: Path, garbage: bytes) -> None:
    root = write_library(tmp_path / "lib")
    expected = _describe(load_library(root))
    [entry] = _entries(cache, "library")
    entry.write_bytes(garbage)
    parses.clear()
    assert _describe(_reload(root)) == expected
    assert "step_in.toml" in parses
    parses.clear()
    _reload(root)  # the entry was written again
    assert parses == []


def test_cache_off_stores_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]) -> None:
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(library_module._TomlFiles, "RECENT_NS", -60 * 10**9)
    _clear()
    try:
        root = write_library(tmp_path / "lib")
        pipeline.open_library(root)
        parses.clear()
        _reload(root)
        assert "step_in.toml" in parses
        assert not (tmp_path / "xdg").exists()
    finally:
        _clear()


def test_an_unusable_cache_folder_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(blocker / "cache"))
    _clear()
    try:
        root = write_library(tmp_path / "lib")
        assert pipeline.open_library(root).get("step_in").id == "step_in"
    finally:
        _clear()


def test_a_cache_folder_that_fails_on_write_is_ignored(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    root = write_library(tmp_path / "lib")
    assert pipeline.open_library(root).get("step_in").id == "step_in"
    assert _entries(cache, "library") == [] and _entries(cache, "rules") == []
    assert not [p for p in (cache / "library").iterdir()]  # no temporary file left


@pytest.mark.parametrize("text, message", [
    ("id = \n", "step_in.toml: invalid TOML"),
    ('id = "step_in"\ncolour = "red"\n', "unknown key(s) colour"),
])
def test_a_library_error_is_reported_on_every_load(
        cache: Path, tmp_path: Path, text: str, message: str) -> None:
    root = write_library(tmp_path / "lib")
    load_library(root)
    (root / "clauses" / "performance" / "step_in.toml").write_text(text, encoding="utf-8")
    errors = []
    for _ in range(2):
        load_library.cache_clear()
        with pytest.raises(LibraryError) as caught:
            load_library(root)
        errors.append(str(caught.value))
    assert message in errors[0] and errors[0] == errors[1]


def test_checked_rules_are_not_parsed_again(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_library(tmp_path / "lib")
    pipeline.open_library(root)
    assert len(_entries(cache, "rules")) == 1
    _clear()

    def fail(*args: Any) -> Any:
        raise AssertionError("parsed a checked rule")

    monkeypatch.setattr(rules, "unknown_fields", fail)
    monkeypatch.setattr(rules, "_check_one_expression", fail)
    library = pipeline.open_library(root)
    deal = pipeline.load_deal(REPO / "examples" / "northwind-bpo.json", root=root)
    assert rules.select(library, deal.data).included_ids


def test_selection_is_the_same_with_checked_rules(cache: Path, tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib")
    deal_path = REPO / "examples" / "northwind-bpo.json"
    first = pipeline.choose(deal_path, root)[2]
    _clear()
    second = pipeline.choose(deal_path, root)[2]
    assert [(d.module.id, d.included, d.reason) for d in first.decisions] == \
        [(d.module.id, d.included, d.reason) for d in second.decisions]


def test_a_rule_naming_an_unknown_field_fails_every_time(cache: Path, tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib")
    pipeline.open_library(root)
    (root / "clauses" / "performance" / "step_in.toml").write_text(
        module_toml("step_in", "parties.vendor.repse_registraton is not none"),
        encoding="utf-8")
    for _ in range(2):
        _clear()
        with pytest.raises(LibraryError, match="parties.vendor.repse_registraton"):
            pipeline.open_library(root)


def test_a_rule_that_is_not_one_expression_is_never_stamped(
        cache: Path, tmp_path: Path) -> None:
    root = write_library(tmp_path / "lib", {"performance/step_in.toml": module_toml(
        "step_in", "true) }}{{ (false")})
    deal_path = REPO / "examples" / "northwind-bpo.json"
    for _ in range(2):
        _clear()
        with pytest.raises(LibraryError, match="is not a valid expression"):
            pipeline.choose(deal_path, root)
    assert _entries(cache, "rules") == []
