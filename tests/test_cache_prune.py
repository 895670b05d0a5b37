"""Pruning the user's cache folder: old and surplus entries go, nothing else is touched.

Times are set with ``os.utime`` and "now" is passed in, so nothing waits or depends on the
clock. Each test has its own cache folder.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NORTHWIND, REPO

from contractgen import cache, mdtree
from contractgen.cache import MAX_AGE, PRUNE_EVERY, PRUNE_STAMP, prune, prune_if_due

DAY = 86_400
JINJA = cache.jinja_folder()  # the folder of compiled templates this Jinja and Python use


@pytest.fixture
def now() -> float:
    """The time the prunes run at (the real time, so the folders' own times fit in)."""
    return float(int(time.time()))


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(folder))
    cache.cache_dir.cache_clear()
    yield folder
    cache.cache_dir.cache_clear()


def put(path: Path, now: float, days: float, size: int = 100,
        read_days: float | None = None) -> Path:
    """Write a file last modified ``days`` ago (and last read ``read_days`` ago)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    modified = now - days * DAY
    read = modified if read_days is None else now - read_days * DAY
    os.utime(path, (read, modified))
    return path


def hex32(n: int) -> str:
    return f"{n:032x}"


def jinja(n: int) -> str:
    return f"__jinja2_{n:040x}.cache"


def test_entries_unused_for_a_month_go_and_recent_ones_stay(base: Path, now: float) -> None:
    old = [put(base / "library" / hex32(1), now, 31), put(base / "rules" / hex32(2), now, 45),
           put(base / "word" / hex32(3), now, 400), put(base / JINJA / jinja(4), now, 31),
           put(base / "markdown" / "markdown", now, 60)]
    recent = [put(base / "library" / hex32(5), now, 29), put(base / "rules" / hex32(6), now, 0),
              put(base / "word" / hex32(7), now, 1), put(base / JINJA / jinja(8), now, 2),
              put(base / "markdown" / "markdown.bak", now, 60)]  # not an entry's name
    # Read yesterday, written long ago: used.
    read = put(base / JINJA / jinja(9), now, 90, read_days=1)
    done = prune(base, now)
    assert [p.exists() for p in old] == [False] * len(old)
    assert all(p.exists() for p in [*recent, read])
    assert (done.removed, done.freed) == (len(old), 100 * len(old))
    assert (done.kept, done.kept_bytes) == (5, 500)  # markdown.bak is not counted
    assert all((base / kind).is_dir() for kind in ("library", "rules", "word", "markdown", JINJA))


def test_the_budget_removes_the_least_recently_used_first(base: Path, now: float) -> None:
    kinds = ["library", "rules", "word", JINJA]
    files = []
    for day in range(1, 11):  # one entry per day, 1,000 bytes each, in every kind in turn
        kind = kinds[day % len(kinds)]
        files.append(put(base / kind / (jinja(day) if kind == JINJA else hex32(day)), now, day,
                         size=1000))
    # Written long ago but read today: as recent as can be.
    read = put(base / "word" / hex32(99), now, 20, size=1000, read_days=0)
    done = prune(base, now, max_bytes=4500)
    assert read.exists()
    assert [p.exists() for p in files] == [True] * 3 + [False] * 7  # the three newest stay
    assert (done.removed, done.freed, done.kept, done.kept_bytes) == (7, 7000, 4, 4000)
    assert prune(base, now, max_bytes=0).kept == 0


def test_crashed_writes_leave_temporary_files_that_go_after_an_hour(
        base: Path, now: float) -> None:
    stale = [put(base / "library" / f".{hex32(1)}.ab_cd123", now, 1 / 12),
             put(base / "markdown" / ".markdown.x1y2z3w4", now, 2),
             put(base / JINJA / f"{jinja(2)}k9_j8h7g.tmp", now, 1 / 12),
             put(base / "rules" / "tmpqwerty12", now, 1 / 12)]
    fresh = [put(base / "library" / f".{hex32(3)}.abcdefgh", now, 1 / 48),
             put(base / JINJA / f"{jinja(4)}abcdefgh.tmp", now, 1 / 48)]
    prune(base, now)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in fresh)


def test_foreign_files_and_symbolic_links_are_left_alone(
        base: Path, now: float, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    target = put(outside / hex32(1), now, 400)
    foreign = [
        put(base / "library" / "notes.txt", now, 400),
        put(base / "library" / hex32(0xABC).upper(), now, 400),
        put(base / "library" / (hex32(3) + "0"), now, 400),
        put(base / "rules" / jinja(4), now, 400),  # a Jinja name outside Jinja's folder
        put(base / JINJA / hex32(5), now, 400),  # and an entry's name inside it
        put(base / "mine" / hex32(6), now, 400),  # a folder contractgen never writes
        put(base / "jinja-notes" / jinja(7), now, 400),
        put(base / hex32(8), now, 400),  # not in a sub-folder
        put(base / "word" / hex32(9) / hex32(10), now, 400),  # a folder named as an entry
        put(base / "library" / ".notes.abcdefgh", now, 400),
    ]
    links = [base / "library" / hex32(11), base / "rules" / jinja(12)]
    for link in links:
        link.symlink_to(target)
        os.utime(link, (now - 400 * DAY, now - 400 * DAY), follow_symlinks=False)
    (outside / "folder").mkdir()
    inner = put(outside / "folder" / hex32(13), now, 400)
    for kind in ("markdown", "jinja-3.0.0-py39"):
        (base / kind).symlink_to(outside / "folder")
    before = sorted(str(p) for p in base.rglob("*"))
    prune(base, now, max_bytes=0)
    assert sorted(str(p) for p in base.rglob("*")) == before, set(before) ^ {
        str(p) for p in base.rglob("*")}
    assert all(p.exists() for p in [*foreign, target, inner])
    assert all(link.is_symlink() for link in links)


def test_a_link_to_a_folder_in_place_of_a_kind_is_not_followed(
        base: Path, now: float, tmp_path: Path) -> None:
    inner = put(tmp_path / "elsewhere" / hex32(1), now, 400)
    (base / "library").symlink_to(tmp_path / "elsewhere")
    prune(base, now, max_bytes=0)
    assert inner.exists() and (base / "library").is_symlink()


def test_an_old_jinja_folder_goes_once_it_has_been_empty_for_a_month(
        base: Path, now: float) -> None:
    orphan = base / "jinja-3.0.3-py39"
    old = [put(orphan / jinja(n), now, 40) for n in range(3)]
    shared = put(base / "jinja-3.2.0-py313" / jinja(5), now, 3)  # another installation's
    (base / "jinja-3.1.0rc1-py312").mkdir()
    os.utime(base / "jinja-3.1.0rc1-py312", (now - 40 * DAY, now - 40 * DAY))
    (base / JINJA).mkdir()
    os.utime(base / JINJA, (now - 400 * DAY, now - 400 * DAY))
    for kind in ("library", "rules"):
        (base / kind).mkdir()
        os.utime(base / kind, (now - 400 * DAY, now - 400 * DAY))
    prune(base, now)
    assert not any(p.exists() for p in old)
    assert orphan.is_dir()  # emptied just now: a process of that version may still write
    assert not (base / "jinja-3.1.0rc1-py312").exists()  # long empty
    assert shared.exists()
    assert (base / JINJA).is_dir() and (base / "library").is_dir() and (base / "rules").is_dir()
    prune(base, now + 10 * DAY)
    assert orphan.is_dir()
    prune(base, now + MAX_AGE + DAY)
    assert not orphan.exists()
    assert (base / JINJA).is_dir() and (base / "library").is_dir()


def test_a_prune_runs_at_most_once_a_day(base: Path, now: float) -> None:
    assert prune_if_due(now)
    assert (base / PRUNE_STAMP).stat().st_mtime == now
    stale = put(base / "library" / hex32(1), now, 40)
    assert not prune_if_due(now + 3600)
    assert not prune_if_due(now + PRUNE_EVERY - 1)
    assert stale.exists()
    assert prune_if_due(now + PRUNE_EVERY + 1)
    assert not stale.exists()
    assert not prune_if_due(now + PRUNE_EVERY + 2)
    # A stamp from the future (the clock was set back): due, and set to now.
    os.utime(base / PRUNE_STAMP, (now + 400 * DAY, now + 400 * DAY))
    assert prune_if_due(now)
    assert not prune_if_due(now + 1)


def test_nothing_is_pruned_with_caching_off_or_in_a_child_process(
        base: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = put(base / "library" / hex32(1), now, 40)
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", "off")
    assert not prune_if_due(now)
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(base))
    child = multiprocessing.get_context("spawn").Process(target=_prune_in_child, args=(now,))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert stale.exists() and not (base / PRUNE_STAMP).exists()
    assert prune_if_due(now) and not stale.exists()


def _prune_in_child(now: float) -> None:
    if not cache._in_child_process() or prune_if_due(now):
        sys.exit(1)


def test_errors_are_skipped_and_never_fail_a_run(
        base: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = [put(base / "library" / hex32(1), now, 40), put(base / JINJA / jinja(2), now, 40),
             put(base / "word" / f".{hex32(3)}.abcdefgh", now, 1)]
    (base / "jinja-2.11.3-py38").mkdir()
    os.utime(base / "jinja-2.11.3-py38", (now - 400 * DAY, now - 400 * DAY))

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(os, "unlink", refuse)
        patch.setattr(os, "rmdir", refuse)
        done = prune(base, now, max_bytes=0)
        assert (done.removed, done.kept) == (0, 2)
        assert prune_if_due(now)
    assert all(p.exists() for p in stale) and (base / "jinja-2.11.3-py38").exists()
    with monkeypatch.context() as patch:
        patch.setattr(os, "scandir", refuse)
        assert prune_if_due(now + 2 * DAY)  # nothing could be listed: nothing removed
    assert all(p.exists() for p in stale)
    with monkeypatch.context() as patch:
        patch.setattr(cache, "prune", refuse)
        assert not prune_if_due(now + 4 * DAY)
    # A stamp that cannot be written (here a folder in its place): no prune at all.
    (base / PRUNE_STAMP).unlink()
    (base / PRUNE_STAMP).mkdir()
    os.utime(base / PRUNE_STAMP, (now - 10 * DAY, now - 10 * DAY))
    assert not prune_if_due(now)
    assert all(p.exists() for p in stale)
    (base / PRUNE_STAMP).rmdir()
    assert prune_if_due(now + 6 * DAY)
    assert not any(p.exists() for p in stale) and not (base / "jinja-2.11.3-py38").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root ignores")
def test_a_read_only_folder_is_not_pruned_and_does_not_fail(base: Path, now: float) -> None:
    stale = put(base / "library" / hex32(1), now, 40)
    for folder in (base / "library", base):
        folder.chmod(0o555)
    try:
        assert not prune_if_due(now)
        assert prune(base, now).removed == 0
    finally:
        for folder in (base, base / "library"):
            folder.chmod(0o755)
    assert stale.exists()


def test_the_markdown_entry_stays_readable_when_pruned_under_an_open_store(
        base: Path, now: float) -> None:
    mdtree.clear_cache()
    texts = [f"Paragraph {n} of a text pruned while open.\n" for n in range(3)]
    trees = [mdtree.parse(text) for text in texts]
    mdtree.save()
    mdtree.clear_cache()
    stored = mdtree._stored()
    assert len(stored) == 3
    assert prune(base, now + 400 * DAY).removed >= 1
    assert not (base / "markdown" / "markdown").exists()
    assert [mdtree.parse(text) for text in texts] == trees
    assert all(stored.record(key) is not None for key in stored.index)
    mdtree.clear_cache()


def _render(base: Path, out: Path) -> dict[str, bytes]:
    env = {**os.environ, "CONTRACTGEN_CACHE_DIR": str(base)}
    subprocess.run([sys.executable, "-m", "contractgen", "render", str(NORTHWIND), "-o",
                    str(out), "--force"], check=True, capture_output=True, env=env, cwd=REPO)
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def _entries(base: Path) -> list[Path]:
    return [path for path in base.rglob("*") if path.is_file() and path.name != PRUNE_STAMP]


def test_a_render_after_a_prune_writes_the_same_files(
        base: Path, now: float, tmp_path: Path) -> None:
    first = _render(base, tmp_path / "first")
    assert set(first) == {"northwind-bpo.docx", "northwind-bpo.md"}
    assert (base / PRUNE_STAMP).is_file()  # the first run pruned (an empty folder)
    assert _entries(base)
    prune(base, time.time() + 400 * DAY, max_bytes=0)
    assert _entries(base) == []
    assert _render(base, tmp_path / "emptied") == first
    assert _entries(base)
    # The run that prunes: its outputs are the same, the stale entry goes, the stamp moves.
    stale = put(base / "library" / hex32(1), now, 40)
    os.utime(base / PRUNE_STAMP, (now - 2 * DAY, now - 2 * DAY))
    assert _render(base, tmp_path / "pruning") == first
    assert not stale.exists()
    assert (base / PRUNE_STAMP).stat().st_mtime > now - DAY
    assert _render(base, tmp_path / "after") == first


def test_a_render_survives_its_cache_folder_being_deleted_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jinja stores a compiled template in a folder that is gone: not kept, not an error."""
    from jinja2.bccache import Bucket

    from contractgen import sandbox

    folder = tmp_path / "cache"
    monkeypatch.setenv("CONTRACTGEN_CACHE_DIR", str(folder))
    cache.cache_dir.cache_clear()
    try:
        store = sandbox._bytecode_cache()
        assert store is not None
        shutil.rmtree(folder)
        bucket = Bucket(sandbox.environment(REPO), "x" * 40, "checksum")
        bucket.code = compile("x = 1", "<template>", "exec")
        store.dump_bytecode(bucket)  # the folder is gone: nothing stored, nothing raised
        assert not folder.exists()
    finally:
        cache.cache_dir.cache_clear()
