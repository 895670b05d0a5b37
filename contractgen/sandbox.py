"""The sandboxed Jinja2 environment shared by rules and clause templates.

Deal values reach templates and rules as read-only ``Record`` objects: attribute
access gives the deal's fields and nothing else (no dict methods), a field the deal
sheet does not have is undefined, and ``StrictUndefined`` turns any use of it into an
error. Every value a template prints is escaped for Markdown (``finalize``), so deal
text is always shown literally and never read as Markdown or as a template.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    Template,
    Undefined,
    pass_context,
)
from jinja2.bccache import Bucket
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from contractgen.cache import cache_dir, jinja_folder
from contractgen.errors import LibraryError
from contractgen.formatting import Formatter

# EU and EEA member states, for rules about data leaving the EU.
EU = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
]

FORMATTER_KEY = "__contractgen_formatter"
LABELS_KEY = "__contractgen_labels"
# A callable, called whenever a template formats a value: the output then depends on the
# formatter's locale (the renderer notes that as an input of the template).
FORMATTING_KEY = "__contractgen_formatting"


class MdSafe(str):
    """Markdown produced by contractgen itself (a cross-reference, a defined term)."""

    __slots__ = ()


_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+\-.!|~&\"'=:$%^]")


def _backslashed(match: re.Match[str]) -> str:
    """Return a matched mark escaped (a function: a replacement string with a group
    reference costs a template look-up on every call of ``sub``)."""
    return "\\" + match[0]


def escape_markdown(text: str) -> str:
    """Backslash-escape every ASCII punctuation mark that Markdown could read as syntax."""
    return _MD_SPECIAL.sub(_backslashed, text)


class AccessLog:
    """Collects the deal values a rule read, to explain its result."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def record(self, path: str, value: Any) -> None:
        self.entries.setdefault(path, value)

    # Whether list items report their own fields (a dependency log) or the list is
    # recorded whole (an explanation shows the list).
    tracks_items = False

    def sequence(self, path: str, items: list[Any]) -> None:
        """A list was read."""
        self.record(path, items)

    def missing(self, path: str) -> None:
        """A field was looked for and is absent (only a dependency log keeps this)."""

    def whole(self, path: str, data: Any) -> None:
        """An object was used as a whole: iterated, sized, compared or unwrapped."""


class RecordList(list):  # type: ignore[type-arg]
    """A list from the deal that remembers where it came from."""

    path: str = ""


class Record:
    """Read-only attribute access to one object of the deal sheet."""

    __slots__ = ("_data", "_path", "_log")

    def __init__(self, data: dict[str, Any], path: str = "", log: AccessLog | None = None):
        self._data = data
        self._path = path
        self._log = log

    def _child(self, name: str, value: Any) -> Any:
        path = f"{self._path}.{name}" if self._path else name
        return wrap(value, path, self._log)

    def _absent(self, name: str) -> None:
        if self._log is not None:
            self._log.missing(f"{self._path}.{name}" if self._path else name)

    def _whole(self) -> None:
        if self._log is not None:
            self._log.whole(self._path, self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._data:
            self._absent(name)
            raise AttributeError(name)
        return self._child(name, self._data[name])

    def __getitem__(self, name: str) -> Any:
        if name not in self._data:
            self._absent(str(name))
            raise KeyError(name)
        return self._child(name, self._data[name])

    def __contains__(self, name: object) -> bool:
        self._whole()
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        self._whole()
        return iter(self._data)

    def __len__(self) -> int:
        self._whole()
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        self._whole()
        if isinstance(other, Record):
            other._whole()
        return isinstance(other, Record) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._path or 'deal'}>"


def wrap(value: Any, path: str, log: AccessLog | None) -> Any:
    """Wrap a deal value for templates: objects as Records, lists as RecordLists."""
    if isinstance(value, dict):
        return Record(value, path, log)
    if isinstance(value, list):
        item_log = log if log is not None and log.tracks_items else None
        items = RecordList(wrap(v, f"{path}[{i}]", item_log) for i, v in enumerate(value))
        items.path = path
        if log is not None:
            log.sequence(path, value)
        return items
    if log is not None:
        log.record(path, value)
    return value


def unwrap(value: Any) -> Any:
    """Return the plain data behind a Record or RecordList."""
    if isinstance(value, Record):
        value._whole()
        return value._data
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


# --- list filters for rules: any / all / count over list items ---------------------------

def _split_key(key: str) -> tuple[str, str]:
    for suffix in ("_not", "_has"):
        if key.endswith(suffix):
            return key[: -len(suffix)], suffix[1:]
    return key, "eq"


def _matches(item: Any, criteria: dict[str, Any], where: str) -> bool:
    data = unwrap(item)
    if not isinstance(data, dict):
        raise LibraryError(f"{where}: any/all/count need a list of objects")
    for key, expected in criteria.items():
        field, op = _split_key(key)
        if field not in data:
            raise LibraryError(f"{where}: the items have no field {field!r}")
        actual = data[field]
        wanted = unwrap(expected)
        options = wanted if isinstance(wanted, list) else [wanted]
        if op == "has":
            hit = any(o in (actual or []) for o in options)
        else:
            hit = actual in options
        if hit == (op == "not"):
            return False
    return True


def _log_fields(items: Any, criteria: dict[str, Any], log: AccessLog | None) -> None:
    path = getattr(items, "path", "")
    if log is None or not path:
        return
    for key in criteria:
        field = _split_key(key)[0]
        log.record(f"{path}[].{field}", [unwrap(i).get(field) for i in items])


def _selector(kind: str) -> Callable[..., Any]:
    @pass_context
    def select(context: Context, items: Any, **criteria: Any) -> Any:
        where = f"{kind}({', '.join(criteria)})"
        if not isinstance(items, list):
            raise LibraryError(f"{where}: needs a list, got {type(unwrap(items)).__name__}")
        if not criteria:
            raise LibraryError(f"{where}: name at least one field, e.g. {kind}(country='MX')")
        _log_fields(items, criteria, context.get("__contractgen_log"))
        hits = [_matches(item, criteria, where) for item in items]
        if kind == "any":
            return any(hits)
        if kind == "all":
            return all(hits)
        return sum(hits)

    return select


# --- formatting filters for templates ---------------------------------------------------

def _fmt(context: Context) -> Formatter:
    formatter: Formatter = context[FORMATTER_KEY]
    used = context.get(FORMATTING_KEY)
    if used is not None:
        used()
    return formatter


def _formatting_filters() -> dict[str, Callable[..., Any]]:
    @pass_context
    def date(ctx: Context, value: str) -> str:
        return _fmt(ctx).date(value)

    @pass_context
    def money(ctx: Context, value: float, currency: str | None = None) -> str:
        return _fmt(ctx).money(value, currency or ctx["agreement"].currency)

    @pass_context
    def money_words(ctx: Context, value: float, currency: str | None = None) -> str:
        return _fmt(ctx).money_words(value, currency or ctx["agreement"].currency)

    @pass_context
    def num(ctx: Context, value: float, decimals: int | None = None) -> str:
        return _fmt(ctx).number(value, decimals)

    @pass_context
    def pct(ctx: Context, value: float) -> str:
        return _fmt(ctx).percent(value)

    def counted(unit: str | None) -> Callable[..., str]:
        @pass_context
        def render(ctx: Context, value: int, gender: str = "m") -> str:
            return _fmt(ctx).words(value, unit, gender)

        return render

    @pass_context
    def label(ctx: Context, value: str, group: str) -> str:
        labels = ctx[LABELS_KEY]
        try:
            return str(labels[group][value])
        except KeyError:
            raise LibraryError(
                f"templates/labels.toml: no label for {value!r} in [{ctx['language']}.{group}]"
            ) from None

    @pass_context
    def join_and(ctx: Context, items: list[Any]) -> str:
        return _fmt(ctx).join_and([str(i) for i in items])

    @pass_context
    def country(ctx: Context, code: str) -> str:
        return _fmt(ctx).country(code)

    @pass_context
    def language_name(ctx: Context, code: str) -> str:
        return _fmt(ctx).language_name(code)

    def cap(value: str) -> str:
        return value[:1].upper() + value[1:]

    return {
        "cap": cap,
        "date": date, "money": money, "money_words": money_words, "num": num, "pct": pct,
        "words": counted(None), "days": counted("day"), "business_days": counted("business_day"),
        "months": counted("month"), "hours": counted("hour"), "years": counted("year"),
        "label": label, "join_and": join_and, "country": country,
        "language_name": language_name,
    }


@pass_context
def _finalize(context: Context, value: Any) -> str:
    """Turn a printed value into Markdown text: escape strings, format numbers, refuse blanks."""
    if isinstance(value, MdSafe):
        return value
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, str):
        return escape_markdown(value)
    if value is None:
        raise LibraryError("a template printed an empty value (none); guard it with {% if %}")
    if isinstance(value, bool) or isinstance(value, Record | list):
        raise LibraryError(f"a template printed {type(unwrap(value)).__name__} {value!r}; "
                           "print a text or a number")
    if isinstance(value, int | float):
        return escape_markdown(_fmt(context).number(value))
    raise LibraryError(f"a template printed an unsupported value {value!r}")


# A rule is loaded as a template named RULE_PREFIX + its text, which sets ``result``.
RULE_PREFIX = "rule:"
RULE_WRAPPER = "{{% set result = ({}) %}}"


class _LibraryLoader(FileSystemLoader):
    """Load templates from the library folder, definition texts and rules from metadata.

    ``definition:<module id>:<language>:<n>`` names the n-th definition of a module and
    ``rule:<expression>`` a rule, so both are compiled (and byte-code cached) like every
    other template.
    """

    def __init__(self, root: Path):
        super().__init__(str(root))
        self.root = root

    def get_source(  # type: ignore[override]  # definitions have no file name
            self, environment: Any, template: str) -> tuple[str, str | None, Any]:
        if template.startswith(RULE_PREFIX):
            return RULE_WRAPPER.format(template[len(RULE_PREFIX):]), None, lambda: True
        if not template.startswith("definition:"):
            return super().get_source(environment, template)
        from contractgen.library import load_library

        _, module_id, language, index = template.split(":")
        module = load_library(self.root).get(module_id)
        return module.definitions[language][int(index)][1], None, lambda: True


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Return a cache of compiled templates in the user's cache folder, if it can be had.

    Compiling the library's templates is most of a cold start; the cache keeps the compiled
    code keyed by each template's source, so an edited clause is compiled afresh.
    """
    folder = cache_dir(jinja_folder())
    return _BytecodeCache(str(folder)) if folder is not None else None


class _BytecodeCache(FileSystemBytecodeCache):
    """Jinja's cache of compiled templates, which never fails a render: a template that
    cannot be stored (the folder was deleted or filled up meanwhile) is simply not kept."""

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, which reads a deal field of a ``Record`` directly: what
    ``getattr`` would find there after its checks (a Record's only attributes without a
    leading underscore are the deal's fields), without them; and finds a compiled template
    in constant time (``template``)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._templates: OrderedDict[str, Template] = OrderedDict()

    def template(self, name: str) -> Template:
        """Return the compiled template ``get_template`` returns, kept here by name (as
        many as Jinja keeps, the least recently used dropped): Jinja's own cache moves the
        name to the end of a queue on every look-up, a scan of up to 400 entries."""
        found = self._templates.get(name)
        if found is None:
            found = self._templates[name] = self.get_template(name)
            if len(self._templates) > _TEMPLATES_KEPT:
                self._templates.popitem(last=False)
        else:
            self._templates.move_to_end(name)
        return found

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is Record and not attribute.startswith("_"):
            data = obj._data
            if attribute in data:
                return obj._child(attribute, data[attribute])
            obj._absent(attribute)
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_TEMPLATES_KEPT = 400  # Jinja's default cache size; a library has about 390 templates


@lru_cache(maxsize=8)
def environment(root: Path) -> Sandbox:
    """Return the sandboxed environment for the library at ``root`` (templates compiled once)."""
    env = Sandbox(
        loader=_LibraryLoader(root),
        bytecode_cache=_bytecode_cache(),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters.update(_formatting_filters())
    env.filters.update({kind: _selector(kind) for kind in ("any", "all", "count")})
    return env
