"""Reuse a template's output (or a rule's verdict) when every input it read is unchanged.

A clause template is a pure function of what it reads: deal fields, facts, whether other
modules are included, and the locale when it formats a value, in one language of one
library.
While a template renders, a ``DependencyLog`` (handed to the deal's ``Record`` wrappers)
notes each of those inputs with the value it had. The memo keeps the output under the
template's name with that list; a later render whose inputs all compare equal (same types,
same values) gets the same text back without running Jinja.

Rules are memoised the same way (``rules._evaluate``), from the log that explains them.
That is what makes re-rendering cheap when a lawyer edits one field of a deal sheet: only
the templates that read the edited field run again. The memo lives in the process, holds a
bounded number of entries, and never changes an output: a template whose inputs cannot all
be named (a path it cannot look up again) is simply not memoised.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import Any, Generic, TypeVar

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
            parts = parts_of(path)
            if parts is None:
                return None
            out.append((parts, copy.deepcopy(value)))
        for path, size in self.sizes.items():
            parts = parts_of(path)
            if parts is None:
                return None
            out.append(((SIZE, *parts), size))
        out.extend(((CALL, name, argument), value)
                   for (name, argument), value in self.calls.items())
        return tuple(out)


_STEP = re.compile(r"([a-z_][a-z0-9_]*)((?:\[\d+\])*)")


@lru_cache(maxsize=8192)
def parts_of(path: str) -> Path | None:
    """Split ``scope.functions[2].name`` into ('scope', 'functions', 2, 'name')."""
    keys: list[str | int] = []
    for step in path.split("."):
        match = _STEP.fullmatch(step)
        if match is None:
            return None
        keys.append(match.group(1))
        keys.extend(int(i) for i in re.findall(r"\d+", match.group(2)))
    return tuple(keys)


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
    """Equal values of equal types all the way down (1, 1.0 and True differ), objects with
    their keys in the same order (a template that iterates one sees that order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


T = TypeVar("T")


Stamps = dict[str, int]  # top-level name -> the number of its value's JSON text


_TEXT_NUMBERS: dict[str, int] = {}
_NEXT_NUMBER = itertools.count(1)


def stamps(roots: dict[str, Any]) -> Stamps:
    """Number each top-level value by its JSON text: equal numbers mean equal values.

    The text tells 1, 1.0 and true apart, so equal texts are values ``same`` finds equal
    (a different key order only gives a different number). A number is never reused.
    """
    out: Stamps = {}
    for name, value in roots.items():
        text = json.dumps(value, ensure_ascii=False)
        number = _TEXT_NUMBERS.get(text)
        if number is None:
            if len(_TEXT_NUMBERS) > 64:
                _TEXT_NUMBERS.clear()
            number = _TEXT_NUMBERS[text] = next(_NEXT_NUMBER)
        out[name] = number
    return out


def _root_of(dependency: Dependency) -> str:
    keys = dependency[0]
    return str(keys[1] if keys[0] == SIZE else keys[0])


@dataclass(frozen=True)
class _Entry(Generic[T]):
    stamp: tuple[tuple[str, int], ...]  # the stamps of the top-level values it read
    unstamped: tuple[Dependency, ...]  # inputs outside those values (helper calls, facts)
    dependencies: tuple[Dependency, ...]
    result: T

    @cached_property
    def stamped(self) -> Callable[[Stamps], bool]:
        """A test of whether stamps are those of ``stamp`` (itemgetter: one C call)."""
        if not self.stamp:
            return _always
        names, numbers = zip(*self.stamp, strict=True)
        get = itemgetter(*names)
        expected = numbers if len(numbers) > 1 else numbers[0]

        def stamped(now: Stamps) -> bool:
            try:
                return bool(get(now) == expected)
            except KeyError:
                return False

        return stamped


def _always(now: Stamps) -> bool:
    return True


class Memo(Generic[T]):
    """Results keyed by what was run (a template, a rule) and the setting, each kept with
    the inputs it read; a few variants per key, a bounded number of keys.

    An entry whose top-level values all have the stamps they had is checked only for its
    other inputs; otherwise every input is compared.
    """

    def __init__(self, keys: int = 4096, variants: int = 4):
        self._keys = keys
        self._variants = variants
        self._store: OrderedDict[Hashable, list[_Entry[T]]] = OrderedDict()

    def get(self, key: Hashable, current: Callable[[Dependency], Any],
            now: Stamps | None = None) -> T | None:
        """Return a stored result whose every input equals its ``current`` value."""
        entries = self._store.get(key)
        if not entries:
            return None
        for index, entry in enumerate(entries):
            stamped = now is not None and entry.stamped(now)
            check = entry.unstamped if stamped else entry.dependencies
            if all(same(current(dep), dep[1]) for dep in check):
                if not stamped and now is not None:  # valid for these values too: say so
                    entry = replace(entry, stamp=tuple((name, now[name])
                                                       for name, _ in entry.stamp))
                if index or not stamped:
                    entries.pop(index)
                    entries.insert(0, entry)
                self._store.move_to_end(key)
                return entry.result
        return None

    def put(self, key: Hashable, dependencies: tuple[Dependency, ...], result: T,
            now: Stamps | None = None) -> None:
        """Keep a result with the inputs it read (and the stamps of their values, if given)."""
        now = now or {}
        roots = {_root_of(dep) for dep in dependencies if dep[0][0] != CALL}
        stamp = tuple(sorted((name, now[name]) for name in roots if name in now))
        stamped = {name for name, _ in stamp}
        unstamped = tuple(dep for dep in dependencies
                          if dep[0][0] == CALL or _root_of(dep) not in stamped)
        entries = self._store.setdefault(key, [])
        entries.insert(0, _Entry(stamp, unstamped, dependencies, result))
        del entries[self._variants:]
        self._store.move_to_end(key)
        while len(self._store) > self._keys:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
