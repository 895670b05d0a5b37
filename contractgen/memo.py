"""Reuse a template's output when every input it read is unchanged.

A clause template is a pure function of what it reads: deal fields, facts, whether other
modules are included, and the definitions text, in one language and locale of one library.
While a template renders, a ``DependencyLog`` (handed to the deal's ``Record`` wrappers)
notes each of those inputs with the value it had. The memo keeps the output under the
template's name with that list; a later render whose inputs all compare equal (same types,
same values) gets the same text back without running Jinja.

That is what makes re-rendering cheap when a lawyer edits one field of a deal sheet: only
the templates that read the edited field run again. The memo lives in the process, holds a
bounded number of entries, and never changes an output: a template whose inputs cannot all
be named (a path it cannot look up again) is simply not memoised.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any

from contractgen.sandbox import AccessLog


class _Missing:
    """A field the template looked for and the deal did not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

# One input a render read, and its value: a deal or fact path as key parts
# (``('scope', 'functions', 0, 'name')``) or a helper call as ``(CALL, name, argument)``.
Path = tuple[str | int, ...]
Dependency = tuple[Path, Any]
CALL = "()"  # never a root name
SIZE = "#"  # (SIZE, *path): the length of the list at path


class DependencyLog(AccessLog):
    """Every input one template render read, with its value at the time."""

    tracks_items = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[tuple[str, str], Any] = {}
        self.sizes: dict[str, int] = {}

    def reset(self) -> None:
        self.entries = {}
        self.calls = {}
        self.sizes = {}

    def sequence(self, path: str, items: list[Any]) -> None:
        self.sizes.setdefault(path, len(items))  # the items report what is read of them

    def missing(self, path: str) -> None:
        self.entries.setdefault(path, MISSING)

    def whole(self, path: str, data: Any) -> None:
        self.entries.setdefault(path, data)

    def call(self, name: str, argument: str, value: Any) -> None:
        self.calls.setdefault((name, argument), value)

    def dependencies(self) -> tuple[Dependency, ...] | None:
        """Return the inputs as (key parts, value) pairs, or None if one cannot be named."""
        out: list[Dependency] = []
        for path, value in self.entries.items():
            parts = _parts(path)
            if parts is None:
                return None
            out.append((parts, copy.deepcopy(value)))
        for path, size in self.sizes.items():
            parts = _parts(path)
            if parts is None:
                return None
            out.append(((SIZE, *parts), size))
        out.extend(((CALL, name, argument), value)
                   for (name, argument), value in self.calls.items())
        return tuple(out)


_STEP = re.compile(r"([a-z_][a-z0-9_]*)((?:\[\d+\])*)")


@lru_cache(maxsize=8192)
def _parts(path: str) -> Path | None:
    """Split ``scope.functions[2].name`` into ('scope', 'functions', 2, 'name')."""
    parts: list[str | int] = []
    for step in path.split("."):
        match = _STEP.fullmatch(step)
        if match is None:
            return None
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\d+", match.group(2)))
    return tuple(parts)


def lookup(roots: dict[str, Any], parts: Path) -> Any:
    """Return the value at ``parts`` under ``roots`` (a list's length for SIZE), or MISSING."""
    if parts[0] == SIZE:
        value = lookup(roots, parts[1:])
        return len(value) if isinstance(value, list) else MISSING
    value = roots.get(str(parts[0]), MISSING)
    for part in parts[1:]:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, dict):
                return MISSING
            value = value.get(part, MISSING)
    return value


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1, 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


class RenderMemo:
    """Template outputs keyed by template and setting, each with the inputs it read."""

    def __init__(self, keys: int = 4096, variants: int = 4):
        self._keys = keys
        self._variants = variants
        self._store: OrderedDict[Hashable, list[tuple[tuple[Dependency, ...], str]]] = (
            OrderedDict())

    def get(self, key: Hashable, current: Callable[[Dependency], Any]) -> str | None:
        """Return a stored output whose every input equals its ``current`` value."""
        entries = self._store.get(key)
        if not entries:
            return None
        for index, (dependencies, text) in enumerate(entries):
            if all(same(current(dep), dep[1]) for dep in dependencies):
                if index:
                    entries.insert(0, entries.pop(index))
                self._store.move_to_end(key)
                return text
        return None

    def put(self, key: Hashable, dependencies: tuple[Dependency, ...], text: str) -> None:
        entries = self._store.setdefault(key, [])
        entries.insert(0, (dependencies, text))
        del entries[self._variants:]
        self._store.move_to_end(key)
        while len(self._store) > self._keys:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
