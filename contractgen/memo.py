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
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from functools import lru_cache
from operator import itemgetter
from typing import Any, Generic, TypeVar

from contractgen.sandbox import AccessLog
from contractgen.strictjson import value_key


class _Missing:
    """A field the template looked for and the deal did not have (one object: copies of an
    input are the object itself, so a kept input compares equal to a later look-up)."""

    def __repr__(self) -> str:
        return "<missing>"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Missing:
        return self


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
            out.append((parts, kept(value)))
        for path, size in self.sizes.items():
            parts = parts_of(path)
            if parts is None:
                return None
            out.append(((SIZE, *parts), size))
        out.extend(((CALL, name, argument), value)
                   for (name, argument), value in self.calls.items())
        return tuple(out)


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def kept(value: Any) -> Any:
    """Return a value to keep as an input: a deep copy, so that a caller changing a deal
    in place cannot change what was read (a text, number or None is kept as it is)."""
    return value if type(value) in _ATOMIC else copy.deepcopy(value)


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


Stamps = dict[str, int]  # top-level name -> the number of its value's key (``value_key``)


_KEY_NUMBERS: OrderedDict[bytes, int] = OrderedDict()  # the most recently stamped keys
_KEYS_KEPT = 64  # three or four contracts' worth
_NEXT_NUMBER = itertools.count(1)


def stamps(roots: dict[str, Any]) -> Stamps:
    """Number each top-level value by its key (``strictjson.value_key``): equal numbers
    mean equal values.

    The key tells 1, 1.0 and true apart, so equal keys are values ``same`` finds equal
    (a different key order, or objects shared differently, only give a different number).
    A number is never reused; the keys of recent values keep theirs (the least recently
    stamped are forgotten).
    """
    out: Stamps = {}
    for name, value in roots.items():
        key = value_key(value)
        number = _KEY_NUMBERS.get(key)
        if number is None:
            number = _KEY_NUMBERS[key] = next(_NEXT_NUMBER)
            if len(_KEY_NUMBERS) > _KEYS_KEPT:
                _KEY_NUMBERS.popitem(last=False)
        else:
            _KEY_NUMBERS.move_to_end(key)
        out[name] = number
    return out


def call_stamp(name: str) -> str:
    """Return the stamp name that stands for every call of helper ``name`` (``CALL`` is
    never a root name, so it never names a top-level value)."""
    return CALL + name


def _root_of(dependency: Dependency) -> str:
    """Return the stamp name an input falls under: its top-level value, or its helper."""
    keys = dependency[0]
    if keys[0] == CALL:
        return call_stamp(str(keys[1]))
    return str(keys[1] if keys[0] == SIZE else keys[0])


class _Entry(Generic[T]):
    """A result with the inputs it read, grouped by stamp name (``_root_of``), and the
    stamps those names had when the inputs were last found equal."""

    __slots__ = ("names", "numbers", "_get", "groups", "dependencies", "unstamped", "result")

    def __init__(self, dependencies: tuple[Dependency, ...], result: T, now: Stamps):
        self.result = result
        by_name: dict[str, list[Dependency]] = {}
        for dep in dependencies:
            by_name.setdefault(_root_of(dep), []).append(dep)
        self.names = tuple(sorted(name for name in by_name if name in now))
        # The stamped inputs name by name, then the unstamped: the inputs under names[i]
        # are dependencies[groups[i]:groups[i + 1]], the unstamped those after groups[-1].
        ordered: list[Dependency] = []
        groups: list[int] = []
        for name in self.names:
            groups.append(len(ordered))
            ordered.extend(by_name[name])
        groups.append(len(ordered))
        ordered.extend(dep for name, deps in by_name.items() if name not in now
                       for dep in deps)
        self.groups = tuple(groups)
        self.dependencies = tuple(ordered)
        self.unstamped = self.dependencies[groups[-1]:]
        # One C call reads the stamps of all names (a tuple, or one number for one name).
        self._get: Callable[[Stamps], Any] = itemgetter(*self.names) if self.names else _none
        self.numbers: Any = self._get(now)

    def stamped(self, now: Stamps) -> bool:
        """Whether every stamp name has the number it had."""
        try:
            return bool(self._get(now) == self.numbers)
        except KeyError:
            return False

    def restamp(self, now: Stamps) -> None:
        """Record the stamps of ``now`` (its inputs were all found equal under them)."""
        try:
            self.numbers = self._get(now)
        except KeyError:  # a name ``now`` does not stamp: keep checking them all
            pass

    def stale(self, now: Stamps) -> list[Dependency]:
        """Return the inputs to compare when the stamps are not all as they were: those
        under a name whose stamp differs (or is not given), and the unstamped."""
        numbers = (self.numbers,) if len(self.names) == 1 else (self.numbers or ())
        out: list[Dependency] = []
        for index, (name, number) in enumerate(zip(self.names, numbers, strict=True)):
            if now.get(name) != number:
                out.extend(self.dependencies[self.groups[index]:self.groups[index + 1]])
        out.extend(self.unstamped)
        return out


def _none(now: Stamps) -> None:
    return None


class Memo(Generic[T]):
    """Results keyed by what was run (a template, a rule) and the setting, each kept with
    the inputs it read; a few variants per key, a bounded number of keys.

    An entry whose stamps all are as they were is checked only for its unstamped inputs;
    otherwise for the inputs under a stamp that changed, and the unstamped.
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
            if stamped:
                check: Iterable[Dependency] = entry.unstamped
            else:
                check = entry.dependencies if now is None else entry.stale(now)
            if not check or all(same(current(dep), dep[1]) for dep in check):
                if not stamped and now is not None:  # valid for these values too: say so
                    entry.restamp(now)
                if index:
                    entries.insert(0, entries.pop(index))
                self._store.move_to_end(key)
                return entry.result
        return None

    def put(self, key: Hashable, dependencies: tuple[Dependency, ...], result: T,
            now: Stamps | None = None) -> None:
        """Keep a result with the inputs it read (and the stamps of their values, if given)."""
        entries = self._store.setdefault(key, [])
        entries.insert(0, _Entry(dependencies, result, now or {}))
        del entries[self._variants:]
        self._store.move_to_end(key)
        while len(self._store) > self._keys:
            self._store.popitem(last=False)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
