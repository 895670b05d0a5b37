"""The cyclic garbage collector in contractgen's own processes.

CPython frees an object by reference counting as soon as nothing refers to it; only
objects in reference cycles need the cyclic collector, which finds them by scanning
container objects: the young ones every 700 new containers, older ones now and then, and
every object of the process when enough have grown old. Rendering a contract makes tens
of thousands of containers and keeps a few thousand in the in-process caches, and a warm
process holds about a hundred thousand, so with the default settings these scans take
about a tenth of a batch's time, and of a single render's (README, Performance), and find
next to nothing: a contract leaves no reference cycles behind (``tests/test_collector.py``).

So a contractgen command turns automatic collection off (``pause``), and a loop over many
deal sheets calls ``step`` after each one: once enough new containers have been kept since
the last collection, it collects once, which scans only those (everything older is
frozen, ``gc.freeze``), and freezes what survived. An object is thus scanned about once
(the first collection of a process scans what it loaded, unless that was frozen before, as
a batch's parent does before it forks its workers), only survivors are ever frozen, and a
reference cycle, should one ever be made, is freed within a few contracts.
``rendering`` does the same for a loop in a process of one's own (a batch worker, a
benchmark) and puts the collector back as it was when the loop ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NEW_OBJECTS = 20_000  # containers kept between collections: five to ten contracts' worth


def pause() -> None:
    """Turn automatic collection off for the rest of this process (``step`` collects)."""
    gc.disable()


def step() -> None:
    """Call after each deal sheet: while automatic collection is off, collect once
    ``NEW_OBJECTS`` new containers have been kept since the last collection, and freeze
    the survivors. (With automatic collection on, the collector needs no help.)"""
    if not gc.isenabled() and gc.get_count()[0] >= NEW_OBJECTS:
        gc.collect()
        gc.freeze()


@contextmanager
def rendering() -> Iterator[None]:
    """Run a loop of renders (``step`` after each) with automatic collection off, and turn
    it back on afterwards if it was on."""
    enabled = gc.isenabled()
    pause()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
