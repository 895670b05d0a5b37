"""Benchmarks for contractgen: print figures, assert nothing.

    python bench/run.py            # all benchmarks
    python bench/run.py --quick    # fewer repetitions and a smaller batch

(a) cold CLI rendering of the English example (.docx and .md), in the same run as
    `python -c pass` and pandoc converting the same Markdown to .docx (medians and ratios);
(b) warm, in-process time per contract (deal sheet to .docx and .md bytes): the same deal
    sheet again, an edit session (one-change edits, each rendered after the last), and a
    deal sheet rendered for the first time in a warm process;
(c) batch throughput for generated deal sheets with --jobs 1 and --jobs 2;
(d) peak memory (maximum resident set size) of one CLI rendering;
(e) how the warm time grows with contract size (1, 5 and 20 functions).
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-bpo.json"
sys.path.insert(0, str(REPO))


def median_seconds(command: list[str], runs: int, cwd: Path) -> float:
    """Run a command ``runs`` times; return the median wall time in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold(runs: int, work: Path) -> None:
    out = work / "cold"
    render = [sys.executable, "-m", "contractgen", "render", str(EXAMPLE), "-o", str(out),
              "--force"]
    subprocess.run(render, cwd=REPO, check=True, capture_output=True)
    markdown = out / "northwind-bpo.md"
    ours = median_seconds(render, runs, REPO)
    bare = median_seconds([sys.executable, "-c", "pass"], runs, REPO)
    print(f"(a) cold CLI render (.docx + .md), median of {runs}: {ours * 1000:.0f} ms")
    print(f"    python -c pass: {bare * 1000:.0f} ms  (ratio {ours / bare:.1f}x)")
    pandoc = shutil.which("pandoc")
    if pandoc is None:
        print("    pandoc: not installed (apt-get install pandoc) - ratio not measured")
        return
    convert = [pandoc, str(markdown), "-f", "commonmark+pipe_tables", "-o",
               str(work / "pandoc.docx")]
    theirs = median_seconds(convert, runs, REPO)
    print(f"    pandoc Markdown -> .docx of the same text: {theirs * 1000:.0f} ms  "
          f"(contractgen / pandoc = {ours / theirs:.2f}, target <= 1.0)")


def warm_seconds(paths: list[Path], runs: int, fresh: bool = False) -> float:
    """Median seconds per contract (deal sheet to .docx and .md bytes) in this process.

    The paths are rendered in turn, ``runs`` times over; ``fresh`` clears the in-process
    output caches before each contract, so every template runs and every part is written.
    """
    from contractgen.pipeline import build, clear_caches, write_formats

    write_formats(build(paths[0]).document, ("docx", "md"))  # load the library, compile
    times = []
    for _ in range(runs):
        for path in paths:
            if fresh:
                clear_caches()
            start = time.perf_counter()
            write_formats(build(path).document, ("docx", "md"))
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def warm(runs: int, work: Path) -> None:
    print("(b) warm, in process, deal sheet -> .docx + .md bytes (target <= 15 ms):")
    same = warm_seconds([EXAMPLE], runs * 3)
    print(f"    the same deal sheet again, median of {runs * 3}: {same * 1000:.1f} ms")
    edits = edit_session(40, work / "edits")
    edited = warm_seconds(edits, 1)
    print(f"    an edit session ({len(edits)} one-change edits of the example, each rendered "
          f"after the last), median: {edited * 1000:.1f} ms")
    first = warm_seconds([EXAMPLE], runs, fresh=True)
    print(f"    a deal sheet rendered for the first time (output caches cleared), median of "
          f"{runs}: {first * 1000:.1f} ms")


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


def memory(work: Path) -> None:
    # A fresh parent process, so that the figure is this render's alone: RUSAGE_CHILDREN is the
    # largest of all the children a process has waited for.
    command = [sys.executable, "-m", "contractgen", "render", str(EXAMPLE), "-o",
               str(work / "mem"), "--force"]
    probe = (
        "import resource, subprocess, sys; "
        f"subprocess.run({command!r}, check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True,
                            capture_output=True, text=True)
    peak_kib = int(result.stdout.strip())
    print(f"(d) peak memory of one CLI render: {peak_kib / 1024:.0f} MiB "
          "(maximum resident set size; target <= 60 MiB)")


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
              "(output caches cleared)")
    (small, t1), (_, _), (large, t20) = results
    print(f"    growth from {small} to {large} functions: x{t20 / t1:.2f} "
          f"(linear in size would be at most x{large / small:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller batch")
    args = parser.parse_args()
    runs = 3 if args.quick else 7
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold(runs, work)
        warm(runs, work)
        batch(40 if args.quick else 200, work)
        memory(work)
        scaling(runs, work)


if __name__ == "__main__":
    main()
