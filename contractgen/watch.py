"""Render one deal sheet again each time it is saved (``contractgen render --watch``).

A lawyer who edits a deal sheet and looks at the draft after each change would otherwise
pay a cold start per render (loading the library, compiling its templates). Here one process
renders the deal sheet, then looks at the file every ``POLL_SECONDS`` (one ``stat``); when
its modification time or size changed, it renders again, warm: only the templates that read
an edited field run again, and the outputs are replaced atomically.

A deal sheet that is invalid after a save (or half-written when read) is reported and the
watch goes on: the next save renders again. The first render is held to the rules of a plain
``render`` (existing outputs are replaced only with ``--force``, and a refusal ends the
watch); later renders replace the outputs this watch wrote. Ctrl-C ends the watch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from contractgen import collector
from contractgen.errors import ContractgenError, OutputError
from contractgen.pipeline import render_to_directory, save_caches

POLL_SECONDS = 0.2


def _stamp(path: Path) -> tuple[int, int] | None:
    """Return the file's modification time (ns) and size, or None if it cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def watch(path: Path, directory: Path, formats: tuple[str, ...], language: str | None,
          force: bool, root: Path | None, echo: Callable[[str], None],
          wait: Callable[[], None] = lambda: time.sleep(POLL_SECONDS)) -> None:
    """Render ``path`` into ``directory`` now and after each change, until interrupted.

    ``echo`` reports each render (what was written, how long it took) or what was wrong;
    ``wait`` pauses between looks at the file (tests pass one that edits the file, then
    interrupts). Raises the first render's ``OutputError``, which no edit of the deal
    sheet can mend; returns on Ctrl-C.
    """
    replace = force
    seen: tuple[int, int] | None = None
    echo(f"watching {path} (Ctrl-C to stop)")
    try:
        while True:
            stamp = _stamp(path)
            if stamp != seen:
                seen = stamp
                start = time.perf_counter()
                try:
                    written = render_to_directory(path, directory, formats, language, replace,
                                                  root)
                except OutputError as error:
                    if not replace:
                        raise
                    echo(f"Error: {error}")
                except ContractgenError as error:
                    echo(f"Error: {error}")
                else:
                    milliseconds = (time.perf_counter() - start) * 1000
                    names = ", ".join(str(target) for target in written)
                    echo(f"{time.strftime('%H:%M:%S')} rendered {names} in "
                         f"{milliseconds:.0f} ms")
                    if not replace:
                        save_caches()  # what the first render parsed, for later runs
                    replace = True  # the outputs are this watch's own from now on
                collector.step()
            wait()
    except KeyboardInterrupt:
        save_caches()  # what the edits' renders parsed, for later runs
        echo("stopped watching")
