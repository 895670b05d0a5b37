"""The Word writer's skeletons in the cache folder: a warm run skips python-docx entirely.

``word._skeleton`` keeps each skeleton (every part but the body) in the ``word`` cache
folder, keyed by the document's metadata and its number of schedule lists. An entry may only
ever save work: the bytes written are those of a skeleton built with python-docx, and an
entry for other inputs, from other code or unreadable is a miss, built and written again.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_word_writer import make_document

from contractgen.cache import cache_dir, entry_name, read_entry, write_entry
from contractgen.model import Document
from contractgen.writers import word, word_package
from contractgen.writers.word import write_docx

REPO = Path(__file__).resolve().parents[1]
NORTHWIND = REPO / "examples" / "northwind-bpo.json"
BUILD = word_package.build_skeleton  # not counted by ``builds``


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache folder, and no skeleton in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(folder))
    cache_dir.cache_clear()
    word.clear_caches()
    yield folder
    cache_dir.cache_clear()
    word.clear_caches()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    """The (meta, schedules) of every skeleton built with python-docx, in order."""
    built: list[tuple[Any, int]] = []
    real = word_package.build_skeleton

    def counting(meta: Any, schedules: int) -> word._Skeleton:
        built.append((meta, schedules))
        return real(meta, schedules)

    monkeypatch.setattr(word_package, "build_skeleton", counting)
    return built


def uncached(doc: Document) -> bytes:
    """Write ``doc`` with a skeleton built with python-docx, bypassing both caches."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(word, "_skeleton", BUILD)
        return write_docx(doc)


def schedules(doc: Document) -> int:
    return len(word._schedules(doc)[0])


def entry_path(folder: Path, doc: Document) -> Path:
    name = entry_name("skeleton", repr(doc.meta), str(schedules(doc)))
    return folder / word._CACHE_KIND / name


def written_again(doc: Document) -> bytes:
    """Write ``doc`` in what is, for the writer, a new process (the folder stays)."""
    word.clear_caches()
    return write_docx(doc)


def test_an_entry_is_written_then_used(cache: Path, builds: list[tuple[Any, int]]) -> None:
    doc = make_document("en-GB")
    expected = uncached(doc)
    assert write_docx(doc) == expected
    assert builds == [(doc.meta, schedules(doc))]
    assert entry_path(cache, doc).is_file()
    built_ids = word._skeleton(doc.meta, schedules(doc)).style_ids

    assert written_again(doc) == expected
    assert len(builds) == 1
    loaded_ids = word._skeleton(doc.meta, schedules(doc)).style_ids
    assert loaded_ids is built_ids  # interned again, so cached blocks' keys match by identity


def test_style_ids_pickle_with_their_hash_recomputed() -> None:
    ids = word._StyleIds((("Normal", "Normal"), ("Heading 1", "Heading1")))
    loaded = pickle.loads(pickle.dumps(ids, protocol=pickle.HIGHEST_PROTOCOL))
    assert loaded == ids
    assert hash(loaded) == hash(ids)
    assert loaded.ids == {"Normal": "Normal", "Heading 1": "Heading1"}


@pytest.mark.parametrize(
    "change",
    [
        lambda meta: replace(meta, paper="letter"),  # the English document is on A4
        lambda meta: replace(meta, reference="X-1", title="A & <B>"),
        lambda meta: replace(meta, language="es-MX"),
    ],
    ids=["paper", "reference", "language"],
)
def test_an_entry_for_other_metadata_is_not_used(
    cache: Path, builds: list[tuple[Any, int]], change: Callable[[Any], Any]
) -> None:
    doc = make_document("en-GB")
    other = replace(doc, meta=change(doc.meta))
    assert other.meta != doc.meta
    write_docx(doc)
    # The entry of ``doc`` where the entry of ``other`` belongs (as if the names collided).
    entry_path(cache, other).write_bytes(entry_path(cache, doc).read_bytes())

    assert written_again(other) == uncached(other)
    assert builds == [(doc.meta, schedules(doc)), (other.meta, schedules(other))]
    stored = read_entry(word._CACHE_KIND, entry_path(cache, other).name)
    assert stored[1] == other.meta  # rewritten for its own metadata


def test_an_entry_for_another_number_of_schedule_lists_is_not_used(
    cache: Path, builds: list[tuple[Any, int]]
) -> None:
    doc = make_document("en-GB")
    write_docx(doc)
    skeleton = word._skeleton(doc.meta, schedules(doc))
    name = entry_name("skeleton", repr(doc.meta), str(schedules(doc) + 1))
    write_entry(word._CACHE_KIND, name, (word._skeleton_stamp(), doc.meta, schedules(doc),
                                         skeleton))
    word.clear_caches()
    assert word._skeleton(doc.meta, schedules(doc) + 1).main_tail == skeleton.main_tail
    assert builds[-1] == (doc.meta, schedules(doc) + 1)


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x80\x05not a pickle")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _wrong_shape(path: Path) -> None:
    path.write_bytes(pickle.dumps(("just", "a", "tuple")))


def _other_code(path: Path) -> None:
    stamp, meta, count, skeleton = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps((("other code",), meta, count, skeleton)))


def _not_a_skeleton(path: Path) -> None:
    stamp, meta, count, skeleton = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps((stamp, meta, count, skeleton.before)))


@pytest.mark.parametrize(
    "damage", [_garbage, _truncated, _empty, _wrong_shape, _other_code, _not_a_skeleton]
)
def test_a_bad_entry_is_a_miss_and_is_written_again(
    cache: Path, builds: list[tuple[Any, int]], damage: Callable[[Path], None]
) -> None:
    doc = make_document("es-MX")
    expected = write_docx(doc)
    path = entry_path(cache, doc)
    good = path.read_bytes()
    damage(path)

    assert written_again(doc) == expected
    assert len(builds) == 2
    stamp, meta, count, skeleton = pickle.loads(path.read_bytes())
    assert (stamp, meta, count) == pickle.loads(good)[:3]
    assert isinstance(skeleton, word._Skeleton)
    assert written_again(doc) == expected
    assert len(builds) == 2  # the entry written again is used


def test_caching_off_builds_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: list[tuple[Any, int]]
) -> None:
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", "off")
    monkeypatch.chdir(tmp_path)  # "off" is not a folder name: nothing appears here
    cache_dir.cache_clear()
    try:
        doc = make_document("en-GB")
        expected = written_again(doc)
        assert write_docx(doc) == expected  # the process's own cache still works
        assert len(builds) == 1
        assert written_again(doc) == expected
        assert len(builds) == 2
        assert list(tmp_path.iterdir()) == []
    finally:
        cache_dir.cache_clear()
        word.clear_caches()


RENDER = """
    import sys
    from pathlib import Path
    from contractgen.pipeline import build, write_formats
    from contractgen.writers import word

    document = build(Path(sys.argv[1]), "en").document
    Path(sys.argv[2]).write_bytes(write_formats(document, ("docx",))["docx"])
    ids = word._skeleton(document.meta, len(word._schedules(document)[0])).style_ids
    print("docx" in sys.modules, "lxml" in sys.modules, hash(ids) == hash(ids._key))
"""


def _render_in_new_process(folder: Path, out: Path, seed: str) -> str:
    env = {**os.environ, "CONTRACTGEN_CACHE_DIR": str(folder), "PYTHONHASHSEED": seed}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RENDER), str(NORTHWIND), str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_warm_process_writes_the_same_bytes_without_importing_python_docx(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    cold, warm = tmp_path / "cold.docx", tmp_path / "warm.docx"
    # Other hash seeds: the style ids' hash must not come from the process that stored them.
    assert _render_in_new_process(folder, cold, "1") == "True True True"
    assert list((folder / word._CACHE_KIND).iterdir())
    assert _render_in_new_process(folder, warm, "2") == "False False True"
    assert warm.read_bytes() == cold.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONTRACTGEN_CACHE_DIR", "off")
        cache_dir.cache_clear()
        try:
            from contractgen.pipeline import build

            assert uncached(build(NORTHWIND, "en").document) == cold.read_bytes()
        finally:
            cache_dir.cache_clear()
