"""How a batch is cut into the pieces handed to worker processes, and written."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from contractgen.batch import Job, chunked, render_many


@pytest.mark.parametrize("count", [0, 1, 2, 7, 31, 200, 1001])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_every_job_once_in_order(count: int, workers: int) -> None:
    jobs = list(range(count))
    chunks = chunked(jobs, workers)
    assert [job for chunk in chunks for job in chunk] == jobs
    assert all(1 <= len(chunk) <= 8 for chunk in chunks)


def test_pieces_shrink_towards_the_end() -> None:
    sizes = [len(chunk) for chunk in chunked(list(range(200)), 2)]
    assert sizes[0] == 8  # a few deals per hand-over while there is plenty left
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-8:] == [1] * 8  # the last ones one by one: no worker waits on a long piece


def test_small_batches_go_one_by_one() -> None:
    assert [len(c) for c in chunked(list(range(7)), 2)] == [1] * 7


def test_files_are_written_while_the_next_contract_renders(tmp_path: Path, minilib: Path,
                                                           northwind: dict[str, Any]) -> None:
    """One process, in order: each outcome comes once its files are in place; a deal whose
    files cannot be written (one exists, no --force) fails alone, and so does a bad one."""
    deals = []
    for name in ("a", "b", "c", "d"):
        deals.append(tmp_path / f"{name}.json")
        deals[-1].write_text(json.dumps(northwind), encoding="utf-8")
    deals[2].write_text("{", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.md").write_text("the lawyer's own edits\n", encoding="utf-8")
    jobs = [Job(deal, out, ("md",), None, False, minilib) for deal in deals]
    outcomes = list(render_many(jobs, 1))
    assert [o.deal for o in outcomes] == deals
    assert [o.exit_code for o in outcomes] == [0, 6, 3, 0]
    assert "already exists" in outcomes[1].error
    assert outcomes[0].written == (out / "a.md",) and outcomes[3].written == (out / "d.md",)
    assert (out / "b.md").read_text(encoding="utf-8") == "the lawyer's own edits\n"
    assert sorted(p.name for p in out.iterdir()) == ["a.md", "b.md", "d.md"]
    assert (out / "a.md").read_bytes() == (out / "d.md").read_bytes()


def test_a_worker_collects_between_contracts(tmp_path: Path) -> None:
    """While a worker renders, the collector runs only between contracts
    (``collector.rendering``: ``step`` after each); then it is back on."""
    code = textwrap.dedent(f"""
        import gc
        from pathlib import Path
        from contractgen import batch
        job = batch.Job(Path({str(tmp_path / "missing.json")!r}), Path({str(tmp_path)!r}),
                        ("md",), None, False, None)
        from contractgen import collector
        steps = []
        collector.step = lambda: steps.append(gc.isenabled())
        first, second = batch.run_jobs([job, job])
        print(gc.isenabled(), steps, second.exit_code)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO)
    assert result.stdout.split() == ["True", "[False,", "False]", "3"]
