"""Benchmarks for contractgen: print figures, assert nothing.

    python bench/run.py            # all benchmarks
    python bench/run.py --quick    # fewer repetitions and a smaller batch

(a) cold CLI rendering of the English example (.docx and .md), in the same run as
    `python -c pass` and pandoc converting the same Markdown to .docx (medians and ratios);
(b) warm, in-process time per contract (deal sheet to .docx and .md bytes): the same deal
    sheet again; two edit sessions, one change from render to render (each edit on top of
    the last) and two (each edit tried alone, the last undone), with the median of a pass
    and of each edit's fastest pass; and a deal sheet rendered for the first time in a warm
    process;
(c) batch throughput for generated deal sheets with --jobs 1 and --jobs 2;
(d) peak memory (maximum resident set size) of one CLI render, and of the largest process of
    a batch with --jobs 2;
(e) how the time of a render from scratch grows with contract size (1, 5 and 20 functions).

Cold figures are given with the cache folder that earlier runs filled (the normal case) and
with an empty one (the first run after installing). contractgen is byte-compiled first, as
pip does on install.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-bpo.json"
sys.path.insert(0, str(REPO))


def median_seconds(command: list[str], runs: int, cwd: Path,
                   env: dict[str, str] | None = None,
                   before: Callable[[], None] | None = None) -> float:
    """Run a command ``runs`` times; return the median wall time in seconds.

    ``before`` runs ahead of each run, outside the timing (to empty a cache folder).
    """
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def render_command(deal: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "contractgen", "render", str(deal), "-o", str(out), "--force"]


def with_cache(folder: Path) -> dict[str, str]:
    return {**os.environ, "CONTRACTGEN_CACHE_DIR": str(folder)}


def paired_medians(commands: list[list[str]], runs: int) -> list[float]:
    """Run the commands in turn, ``runs`` rounds; return each one's median wall time.

    Taking turns, rather than all runs of one then all of the next, keeps a change in the
    machine's speed during the benchmark from favouring one command.
    """
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for command, spent in zip(commands, times, strict=True):
            start = time.perf_counter()
            subprocess.run(command, cwd=REPO, check=True, capture_output=True)
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def cold(runs: int, work: Path) -> None:
    out = work / "cold"
    render = render_command(EXAMPLE, out)
    subprocess.run(render, cwd=REPO, check=True, capture_output=True)  # fill the cache folder
    markdown = out / "northwind-bpo.md"
    empty = work / "empty-cache"
    first = median_seconds(render, runs, REPO, with_cache(empty),
                           before=lambda: shutil.rmtree(empty, ignore_errors=True))
    pandoc = shutil.which("pandoc")
    convert = [str(pandoc), str(markdown), "-f", "commonmark+pipe_tables", "-o",
               str(work / "pandoc.docx")]
    commands = [render, [sys.executable, "-c", "pass"]] + ([convert] if pandoc else [])
    ours, bare, *theirs = paired_medians(commands, runs * 2 + 1)
    print(f"(a) cold CLI render (.docx + .md), median of {runs * 2 + 1}, taking turns with "
          "python -c pass and pandoc:")
    print(f"    with the cache folder from earlier runs: {ours * 1000:.0f} ms")
    print(f"    with an empty cache folder (a first run; median of {runs}): "
          f"{first * 1000:.0f} ms")
    print(f"    python -c pass: {bare * 1000:.0f} ms")
    if not theirs:
        print("    pandoc: not installed (apt-get install pandoc) - ratio not measured")
        return
    print(f"    pandoc Markdown -> .docx of the same text: {theirs[0] * 1000:.0f} ms; "
          f"contractgen / pandoc = {ours / theirs[0]:.2f} (first run {first / theirs[0]:.2f}), "
          "target <= 1.0")


def warm_seconds(paths: list[Path], runs: int, fresh: bool = False,
                 collector_between: bool = True) -> float:
    """Median seconds per contract (deal sheet to .docx and .md bytes) in this process.

    The paths are rendered in turn, ``runs`` times over; ``fresh`` clears the in-process
    output caches before each contract, so every template runs and every part is written.
    """
    return statistics.median(warm_times(paths * runs, fresh, collector_between))


def warm_times(paths: list[Path], fresh: bool = False,
               collector_between: bool = True) -> list[float]:
    """Seconds of each contract, rendered in turn in this process (``warm_seconds``).

    The cyclic garbage collector runs as in contractgen's own processes, between contracts
    (``collector.rendering``; its ``step`` is timed with the contract it follows), unless
    ``collector_between`` is false: then Python's default settings apply.
    """
    from contractgen import collector
    from contractgen.pipeline import build, clear_caches, write_formats

    write_formats(build(paths[0]).document, ("docx", "md"))  # load the library, compile
    times = []
    with collector.rendering() if collector_between else contextlib.nullcontext():
        for path in paths:
            if fresh:
                clear_caches()
            start = time.perf_counter()
            write_formats(build(path).document, ("docx", "md"))
            collector.step()
            times.append(time.perf_counter() - start)
    return times


def edit_session(count: int, folder: Path) -> list[Path]:
    """Write ``count`` one-change variants of the English example, as a lawyer's edits."""
    from contractgen.dealsheet import load_schema
    from contractgen.paths import library_root
    from contractgen.variants import generate

    edits = [v for v in generate(library_root(), load_schema())
             if v.name.startswith(EXAMPLE.stem + ":")]
    step = max(1, len(edits) // count)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, variant in enumerate(edits[::step][:count]):
        path = folder / f"edit-{index:03d}.json"
        path.write_text(json.dumps(variant.data), encoding="utf-8")
        paths.append(path)
    return paths


_ABSENT = object()  # a member one side lacks


def _changes(before: Any, after: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return where ``after`` differs from ``before``: each change is the path followed by
    ``after``'s value there (``_ABSENT`` where ``after`` lacks the member: ``_apply``
    deletes it). Objects, and lists of the same length, are compared member by member."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [change for key in {**before, **after}
                for change in _changes(before.get(key, _ABSENT), after.get(key, _ABSENT),
                                       (*path, key))]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [change for index, (a, b) in enumerate(zip(before, after, strict=True))
                for change in _changes(a, b, (*path, index))]
    same = type(before) is type(after) and before == after
    return [] if same else [(*path, after)]


def _apply(data: Any, change: tuple[Any, ...]) -> None:
    *path, key, value = change
    for step in path:
        data = data[step]
    if value is _ABSENT:
        del data[key]
    else:
        data[key] = copy.deepcopy(value)


def cumulative_session(edits: list[Path], folder: Path) -> list[Path]:
    """Write the edits of ``edit_session`` as a lawyer makes them: each on top of the ones
    before, so that each deal sheet differs from the one before by one change. An edit that
    would make the deal invalid there, or changes nothing, is left out."""
    from contractgen.dealsheet import validate

    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    deal = copy.deepcopy(base)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for edit in edits:
        changes = _changes(base, json.loads(edit.read_text(encoding="utf-8")))
        trial = copy.deepcopy(deal)
        for change in changes:
            _apply(trial, change)
        if trial == deal or validate(trial, edit.name):
            continue
        deal = trial
        path = folder / f"cumulative-{len(paths):03d}.json"
        path.write_text(json.dumps(deal), encoding="utf-8")
        paths.append(path)
    return paths


def session(name: str, edits: list[Path], runs: int) -> None:
    """Print the figures of an edit session: ``runs`` passes, each from the same start (the
    in-process caches cleared, the example rendered), then the edits in turn."""
    from contractgen.pipeline import clear_caches

    passes = []
    for _ in range(runs):
        clear_caches()
        warm_times([EXAMPLE] * (runs * 3))
        passes.append(warm_times(edits))
    medians = [statistics.median(times) * 1000 for times in passes]
    best = [min(times[index] for times in passes) for index in range(len(edits))]
    print(f"    {name}: median of the first pass {medians[0]:.1f} ms (the first time the "
          f"process meets these deal sheets); of {runs} passes from the same start, in turn: "
          f"{', '.join(f'{m:.1f}' for m in medians)} ms; median "
          f"{statistics.median(medians):.1f} ms; each edit's fastest pass (the least "
          f"disturbed by other processes), median over the edits: "
          f"{statistics.median(best) * 1000:.1f} ms")


def warm(runs: int, work: Path) -> None:
    from contractgen.pipeline import clear_caches

    print("(b) warm, in process, deal sheet -> .docx + .md bytes (target <= 15 ms):")
    same = warm_seconds([EXAMPLE], runs * 3)
    print(f"    the same deal sheet again, median of {runs * 3}: {same * 1000:.1f} ms")
    edits = edit_session(40, work / "edits")
    cumulative = cumulative_session(edits, work / "cumulative")
    session(f"an edit session as a lawyer edits ({len(cumulative)} edits of the example, "
            "each on top of the ones before: one change from one render to the next)",
            cumulative, runs)
    session(f"an edit session that tries one change at a time ({len(edits)} one-change "
            "variants of the example, each rendered after the last: the last change undone "
            "and a new one made, two changes from one render to the next)", edits, runs)
    clear_caches()
    warm_times([EXAMPLE] * (runs * 3), collector_between=False)
    by_default = statistics.median(warm_times(cumulative, collector_between=False))
    print(f"    the first session's pass with Python's default garbage collector settings "
          f"(for comparison): {by_default * 1000:.1f} ms")
    first = warm_seconds([EXAMPLE], runs, fresh=True)
    print(f"    the first contract of a process (in-process caches cleared; the cache folder "
          f"from earlier runs), median of {runs}: {first * 1000:.1f} ms")


def generated_deals(count: int, folder: Path) -> list[Path]:
    """Write ``count`` valid deal sheets (one-change variants of the examples)."""
    from contractgen.dealsheet import load_schema
    from contractgen.paths import library_root
    from contractgen.variants import generate

    variants = generate(library_root(), load_schema())
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"deal-{index:04d}.json"
        path.write_text(json.dumps(variants[index % len(variants)].data), encoding="utf-8")
        paths.append(path)
    return paths


def batch(count: int, work: Path) -> None:
    deals = generated_deals(count, work / "deals")
    for jobs in (1, 2):
        out = work / f"batch-{jobs}"
        command = [sys.executable, "-m", "contractgen", "render", *map(str, deals), "-o",
                   str(out), "--jobs", str(jobs), "--force"]
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        print(f"(c) batch of {count} deal sheets, --jobs {jobs}: {seconds:.1f} s, "
              f"{count / seconds:.1f} contracts/s (target >= 60/s with --jobs 2)")


def peak_kib(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command from a fresh probe process; return the largest resident set size (KiB)
    of any process it ran (the command and, for a batch, its workers)."""
    probe = (
        "import resource, subprocess, sys; "
        f"subprocess.run({command!r}, check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True,
                            capture_output=True, text=True, env=env)
    return int(result.stdout.strip())


def memory(work: Path, count: int) -> None:
    render = render_command(EXAMPLE, work / "mem")
    warm = peak_kib(render)
    first = peak_kib(render, with_cache(work / "mem-cache"))
    deals = generated_deals(count, work / "deals")
    batch_run = [sys.executable, "-m", "contractgen", "render", *map(str, deals), "-o",
                 str(work / "mem-batch"), "--jobs", "2", "--force"]
    workers = peak_kib(batch_run)
    print("(d) peak memory (maximum resident set size; target <= 60 MiB per process):")
    print(f"    one CLI render: {warm / 1024:.1f} MiB (empty cache folder: {first / 1024:.1f} MiB)")
    print(f"    batch of {count}, --jobs 2, largest process: {workers / 1024:.1f} MiB")


def scaling(runs: int, work: Path) -> None:
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    template = base["scope"]["functions"][1]
    results = []
    for size in (1, 5, 20):
        deal = copy.deepcopy(base)
        functions = []
        for index in range(size):
            function = copy.deepcopy(template)
            function["id"] = f"function_{index}"
            function["name"] = f"{template['name']} {index + 1}"
            functions.append(function)
        deal["scope"]["functions"] = functions
        deal["scope"]["extent"] = "multiple_functions" if size > 1 else "whole_function"
        for level in deal["performance"]["service_levels"]:
            level["function"] = "function_0"
        for rate in deal["commercials"]["rates"]:
            rate["function"] = "function_0"
        path = work / f"size-{size}.json"
        path.write_text(json.dumps(deal), encoding="utf-8")
        seconds = warm_seconds([path], runs, fresh=True)
        results.append((size, seconds))
        print(f"(e) {size:2d} function(s): {seconds * 1000:.1f} ms per contract "
              "(every render from scratch: no cache folder, in-process caches cleared)")
    (small, t1), (_, _), (large, t20) = results
    print(f"    growth from {small} to {large} functions: x{t20 / t1:.2f} "
          f"(linear in size would be at most x{large / small:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller batch")
    parser.add_argument("--scaling-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    runs = 3 if args.quick else 7
    if args.scaling_only:  # run by main() below with CONTRACTGEN_CACHE_DIR=off
        with tempfile.TemporaryDirectory() as tmp:
            scaling(runs, Path(tmp))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {platform.platform()}")
    # Byte-compile contractgen, as pip does when it installs the wheel (a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module on every start).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "contractgen")],
                   check=True)
    count = 40 if args.quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold(runs, work)
        warm(runs, work)
        batch(count, work)
        memory(work, count)
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--scaling-only", *(["--quick"] * args.quick)],
                   check=True, env={**os.environ, "CONTRACTGEN_CACHE_DIR": "off"})


if __name__ == "__main__":
    main()
