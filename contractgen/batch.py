"""Render many deal sheets, in parallel processes, one outcome per deal sheet.

One bad deal sheet never stops the others: each outcome carries either the files written
or the error and its exit code. Workers load the clause library once and reuse compiled
templates for every deal they render.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from contractgen import collector
from contractgen.errors import ContractgenError
from contractgen.output import commit
from contractgen.pipeline import open_library, render_files, save_caches

EXIT_INTERNAL = 1
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome:
    """What happened to one deal sheet."""

    deal: Path
    written: tuple[Path, ...] = ()
    error: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to render one deal sheet."""

    deal: Path
    out_dir: Path
    formats: tuple[str, ...]
    language: str | None
    force: bool
    root: Path | None


def _attempt(job: Job, work: Callable[[], R]) -> R | Outcome:
    """Run part of a job; a failure becomes the job's Outcome."""
    try:
        return work()
    except ContractgenError as error:
        return Outcome(job.deal, error=str(error), exit_code=error.exit_code)
    except Exception as error:  # a bug in one deal must not stop the batch
        return Outcome(job.deal, error=f"internal error: {type(error).__name__}: {error}",
                       exit_code=EXIT_INTERNAL)


def run_jobs(jobs: list[Job]) -> list[Outcome]:
    """Render a few deal sheets in one worker, one outcome each."""
    return list(_overlapped(jobs))


def _overlapped(jobs: list[Job]) -> Iterator[Outcome]:
    """Yield one outcome per job, in order, writing each contract's files while the next
    contract renders.

    Writing a contract's files (``output.commit``) mostly waits on the disk (each file is
    flushed with ``fsync`` before it is renamed into place); a second thread does it, so
    the wait costs the batch no time. The commit is the same, one contract at a time, and
    a job's outcome is given only once its files are in place (or the commit failed).

    The cyclic garbage collector runs between contracts, not within them (``collector``).
    """
    with collector.rendering(), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as disk:
        writing: tuple[Job, Future[list[Path]]] | None = None
        for job in jobs:
            rendered = _attempt(job, partial(render_files, job.deal, job.formats,
                                             job.language, job.root))
            collector.step()
            if writing is not None:
                yield _written(*writing)
                writing = None
            if isinstance(rendered, Outcome):
                yield rendered
            else:
                writing = (job, disk.submit(commit, job.out_dir, rendered, job.force))
        if writing is not None:
            yield _written(*writing)


def _written(job: Job, commit_done: Future[list[Path]]) -> Outcome:
    """Wait for a job's commit; return its outcome."""
    written = _attempt(job, commit_done.result)
    return written if isinstance(written, Outcome) else Outcome(job.deal, tuple(written))


def default_jobs() -> int:
    """Return the number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _warm(root: Path | None) -> None:
    """Import the pipeline, load the library and compile its templates, once per process."""
    from contractgen import mdtree
    from contractgen.dealsheet import validators
    from contractgen.sandbox import environment
    from contractgen.writers import markdown, word  # noqa: F401  (imported once, here)

    try:
        library = open_library(root)
        validators(library.root)  # a batch validates every deal sheet: jsonschema too, once
    except ContractgenError:
        return  # reported for each deal sheet as it renders
    mdtree.preload()
    env = environment(library.root)
    for module in library.modules:
        for language in module.titles:
            if module.template_path(language).exists():
                try:
                    env.get_template(module.template_name(language))
                except Exception:  # a broken template is reported per deal sheet
                    continue
    # The library, its compiled templates and the modules stay for the process's life: the
    # cyclic garbage collector need not scan them again for every contract (a few ms each),
    # and forked workers do not copy their pages by touching them.
    gc.freeze()


def render_many(jobs: list[Job], workers: int) -> Iterator[Outcome]:
    """Yield one Outcome per job, as they finish (in order when run in one process)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from _overlapped(jobs)
        save_caches()
        return
    root = jobs[0].root
    _warm(root)  # forked workers start with the library loaded and its templates compiled
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_warm,
                             initargs=(root,)) as pool:
        futures = [pool.submit(run_jobs, chunk) for chunk in chunked(jobs, workers)]
        for future in as_completed(futures):
            yield from future.result()
    save_caches()  # the workers' parses are theirs; this prunes the cache folder when due


_LARGEST_CHUNK = 8


def chunked(jobs: list[T], workers: int) -> list[list[T]]:
    """Cut the jobs into the pieces handed to workers: a few deal sheets each at first (one
    hand-over per deal costs the parent about a millisecond), then smaller towards the end,
    so that no worker is left with a long piece while the others have finished."""
    chunks = []
    start = 0
    while start < len(jobs):
        size = min(_LARGEST_CHUNK, max(1, (len(jobs) - start) // (workers * 4)))
        chunks.append(jobs[start:start + size])
        start += size
    return chunks
