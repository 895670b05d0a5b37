"""Parsed Markdown chunks kept between runs in the user's cache folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contractgen import cache, mdtree

TEXT = "A paragraph with *emphasis*.\n\n1. [](#cg-anchor:one)An item.\n\n| A |\n|---|\n| 1 |\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(tmp_path))
    cache.cache_dir.cache_clear()
    mdtree.clear_cache()
    yield tmp_path
    mdtree.clear_cache()
    cache.cache_dir.cache_clear()


def _no_parser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make markdown-it unusable; return the list of texts it was asked to parse."""
    asked: list[str] = []

    def refuse(text: str, env: Any = None) -> Any:
        asked.append(text)
        raise AssertionError("parsed again")

    monkeypatch.setattr(mdtree._markdown(), "parse", refuse)
    return asked


def test_a_later_run_reuses_the_saved_trees(folder: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = mdtree.parse(TEXT)
    mdtree.save()
    assert (folder / "markdown" / "markdown").is_file()
    mdtree.clear_cache()  # as a new process
    asked = _no_parser(monkeypatch)
    assert mdtree.parse(TEXT) == first
    assert asked == []


def test_a_corrupted_entry_is_a_miss_and_is_rewritten(folder: Path) -> None:
    mdtree.parse(TEXT)
    mdtree.save()
    entry = folder / "markdown" / "markdown"
    entry.write_bytes(b"not a pickle")
    mdtree.clear_cache()
    tree = mdtree.parse(TEXT)
    mdtree.save()
    mdtree.clear_cache()
    assert mdtree.parse(TEXT) == tree
    assert entry.read_bytes() != b"not a pickle"


def test_an_entry_from_other_code_is_not_used(folder: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mdtree.parse(TEXT)
    mdtree.save()
    mdtree.clear_cache()
    monkeypatch.setattr(mdtree, "_stamp", lambda: ("other code", "0"))
    parsed: list[str] = []
    original = mdtree._markdown().parse
    monkeypatch.setattr(mdtree._markdown(), "parse",
                        lambda text, env=None: parsed.append(text) or original(text, env))
    mdtree.parse(TEXT)
    assert parsed  # parsed afresh


def test_nothing_is_written_when_caching_is_off(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.cache_dir.cache_clear()
    mdtree.clear_cache()
    try:
        mdtree.parse(TEXT)
        mdtree.save()
        assert list(tmp_path.iterdir()) == []
    finally:
        mdtree.clear_cache()
        cache.cache_dir.cache_clear()


def test_a_full_entry_keeps_only_what_this_process_used(folder: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    mdtree.parse("Old text nobody uses.\n")
    mdtree.save()
    mdtree.clear_cache()
    monkeypatch.setattr(mdtree, "_LIMIT", 1)
    mdtree.parse(TEXT)
    mdtree.save()
    mdtree.clear_cache()
    stored = mdtree._stored()
    assert "Old text nobody uses.\n" not in stored
    assert "A paragraph with *emphasis*." in stored


def test_a_render_saves_its_chunks_through_the_cli(folder: Path) -> None:
    from click.testing import CliRunner
    from conftest import NORTHWIND

    from contractgen.cli import cli

    result = CliRunner().invoke(cli, ["render", str(NORTHWIND), "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    mdtree.clear_cache()
    assert len(mdtree._stored()) > 100


def test_a_run_with_warm_caches_needs_neither_markdown_it_nor_python_docx(
        folder: Path) -> None:
    import os
    import subprocess
    import sys

    from conftest import NORTHWIND, REPO

    env = {**os.environ, "CONTRACTGEN_CACHE_DIR": str(folder)}
    render = [sys.executable, "-m", "contractgen", "render", str(NORTHWIND), "-o",
              str(folder / "out"), "--force"]
    subprocess.run(render, check=True, capture_output=True, env=env, cwd=REPO)
    probe = (
        "import sys; from pathlib import Path; "
        "from contractgen.pipeline import render_to_directory; "
        f"render_to_directory(Path({str(NORTHWIND)!r}), Path({str(folder / 'again')!r}), "
        "('docx', 'md')); "
        "print(sorted(m for m in ('markdown_it', 'docx', 'lxml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                            text=True, env=env, cwd=REPO)
    assert result.stdout.strip() == "[]"
    assert (folder / "again" / "northwind-bpo.docx").read_bytes() == (
        folder / "out" / "northwind-bpo.docx").read_bytes()


def test_a_damaged_record_is_a_miss_and_the_others_still_serve(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [f"Paragraph number {n} of the entry.\n" for n in range(3)]
    trees = [mdtree.parse(text) for text in texts]
    mdtree.save()
    entry = folder / "markdown" / "markdown"
    data = bytearray(entry.read_bytes())
    start = data.index(b"Paragraph number 1")
    data[start:start + 9] = b"Xaragraph"  # the record no longer holds its text
    entry.write_bytes(bytes(data))
    mdtree.clear_cache()
    parsed: list[str] = []
    original = mdtree._markdown().parse
    monkeypatch.setattr(mdtree._markdown(), "parse",
                        lambda text, env=None: parsed.append(text) or original(text, env))
    assert [mdtree.parse(text) for text in texts] == trees
    assert parsed == [texts[1]]


def test_a_truncated_entry_is_empty(folder: Path) -> None:
    mdtree.parse(TEXT)
    mdtree.save()
    entry = folder / "markdown" / "markdown"
    entry.write_bytes(entry.read_bytes()[:-10])
    mdtree.clear_cache()
    assert len(mdtree._stored()) == 0
    assert mdtree.parse(TEXT).children  # parsed afresh


def test_a_chunk_dropped_from_the_trees_is_read_from_its_record(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = mdtree.parse(TEXT)
    mdtree.parse.cache_clear()
    mdtree._parse_chunk.cache_clear()  # as when another contract's chunks took their place
    asked = _no_parser(monkeypatch)
    again = mdtree.parse(TEXT)
    assert again == first and again is not first
    assert asked == []


def test_records_past_the_memory_budget_are_parsed_again_when_saved(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mdtree, "_RECORDS", 0)  # keep no record in memory
    first = mdtree.parse(TEXT)
    assert mdtree._Store.fresh and all(r is None for r in mdtree._Store.fresh.values())
    mdtree._parse_chunk.cache_clear()
    mdtree.save()  # the trees were dropped: saving parses the chunks again
    mdtree.clear_cache()
    asked = _no_parser(monkeypatch)
    assert mdtree.parse(TEXT) == first
    assert asked == []
