"""The cyclic garbage collector between contracts: contracts make no reference cycles, and
``collector.step`` collects and freezes only when automatic collection is off."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from contractgen import collector
from contractgen.pipeline import build, write_formats


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """Put the collector back as the test found it: on or off, nothing frozen."""
    enabled = gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        else:
            gc.disable()


class _Node:
    me: Any


def _unreachable_cycle() -> weakref.ref[_Node]:
    """Make an object that refers to itself and drop it: only the collector frees it."""
    node = _Node()
    node.me = node
    return weakref.ref(node)


def test_a_contract_leaves_no_reference_cycles(
        collector_restored: None, northwind: dict[str, Any],
        write_deal: Callable[..., Path]) -> None:
    """Everything a render makes is freed by reference counting, or kept by a cache: with
    the collector off, a collection afterwards finds nothing to free."""
    deal = write_deal(northwind, "deal.json")
    northwind["oversight"]["audit"]["notice_days"] += 5
    northwind["scope"]["functions"][0]["channels"].reverse()
    edited = write_deal(northwind, "edited.json")
    for language in ("en", "es"):  # load the library, compile the templates
        write_formats(build(deal, language).document, ("docx", "md"))
    gc.collect()
    gc.disable()
    for path, language in ((edited, "en"), (deal, "es"), (edited, "es"), (deal, "en")):
        write_formats(build(path, language).document, ("docx", "md"))
    assert gc.collect() == 0


def test_step_collects_and_freezes_once_enough_new_objects_are_kept(
        collector_restored: None) -> None:
    gc.collect()
    with collector.rendering():
        assert not gc.isenabled()
        dead = _unreachable_cycle()
        kept = [[] for _ in range(collector.NEW_OBJECTS // 2)]
        collector.step()
        assert dead() is not None  # too few new objects yet: no collection
        kept += [[] for _ in range(collector.NEW_OBJECTS)]
        frozen = gc.get_freeze_count()
        collector.step()
        assert dead() is None  # collected
        assert gc.get_freeze_count() >= frozen + len(kept)  # the survivors, frozen
        assert gc.get_count()[0] < 100  # counting starts again
    assert gc.isenabled()


def test_step_leaves_an_automatic_collector_alone(collector_restored: None) -> None:
    gc.enable()
    frozen = gc.get_freeze_count()
    kept = [[] for _ in range(2 * collector.NEW_OBJECTS)]
    collector.step()
    assert gc.get_freeze_count() == frozen
    assert len(kept) == 2 * collector.NEW_OBJECTS


def test_rendering_leaves_a_paused_collector_paused(collector_restored: None) -> None:
    gc.disable()
    with collector.rendering():
        pass
    assert not gc.isenabled()


def test_the_command_line_runs_with_automatic_collection_off(tmp_path: Path) -> None:
    """``main`` pauses the collector; ``validate`` steps it after each deal sheet."""
    code = textwrap.dedent(f"""
        import gc, sys
        from contractgen import cli, collector
        steps = []
        collector.step = lambda: steps.append(gc.isenabled())
        sys.argv = ["contractgen", "validate", {str(REPO / "examples/northwind-bpo.json")!r},
                    {str(REPO / "examples/bajio-nomina.json")!r}]
        try:
            cli.main()
        except SystemExit as done:
            print(done.code, gc.isenabled(), steps)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO, env=_env(tmp_path))
    assert result.stdout.split() == ["0", "False", "[False,", "False]"]


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "CONTRACTGEN_CACHE_DIR": str(tmp_path / "cache")}
