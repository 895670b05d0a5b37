"""Check the clause library the way counsel need it checked, and report rule coverage.

``lint`` reads every template, rule and definition without a deal (syntax, deal fields,
cross-references, language parity), then explores the deals that ``variants.generate``
makes: which modules some deal includes, which references can dangle, and, on a few
assembled contracts (a greedy cover of every reachable module, in every language), which
defined terms are used without a definition, defined without a use, or defined twice.
Each problem is a ``Finding`` located at a library file and line (``file:line: message``).

``coverage`` tells, for every module, how many generated deals include it and which option
changes switch it on; ``format_coverage`` prints that as a table.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from contractgen import model as m
from contractgen.dealsheet import normalise, resolved
from contractgen.errors import LibraryError
from contractgen.library import LANGUAGES, ClauseModule, Library
from contractgen.paths import SCHEMA_FILE
from contractgen.render import build_document
from contractgen.rules import DEAL_ROOTS, Selection, schema_field_paths, select
from contractgen.sandbox import environment
from contractgen.variants import Variant, generate


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in the library, at a file (relative to the library root) and line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# --- scanning templates, rules and definitions ------------------------------------------

# Filters that give back (part of) the same list, so the list's field is what is read.
_PASS_THROUGH = frozenset({"sort", "selectattr", "rejectattr", "list", "unique", "reverse",
                           "batch", "select", "reject", "length", "count_items"})
# Filters that give one item of the list.
_ITEM = frozenset({"first", "last", "random", "min", "max"})
# Filters whose ``attribute`` (keyword or first argument) names a field of the items.
_ATTRIBUTE = {"map": False, "sort": False, "sum": True, "unique": False, "min": False,
              "max": False, "groupby": True, "selectattr": True, "rejectattr": True}
# Names the renderer or Jinja provides besides the deal (see render._Renderer).
_GLOBALS = frozenset({
    "included", "ref", "anchor", "term", "definitions", "toc", "clauses", "signatures",
    "schedules", "language", "EU", "loop", "range", "dict", "namespace", "lipsum", "cycler",
    "joiner", "caller", "varargs", "kwargs", "self", "page_break",
})

# What a local name stands for: a deal path, the ids of a constant list, or nothing known.
_Binding = str | tuple[str, ...] | None


@dataclass(frozen=True)
class _Guards:
    """What the conditions around a place prove about which modules are included."""

    included: frozenset[str] = frozenset()
    one_of: tuple[frozenset[str], ...] = ()  # at least one of each set is included
    excluded: frozenset[str] = frozenset()

    def __or__(self, other: _Guards) -> _Guards:
        return _Guards(self.included | other.included, self.one_of + other.one_of,
                       self.excluded | other.excluded)

    def proves(self, module_id: str) -> bool:
        """Return whether ``module_id`` must be included here."""
        return module_id in self.included or any(
            alternatives - self.excluded == {module_id} for alternatives in self.one_of)

    def allow(self, included: frozenset[str]) -> bool:
        """Return whether a deal including exactly these modules can reach this place."""
        return (self.included <= included or any(i.startswith("$") for i in self.included)) \
            and not self.excluded & included \
            and all(alternatives & included or any(a.startswith("$") for a in alternatives)
                    for alternatives in self.one_of)


_NO_GUARDS = _Guards()


@dataclass(frozen=True)
class _Ref:
    """A ``ref()`` call: its target, whether it is proven in, and the conditions around it."""

    target: str
    line: int
    guarded: bool
    guards: _Guards


@dataclass
class _Scan:
    """What one template, rule or definition text reads and calls."""

    paths: list[tuple[str, int]] = field(default_factory=list)
    facts: list[tuple[str, int]] = field(default_factory=list)
    unknown: list[tuple[str, int]] = field(default_factory=list)
    refs: list[_Ref] = field(default_factory=list)
    included: list[tuple[str, int]] = field(default_factory=list)
    terms: list[tuple[str, int]] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)


def _const(node: nodes.Node | None) -> str | None:
    """Return a string constant's value, or None."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


class _Walker:
    """Walk a Jinja syntax tree, following aliases, and fill in a ``_Scan``."""

    def __init__(self) -> None:
        self.scan = _Scan()
        self.conditions: dict[str, nodes.Node] = {}  # names set to a condition

    # -- resolving expressions -------------------------------------------------------------

    def path(self, node: nodes.Node, scope: dict[str, _Binding]) -> str | None:
        """Return the dotted path (deal field or ``facts.x``) an expression reads, or None."""
        match node:
            case nodes.Name(name=name):
                if name in scope:
                    bound = scope[name]
                    return bound if isinstance(bound, str) else None
                return name if name in DEAL_ROOTS or name == "facts" else None
            case nodes.Getattr(node=inner, attr=attr):
                base = self.path(inner, scope)
                return f"{base}.{attr}" if base else None
            case nodes.Getitem(node=inner, arg=arg) if isinstance(arg, nodes.Const):
                base = self.path(inner, scope)
                if base is None:
                    return None
                return f"{base}.{arg.value}" if isinstance(arg.value, str) else base + "[]"
            case nodes.Filter(node=inner, name=name) if inner is not None and name in _ITEM:
                base = self.path(inner, scope)
                return base + "[]" if base else None
            case nodes.Filter(node=inner, name=name) if inner is not None and name in _PASS_THROUGH:
                return self.path(inner, scope)
        return None

    def guards(self, test: nodes.Node, scope: dict[str, _Binding]) -> _Guards:
        """Return what a true ``test`` proves (a loop's module id shows as ``$name``)."""
        match test:
            case nodes.And(left=left, right=right):
                return self.guards(left, scope) | self.guards(right, scope)
            case nodes.Or():
                either = self.included_ids(test, scope)
                return _Guards(one_of=(either,)) if either else _NO_GUARDS
            case nodes.Not(node=inner):
                return self.negated(inner, scope)
            case nodes.Name(name=name) if name in self.conditions:
                return self.guards(self.conditions[name], scope)
        return _Guards(included=self.included_ids(test, scope) or frozenset())

    def negated(self, test: nodes.Node, scope: dict[str, _Binding]) -> _Guards:
        """Return what a false ``test`` proves."""
        match test:
            case nodes.Or(left=left, right=right):
                return self.negated(left, scope) | self.negated(right, scope)
            case nodes.Not(node=inner):
                return self.guards(inner, scope)
            case nodes.Name(name=name) if name in self.conditions:
                return self.negated(self.conditions[name], scope)
            case nodes.Call():
                return _Guards(excluded=self.included_ids(test, scope) or frozenset())
        return _NO_GUARDS

    def included_ids(self, test: nodes.Node, scope: dict[str, _Binding]) -> frozenset[str] | None:
        """Return the ids of ``included('a') or included('b') ...``, or None for another test."""
        match test:
            case nodes.Or(left=left, right=right):
                either = (self.included_ids(left, scope), self.included_ids(right, scope))
                return either[0] | either[1] if either[0] and either[1] else None
            case nodes.Call(node=nodes.Name(name="included"), args=[arg]):
                if _const(arg) is not None:
                    return frozenset({str(_const(arg))})
                if isinstance(arg, nodes.Name) and isinstance(scope.get(arg.name), tuple):
                    return frozenset({"$" + arg.name})
        return None

    def targets(self, arg: nodes.Node, scope: dict[str, _Binding],
                guards: _Guards) -> list[tuple[str, bool]]:
        """Return the ids a ``ref``/``included`` argument names, and whether each is proven in."""
        value = _const(arg)
        if value is not None:
            return [(value, guards.proves(value.split(".", 1)[0]))]
        if isinstance(arg, nodes.Name) and isinstance(scope.get(arg.name), tuple):
            bound = scope[arg.name]
            assert isinstance(bound, tuple)
            return [(v, guards.proves("$" + arg.name) or guards.proves(v)) for v in bound]
        return []

    # -- recording -------------------------------------------------------------------------

    def record(self, path: str, line: int) -> None:
        """Record a read of a deal field or a fact."""
        if path == "facts":
            return
        if path.startswith("facts."):
            self.scan.facts.append((path.split(".")[1], line))
        else:
            self.scan.paths.append((path, line))

    def record_call(self, call: nodes.Call, scope: dict[str, _Binding],
                    guards: _Guards) -> None:
        """Record ref(), included(), term() and anchor() calls."""
        if not isinstance(call.node, nodes.Name) or not call.args:
            return
        name, arg = call.node.name, call.args[0]
        if name == "ref":
            for target, guarded in self.targets(arg, scope, guards):
                self.scan.refs.append(_Ref(target, call.lineno, guarded, guards))
        elif name == "included":
            self.scan.included += [(t, call.lineno) for t, _ in self.targets(arg, scope, guards)]
        elif name == "term" and _const(arg) is not None:
            self.scan.terms.append((str(_const(arg)), call.lineno))
        elif name == "anchor" and _const(arg) is not None:
            self.scan.anchors.add(str(_const(arg)))

    def record_items(self, node: nodes.Filter | nodes.Test, scope: dict[str, _Binding]) -> None:
        """Record the item fields that any/all/count keywords and attribute filters read."""
        base = self.path(node.node, scope) if node.node is not None else None
        if base is None:
            return
        fields: list[str] = []
        if node.name in ("any", "all", "count"):
            fields = [_field_of_keyword(str(k.key)) for k in node.kwargs]
        elif isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE:
            named = [_const(k.value) for k in node.kwargs if k.key == "attribute"]
            if _ATTRIBUTE[node.name] and node.args:
                named.append(_const(node.args[0]))
            fields = [f for f in named if f]
        for item_field in fields:
            self.record(f"{base}[].{item_field}", node.lineno)

    # -- walking ---------------------------------------------------------------------------

    def walk(self, node: nodes.Node, scope: dict[str, _Binding], guards: _Guards) -> None:
        """Visit a node and its children under the given aliases and guards."""
        match node:
            case nodes.For():
                self.walk_for(node, scope, guards)
            case nodes.If():
                self.walk_if(node, scope, guards)
            case nodes.CondExpr():
                self.walk(node.test, scope, guards)
                self.walk(node.expr1, scope, guards | self.guards(node.test, scope))
                if node.expr2 is not None:
                    self.walk(node.expr2, scope, guards | self.negated(node.test, scope))
            case nodes.Assign():
                self.walk(node.node, scope, guards)
                self.bind(node.target, self.binding(node.node, scope), scope)
                if isinstance(node.target, nodes.Name):
                    self.conditions[node.target.name] = node.node
            case nodes.AssignBlock():
                self.walk_all(node.body, scope, guards)
                self.bind(node.target, None, scope)
            case nodes.Macro():
                inner = dict(scope)
                for arg in node.args:
                    inner[arg.name] = None
                scope[node.name] = None
                self.walk_all(node.body, inner, guards)
            case nodes.Getattr() | nodes.Getitem() | nodes.Name() if self.path(node, scope):
                self.record(str(self.path(node, scope)), node.lineno)
            case nodes.Name(name=name, ctx="load"):
                if name not in scope and name not in _GLOBALS:
                    self.scan.unknown.append((name, node.lineno))
            case nodes.Call(node=nodes.Getattr(node=obj)):
                self.walk(obj, scope, guards)  # a method call reads the object, not a field
                self.walk_all([*node.args, *node.kwargs], scope, guards)
            case _:
                if isinstance(node, nodes.Call):
                    self.record_call(node, scope, guards)
                if isinstance(node, nodes.Filter | nodes.Test):
                    self.record_items(node, scope)
                self.walk_all(node.iter_child_nodes(), scope, guards)

    def walk_all(self, children: Iterable[nodes.Node], scope: dict[str, _Binding],
                 guards: _Guards) -> None:
        """Visit several nodes in order."""
        for child in children:
            self.walk(child, scope, guards)

    def walk_for(self, node: nodes.For, scope: dict[str, _Binding],
                 guards: _Guards) -> None:
        """Visit a loop: its variable stands for an item of the list."""
        self.walk(node.iter, scope, guards)
        inner = dict(scope)
        self.bind(node.target, self.item_binding(node.iter, scope), inner)
        body_guards = guards
        if node.test is not None:
            self.walk(node.test, inner, guards)
            body_guards = guards | self.guards(node.test, inner)
        self.walk_all(node.body, inner, body_guards)
        self.walk_all(node.else_, scope, guards)

    def walk_if(self, node: nodes.If, scope: dict[str, _Binding], guards: _Guards) -> None:
        """Visit each branch under what its test (and the failed earlier tests) prove."""
        for branch in (node, *node.elif_):
            self.walk(branch.test, scope, guards)
            self.walk_all(branch.body, scope, guards | self.guards(branch.test, scope))
            guards = guards | self.negated(branch.test, scope)  # later branches: this was false
        self.walk_all(node.else_, scope, guards)

    def binding(self, value: nodes.Node, scope: dict[str, _Binding]) -> _Binding:
        """Return what a name assigned ``value`` stands for."""
        path = self.path(value, scope)
        if path is not None:
            return path
        if isinstance(value, nodes.List | nodes.Tuple):
            items = [_const(item) for item in value.items]
            if all(items):
                return tuple(str(i) for i in items)
        return None

    def item_binding(self, iterable: nodes.Node, scope: dict[str, _Binding]) -> _Binding:
        """Return what a loop variable over ``iterable`` stands for."""
        bound = self.binding(iterable, scope)
        return bound + "[]" if isinstance(bound, str) else bound

    @staticmethod
    def bind(target: nodes.Node, value: _Binding, scope: dict[str, _Binding]) -> None:
        """Bind an assignment or loop target in a scope."""
        if isinstance(target, nodes.Name):
            scope[target.name] = value
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                if isinstance(item, nodes.Name):
                    scope[item.name] = None


def _field_of_keyword(key: str) -> str:
    """Return the item field an any/all/count keyword tests (``country_not`` -> ``country``)."""
    for suffix in ("_not", "_has"):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


# --- the library's sources --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A piece of Jinja in the library: a template, a rule or a definition text."""

    file: str
    kind: str  # "template", "rule" or "definition"
    text: str
    module: str | None = None  # None: the skeleton or a fact
    language: str | None = None
    line: int | None = None  # the fixed line of a rule or definition in its TOML file

    def at(self, lineno: int) -> int:
        """Return the file line of a line of this source."""
        return self.line if self.line is not None else lineno


class _Toml:
    """Find the lines of keys in the library's TOML files (tomllib gives no positions)."""

    def __init__(self, library: Library):
        self.library = library
        self.cache: dict[str, list[str]] = {}

    def lines(self, file: str) -> list[str]:
        """Return the lines of a library file (none if it is missing)."""
        if file not in self.cache:
            path = self.library.root / file
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            self.cache[file] = text.splitlines()
        return self.cache[file]

    def key_line(self, file: str, key: str, table: str | None = None) -> int:
        """Return the line of ``key =`` (in ``[table]`` if given, else anywhere), or 1."""
        lines = self.lines(file)
        name = re.escape(key)
        pattern = re.compile(rf"""^\s*(?:{name}|"{name}"|'{name}')\s*=""")
        start = self.table_line(file, table) if table is not None else 0
        if table is not None and start == 0:
            return self.key_line(file, key)
        for index in range(start, len(lines)):
            if table is not None and lines[index].lstrip().startswith("["):
                break
            if pattern.match(lines[index]):
                return index + 1
        return self.key_line(file, key) if table is not None else 1

    def table_line(self, file: str, table: str) -> int:
        """Return the line of a ``[table]`` header, or 0."""
        header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        return next((i + 1 for i, t in enumerate(self.lines(file)) if header.match(t)), 0)

    def entry_line(self, file: str, name: str) -> int:
        """Return the line of ``[name]`` or of ``name =``, whichever the file has."""
        return self.table_line(file, name) or self.key_line(file, name)


def _sources(library: Library, toml: _Toml) -> list[_Source]:
    """Return every template, rule and definition text of the library."""
    sources: list[_Source] = []
    for language in LANGUAGES:
        skeleton = library.root / library.skeleton_name(language)
        if skeleton.exists():
            sources.append(_Source(library.skeleton_name(language), "template",
                                   skeleton.read_text(encoding="utf-8"), language=language))
    facts = "clauses/facts.toml"
    for fact in library.facts:
        sources.append(_Source(facts, "rule", _expression(fact.rule),
                               line=toml.key_line(facts, "rule", fact.name)))
    for module in library.modules:
        sources.extend(_module_sources(library, module, toml))
    return sources


def _module_sources(library: Library, module: ClauseModule, toml: _Toml) -> Iterator[_Source]:
    """Yield a module's rule, its templates and its definition texts."""
    meta = library.rel(module.meta_path)
    yield _Source(meta, "rule", _expression(module.include), module.id,
                  line=toml.key_line(meta, "include"))
    for language in LANGUAGES:
        path = module.template_path(language)
        if path.exists():
            yield _Source(library.rel(path), "template", path.read_text(encoding="utf-8"),
                          module.id, language)
        for term, text in module.definitions.get(language, ()):
            yield _Source(meta, "definition", text, module.id, language,
                          toml.key_line(meta, term, f"definitions.{language}"))


def _expression(rule: str) -> str:
    """Wrap a rule so that it parses as a template."""
    return "{{ (" + rule + ") }}"


def _scan_all(library: Library, sources: list[_Source]) -> tuple[dict[_Source, _Scan],
                                                                  list[Finding]]:
    """Parse and scan every source; syntax errors become findings."""
    env = environment(library.root)
    scans: dict[_Source, _Scan] = {}
    findings: list[Finding] = []
    for source in sources:
        try:
            tree = env.parse(source.text)
        except TemplateSyntaxError as error:
            what = "rule is not a valid expression" if source.kind == "rule" \
                else "template syntax error"
            findings.append(Finding(source.file, source.at(error.lineno or 1),
                                    f"{what}: {error.message}"))
            continue
        walker = _Walker()
        walker.walk(tree, {}, _NO_GUARDS)
        scans[source] = walker.scan
    return scans, findings


# --- static checks ----------------------------------------------------------------------


def _bare(path: str) -> str:
    """Drop the list markers of a path (``a.b[].c`` -> ``a.b.c``)."""
    return path.replace("[]", "")


def _check_fields(library: Library, scans: dict[_Source, _Scan],
                  schema: dict[str, Any]) -> Iterator[Finding]:
    """Report deal fields, facts and names that a source uses but nothing defines."""
    known = {_bare(p) for p in schema_field_paths(schema)}
    facts = {f.name for f in library.facts}
    for source, scan in scans.items():
        what = "rule names" if source.kind == "rule" else "reads"
        for path, line in scan.paths:
            if _bare(path) not in known:
                yield Finding(source.file, source.at(line),
                              f"{what} {path}, which the deal schema does not define")
        for name, line in scan.facts:
            if name not in facts:
                yield Finding(source.file, source.at(line),
                              f"{what} facts.{name}, which clauses/facts.toml does not define")
        for name, line in scan.unknown:
            yield Finding(source.file, source.at(line), f"uses an unknown variable {name!r}")


def _check_refs(library: Library, scans: dict[_Source, _Scan]) -> Iterator[Finding]:
    """Report ref() and included() calls naming modules or anchors that do not exist."""
    ids = {mod.id for mod in library.modules}
    anchors: dict[tuple[str | None, str | None], set[str]] = {}
    for source, scan in scans.items():
        anchors.setdefault((source.module, source.language), set()).update(scan.anchors)
    for source, scan in scans.items():
        for ref in scan.refs:
            module_id, _, anchor = ref.target.partition(".")
            if module_id not in ids:
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}') names no clause module")
            elif anchor and anchor not in anchors.get((module_id, source.language), set()):
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}'): {module_id} has no anchor('{anchor}')")
        for target, line in scan.included:
            if target not in ids:
                yield Finding(source.file, source.at(line),
                              f"included('{target}') names no clause module")


def _check_parity(library: Library, scans: dict[_Source, _Scan],
                  toml: _Toml) -> Iterator[Finding]:
    """Report modules whose languages differ: templates, titles, variables, definitions."""
    templates = {(s.module, s.language): (s.file, scan) for s, scan in scans.items()
                 if s.kind == "template"}
    for module in library.modules:
        yield from _check_module_languages(library, module, toml)
        present = [templates[(module.id, lang)] for lang in LANGUAGES
                   if (module.id, lang) in templates]
        languages = [lang for lang in LANGUAGES if (module.id, lang) in templates]
        for index in range(1, len(present)):
            yield from _compare_languages(*present[0], *present[index], languages[0],
                                          languages[index])


def _check_module_languages(library: Library, module: ClauseModule,
                            toml: _Toml) -> Iterator[Finding]:
    """Report a module's missing templates and titles and unequal definition counts."""
    meta = library.rel(module.meta_path)
    counts = {lang: len(module.definitions.get(lang, ())) for lang in LANGUAGES}
    for lang in LANGUAGES:
        if not module.template_path(lang).exists():
            expected = library.rel(module.template_path(lang))
            yield Finding(meta, 1, f"no {lang} template ({expected})")
        if not module.titles.get(lang):
            yield Finding(meta, toml.entry_line(meta, "title"), f"no {lang} title")
        if counts[lang] != counts[LANGUAGES[0]]:
            yield Finding(meta, toml.entry_line(meta, f"definitions.{lang}"),
                          f"defines {counts[lang]} term(s) in {lang} but "
                          f"{counts[LANGUAGES[0]]} in {LANGUAGES[0]}")


def _compare_languages(file_a: str, scan_a: _Scan, file_b: str, scan_b: _Scan,
                       lang_a: str, lang_b: str) -> Iterator[Finding]:
    """Report deal fields only one language reads, and different in-place term counts."""
    leaves_a, leaves_b = _leaf_lines(scan_a.paths), _leaf_lines(scan_b.paths)
    for path in sorted(leaves_a.keys() - leaves_b.keys()):
        yield Finding(file_a, leaves_a[path], f"reads {path}, which the {lang_b} text does not")
    for path in sorted(leaves_b.keys() - leaves_a.keys()):
        yield Finding(file_b, leaves_b[path], f"reads {path}, which the {lang_a} text does not")
    terms_a, terms_b = {t for t, _ in scan_a.terms}, {t for t, _ in scan_b.terms}
    if len(terms_a) != len(terms_b):
        line = scan_b.terms[0][1] if scan_b.terms else 1
        yield Finding(file_b, line, f"defines {len(terms_b)} term(s) in place with term() "
                                    f"but the {lang_a} text defines {len(terms_a)}")


def _leaf_lines(paths: list[tuple[str, int]]) -> dict[str, int]:
    """Return the leaf paths (not a prefix of another read path) and their first line."""
    first: dict[str, int] = {}
    for path, line in paths:
        first.setdefault(path, line)
    return {p: line for p, line in first.items()
            if not any(q != p and q.startswith((p + ".", p + "[]")) for q in first)}


_Pointer = tuple[str, ...]  # a JSON pointer as its keys

# Fields the engine itself prints or reads (document metadata, signature blocks, money).
_ENGINE_FIELDS = (
    "deal_sheet_version", "language", "agreement.title", "agreement.reference",
    "agreement.governing_law", "agreement.currency", "parties.client.legal_name",
    "parties.vendor.legal_name", "parties.client.signatory.name",
    "parties.client.signatory.title", "parties.vendor.signatory.name",
    "parties.vendor.signatory.title",
)


def _check_unused_fields(library: Library, scans: dict[_Source, _Scan],
                         schema: dict[str, Any]) -> Iterator[Finding]:
    """Report deal-schema fields that no template, rule or definition reads."""
    used = {_bare(p) for scan in scans.values() for p, _ in scan.paths}
    used.update(_ENGINE_FIELDS)
    file = f"schemas/{SCHEMA_FILE}"
    path = library.root / file
    lines = _json_key_lines(path.read_text(encoding="utf-8")) if path.exists() else {}
    unused: dict[str, _Pointer] = {}
    for name, pointer in _schema_fields(schema):
        bare = _bare(name)
        if not any(u == bare or u.startswith(bare + ".") for u in used):
            unused[name] = pointer
    for name, pointer in unused.items():
        if not any(name.startswith((other + ".", other + "[]")) for other in unused):
            yield Finding(file, lines.get(pointer, 1),
                          f"deal field {name} is not used by any clause, rule or template")


def _schema_fields(schema: dict[str, Any]) -> Iterator[tuple[str, _Pointer]]:
    """Yield every field path of the schema with the JSON pointer of its property key."""

    def deref(node: Any, pointer: _Pointer) -> tuple[Any, _Pointer]:
        """Follow $ref, keeping the pointer of where the definition is."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) \
                and node["$ref"].startswith("#/"):
            pointer = tuple(node["$ref"][2:].split("/"))
            node = resolved(node, schema)
        return node, pointer

    def walk(node: Any, pointer: _Pointer, prefix: str) -> Iterator[tuple[str, _Pointer]]:
        """Yield the fields under one schema node."""
        node, pointer = deref(node, pointer)
        if not isinstance(node, dict):
            return
        if node.get("type") == "array" or "items" in node:
            yield from walk(node.get("items"), (*pointer, "items"), prefix + "[]")
            return
        parts = [(node, pointer)] + [deref(node.get(k), (*pointer, k)) for k in ("then", "else")]
        parts += [deref(part, (*pointer, "allOf", str(i)))
                  for i, part in enumerate(node.get("allOf", []))]
        seen: set[str] = set()
        for part, part_pointer in parts:
            if not isinstance(part, dict):
                continue
            for name, sub in part.get("properties", {}).items():
                if name in seen or not isinstance(sub, dict):
                    continue
                seen.add(name)
                path = f"{prefix}.{name}" if prefix else name
                key = (*part_pointer, "properties", name)
                yield path, key
                yield from walk(sub, key, path)

    yield from walk(schema, (), "")


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _json_key_lines(text: str) -> dict[_Pointer, int]:
    """Map the pointer of every object key in a JSON text to the line it is on."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    lines: dict[_Pointer, int] = {}
    stack: list[list[Any]] = []  # [is object, pointer, current key or index]
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "["):
            pointer = (*stack[-1][1], str(stack[-1][2])) if stack else ()
            stack.append([token == "{", pointer, 0])
            expect_key = token == "{"
        elif token in ("}", "]"):
            stack.pop()
        elif token == ",":
            expect_key = stack[-1][0]
            if not stack[-1][0]:
                stack[-1][2] += 1
        elif expect_key and token.startswith('"'):
            key = json.loads(token)
            stack[-1][2] = key
            lines[(*stack[-1][1], key)] = bisect.bisect_right(starts, match.start())
            expect_key = False
    return lines


# --- exploring generated deals ----------------------------------------------------------

_VARIANTS: dict[str, tuple[Variant, ...]] = {}


def _variants(library: Library, schema: dict[str, Any]) -> tuple[Variant, ...]:
    """Return the generated deals for this library's examples (cached by content)."""
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode())
    for path in sorted((library.root / "examples").glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    if key not in _VARIANTS:
        if len(_VARIANTS) >= 4:
            _VARIANTS.clear()
        _VARIANTS[key] = tuple(generate(library.root, schema))
    return _VARIANTS[key]


@dataclass(frozen=True)
class _Explored:
    """The generated deals (normalised) and each one's selection."""

    variants: tuple[Variant, ...]
    deals: tuple[dict[str, Any], ...]
    selections: tuple[Selection, ...]

    @cached_property
    def included(self) -> tuple[frozenset[str], ...]:
        """Return each deal's included module ids."""
        return tuple(s.included_ids for s in self.selections)

    @cached_property
    def reachable(self) -> frozenset[str]:
        """Return the modules some deal includes."""
        return frozenset().union(*self.included)

    def cover(self) -> list[int]:
        """Return a few deals that together include every reachable module (greedy)."""
        remaining = set(self.reachable)
        chosen: list[int] = []
        while remaining:
            best = max(range(len(self.included)),
                       key=lambda i: len(self.included[i] & remaining))
            chosen.append(best)
            remaining -= self.included[best]
        return chosen


def _explore(library: Library, schema: dict[str, Any]) -> _Explored:
    """Generate the deals and select each one's modules (LibraryError if a rule fails)."""
    variants = _variants(library, schema)
    deals = tuple(normalise(v.data, schema) for v in variants)
    selections = tuple(select(library, deal) for deal in deals)
    return _Explored(variants, deals, selections)


def _check_reachable(library: Library, explored: _Explored, toml: _Toml) -> Iterator[Finding]:
    """Report modules that no generated deal includes."""
    for module in library.modules:
        if module.id not in explored.reachable:
            meta = library.rel(module.meta_path)
            yield Finding(meta, toml.key_line(meta, "include"),
                          f"module {module.id} is unreachable: none of the "
                          f"{len(explored.variants)} generated deals includes it")


def _check_guards(library: Library, scans: dict[_Source, _Scan],
                  explored: _Explored) -> Iterator[Finding]:
    """Report unguarded refs to modules some deal leaves out while keeping the referrer."""
    ids = {mod.id for mod in library.modules}
    for source, scan in scans.items():
        for ref in scan.refs:
            target = ref.target.split(".", 1)[0]
            if target not in ids or target == source.module or ref.guarded:
                continue
            witness = next((v.name for v, ids in zip(explored.variants, explored.included,
                                                     strict=True)
                            if (source.module is None or source.module in ids)
                            and target not in ids and ref.guards.allow(ids)), None)
            if witness is not None:
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}') is not guarded by "
                              f"{{% if included('{target}') %}}, and deal {witness} leaves "
                              f"{target} out")


# --- defined terms on assembled contracts -------------------------------------------------

_HEADINGS = (m.Title, m.Heading, m.NumberedHeading, m.TableOfContents, m.SignatureBlock,
             m.PageBreak)


@dataclass(frozen=True)
class _Contract:
    """One representative deal rendered in one language."""

    name: str
    language: str
    selection: Selection
    document: m.Document

    @cached_property
    def owners(self) -> list[str | None]:
        """Return the module that produced each block (None: the skeleton)."""
        owners: list[str | None] = [None] * len(self.document.blocks)
        for owner, start, end in self.document.spans:
            owners[start:end] = [owner] * (end - start)
        return owners

    @cached_property
    def definitions(self) -> list[tuple[str, int, bool]]:
        """Return (term, block index, whether it opens a Definitions entry) for each Term."""
        found = []
        for index, block in enumerate(self.document.blocks):
            runs = list(m.block_runs(block))
            for position, run in enumerate(runs):
                if isinstance(run, m.Term):
                    entry = position == 1 and isinstance(runs[0], m.Text) \
                        and runs[0].text.strip() in ("“", '"')
                    found.append((run.text, index, entry))
        return found

    @cached_property
    def text(self) -> tuple[str, list[int]]:
        """Return the text of every non-heading block (terms blanked) and each block's offset."""
        parts: list[str] = []
        offsets: list[int] = []
        position = 0
        for block in self.document.blocks:
            offsets.append(position)
            chunk = "" if isinstance(block, _HEADINGS) else "".join(
                "\0" if isinstance(run, m.Term) else m.runs_text((run,))
                for run in m.block_runs(block))
            parts.append(chunk + "\n\1\n")
            position += len(parts[-1])
        return "".join(parts), offsets

    def uses(self, term: str) -> list[int]:
        """Return the blocks that use a term, outside the Definitions entry that defines it."""
        text, offsets = self.text
        own = {i for t, i, entry in self.definitions if t == term and entry}
        blocks = (bisect.bisect_right(offsets, start) - 1 for start in _word_hits(text, term))
        return sorted({b for b in blocks if b not in own})


class _TermChecker:
    """Check defined terms on assembled contracts and locate each finding in the library."""

    def __init__(self, library: Library, scans: dict[_Source, _Scan], toml: _Toml):
        self.library = library
        self.toml = toml
        self.templates = {(s.module, s.language): s for s in scans if s.kind == "template"}
        self.in_place: dict[str, dict[str, set[str]]] = {lang: {} for lang in LANGUAGES}
        for source, scan in scans.items():
            if source.kind == "template" and source.language:
                for term, _ in scan.terms:
                    owners = self.in_place[source.language].setdefault(term, set())
                    owners.add(source.module or "the skeleton")

    def definers(self, term: str, language: str) -> list[ClauseModule]:
        """Return the modules whose [definitions] define a term in a language."""
        return [mod for mod in self.library.modules
                if any(t == term for t, _ in mod.definitions.get(language, ()))]

    def library_terms(self, language: str, contracts: list[_Contract]) -> set[str]:
        """Return every term the library defines in a language, anywhere."""
        terms = set(self.in_place[language])
        for mod in self.library.modules:
            terms.update(t for t, _ in mod.definitions.get(language, ()))
        for contract in contracts:
            if contract.language == language:
                terms.update(t for t, _, _ in contract.definitions)
        return terms

    def check(self, contract: _Contract, terms: set[str]) -> Iterator[tuple[Finding, str]]:
        """Yield each finding on one contract with the deal it was seen in."""
        context = f"{contract.name}, {contract.language}"
        defined: dict[str, list[tuple[int, bool]]] = {}
        for term, index, entry in contract.definitions:
            defined.setdefault(term, []).append((index, entry))
        for term, places in defined.items():
            for index, entry in places[1:]:
                other = self.origin(contract, term, *places[0])
                file, line = self.origin(contract, term, index, entry)
                yield Finding(file, line, f"term {term!r} is defined twice in one contract "
                                          f"(also in {other[0]})"), context
            if not contract.uses(term):
                file, line = self.origin(contract, term, *places[0])
                yield Finding(file, line, f"term {term!r} is defined but never used"), context
        for term in sorted(terms - defined.keys()):
            yield from ((f, context) for f in self.undefined_uses(contract, term))

    def undefined_uses(self, contract: _Contract, term: str) -> Iterator[Finding]:
        """Yield one finding per place that uses a term this contract does not define."""
        where = {mod.id for mod in self.definers(term, contract.language)}
        where |= self.in_place[contract.language].get(term, set())
        seen: set[tuple[str, int]] = set()
        for index in contract.uses(term):
            place = self.use_origin(contract, term, index)
            if place not in seen:
                seen.add(place)
                yield Finding(*place, f"uses the defined term {term!r}, which this contract "
                                      f"does not define (defined by {', '.join(sorted(where))})")

    def origin(self, contract: _Contract, term: str, index: int, entry: bool) -> tuple[str, int]:
        """Return where a Term run was defined: a [definitions] key or a term() call."""
        if entry:
            for mod in self.definers(term, contract.language):
                if mod.id in contract.selection.included_ids:
                    return self.definition_key(mod, term, contract.language)
        source = self.template(contract, index)
        quoted = re.compile(rf"""term\(\s*(['"]){re.escape(term)}\1""")
        return source.file, _first_line(source.text, quoted)

    def use_origin(self, contract: _Contract, term: str, index: int) -> tuple[str, int]:
        """Return where the text of a block that uses a term comes from."""
        opener = next((t for t, i, entry in contract.definitions if i == index and entry), None)
        if opener is not None:
            for mod in self.definers(opener, contract.language):
                if mod.id in contract.selection.included_ids:
                    return self.definition_key(mod, opener, contract.language)
        source = self.template(contract, index)
        return source.file, _first_line(source.text, _term_pattern(term))

    def template(self, contract: _Contract, index: int) -> _Source:
        """Return the template that produced a block of a contract."""
        owner = contract.owners[index]
        source = self.templates.get((owner, contract.language))
        if source is None:  # only a template that failed to parse is missing; renders then fail
            return _Source(self.library.skeleton_name(contract.language), "template", "")
        return source

    def definition_key(self, module: ClauseModule, term: str, language: str) -> tuple[str, int]:
        """Return where a module's TOML defines a term."""
        meta = self.library.rel(module.meta_path)
        return meta, self.toml.key_line(meta, term, f"definitions.{language}")


@lru_cache(maxsize=1024)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Return a case-sensitive pattern for a term, singular or plural ("Days", "Niveles")."""
    parts = []
    for piece in re.split(r"(\w+)", term):
        if not piece or not piece[0].isalnum():
            parts.append(re.escape(piece))
        elif piece.endswith("y"):
            parts.append(re.escape(piece[:-1]) + "(?:y|ys|ies)")
        else:
            parts.append(re.escape(piece) + "(?:s|es)?")
    return re.compile("".join(parts) + r"(?!\w)")


def _word_hits(text: str, term: str) -> Iterator[int]:
    """Yield where a term occurs as whole words (case-sensitive, either number) in a text."""
    # The left boundary is checked by hand: a leading look-behind would make the regex
    # engine try every position instead of searching for the term's first letters.
    for hit in _term_pattern(term).finditer(text):
        start = hit.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            yield start


def _first_line(text: str, pattern: re.Pattern[str]) -> int:
    """Return the line of the first match of a pattern in a text, or 1."""
    hit = pattern.search(text)
    return text.count("\n", 0, hit.start()) + 1 if hit else 1


def _render_contracts(library: Library, explored: _Explored,
                      toml: _Toml) -> tuple[list[_Contract], list[tuple[Finding, str]]]:
    """Render the representative deals in every language; failures become findings."""
    contracts: list[_Contract] = []
    failures: list[tuple[Finding, str]] = []
    for index in explored.cover():
        variant, selection = explored.variants[index], explored.selections[index]
        for language in LANGUAGES:
            try:
                document = build_document(library, selection, explored.deals[index], language)
            except LibraryError as error:
                finding = _located(str(error), library, toml, "fails to render: ")
                failures.append((finding, f"{variant.name}, {language}"))
                continue
            contracts.append(_Contract(variant.name, language, selection, document))
    return contracts, failures


_LOCATION = re.compile(r"^(?P<file>[^\s:]+)(?::(?P<line>\d+))?(?: \[(?P<fact>\w+)\])?: "
                       r"(?P<message>.*)$", re.DOTALL)
_TERM_IN_MESSAGE = re.compile(r"(?:term|definition of) '(?P<term>[^']+)'")
_DUPLICATE = re.compile(r"term '(?P<term>[^']+)' is also defined by (?P<other>\w+)")


def _located(text: str, library: Library, toml: _Toml, prefix: str) -> Finding:
    """Turn a LibraryError message (``file:line: message``) into a prefixed finding."""
    match = _LOCATION.match(text)
    if match is None:
        return Finding("clauses", 1, prefix + text)
    file, message = match["file"], prefix + match["message"]
    duplicate = _DUPLICATE.fullmatch(match["message"])
    if duplicate:  # render refuses a contract whose [definitions] repeat a term
        other = library.rel(library.get(duplicate["other"]).meta_path)
        message = f"term '{duplicate['term']}' is defined twice in one contract (also in {other})"
    if match["line"]:
        return Finding(file, int(match["line"]), message)
    if match["fact"]:
        return Finding(file, toml.key_line(file, "rule", match["fact"]), message)
    term = _TERM_IN_MESSAGE.search(message)
    if file.endswith(".toml") and term:
        return Finding(file, toml.key_line(file, term["term"]), message)
    if file.endswith(".toml") and message.startswith("rule"):
        return Finding(file, toml.key_line(file, "include"), message)
    return Finding(file, 1, message)


# --- lint -------------------------------------------------------------------------------


class _Findings:
    """Collect findings once each, keeping the first deal a finding was seen in."""

    def __init__(self) -> None:
        self.seen: dict[Finding, str] = {}

    def add(self, findings: Iterable[Finding]) -> None:
        """Add findings seen without a particular deal."""
        for finding in findings:
            self.seen.setdefault(finding, "")

    def add_seen(self, pairs: Iterable[tuple[Finding, str]]) -> None:
        """Add findings, each with the deal it was seen in."""
        for finding, context in pairs:
            self.seen.setdefault(finding, context)

    def result(self) -> list[Finding]:
        """Return the findings, sorted, each naming the first deal it was seen in."""
        out = {Finding(f.file, f.line, f"{f.message} (deal {ctx})" if ctx else f.message)
               for f, ctx in self.seen.items()}
        return sorted(out)


def lint(library: Library, schema: dict[str, Any]) -> list[Finding]:
    """Check the clause library against the deal schema; return the findings, sorted."""
    toml = _Toml(library)
    sources = _sources(library, toml)
    scans, syntax = _scan_all(library, sources)
    static = [*syntax, *_check_fields(library, scans, schema), *_check_refs(library, scans)]
    findings = _Findings()
    findings.add(static)
    findings.add(_check_parity(library, scans, toml))
    findings.add(_check_unused_fields(library, scans, schema))
    rules = {(s.file, s.line) for s in sources if s.kind == "rule"}
    if not any((f.file, f.line) in rules for f in static):  # else every selection would fail
        _explored_checks(library, schema, scans, toml, findings,
                         {(f.file, f.line) for f in static})
    return findings.result()


def _explored_checks(library: Library, schema: dict[str, Any], scans: dict[_Source, _Scan],
                     toml: _Toml, findings: _Findings, known: set[tuple[str, int]]) -> None:
    """Add the findings that need generated deals and assembled contracts."""
    try:
        explored = _explore(library, schema)
    except LibraryError as error:
        findings.add([_located(str(error), library, toml, "cannot select modules: ")])
        return
    findings.add(_check_reachable(library, explored, toml))
    findings.add(_check_guards(library, scans, explored))
    contracts, failures = _render_contracts(library, explored, toml)
    # A failure where a static check already found the cause would only repeat it.
    findings.add_seen((f, ctx) for f, ctx in failures if (f.file, f.line) not in known)
    checker = _TermChecker(library, scans, toml)
    for language in LANGUAGES:
        terms = checker.library_terms(language, contracts)
        for contract in (c for c in contracts if c.language == language):
            findings.add_seen(checker.check(contract, terms))


# --- coverage ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleCoverage:
    """How often generated deals include one module, and which changes switch it on."""

    id: str
    kind: str
    included: int
    switched_on_by: tuple[str, ...]

    @property
    def never(self) -> bool:
        """Return whether no generated deal includes the module."""
        return self.included == 0


@dataclass(frozen=True)
class CoverageReport:
    """Module coverage over every generated deal."""

    total: int
    modules: tuple[ModuleCoverage, ...]

    @property
    def never(self) -> tuple[str, ...]:
        """Return the ids of the modules no generated deal includes."""
        return tuple(c.id for c in self.modules if c.never)


def coverage(library: Library, schema: dict[str, Any]) -> CoverageReport:
    """Count, per module, the generated deals that include it and the changes that do it."""
    explored = _explore(library, schema)
    pairs = list(zip(explored.variants, explored.included, strict=True))
    base = {v.name: ids for v, ids in pairs if ":" not in v.name}
    rows = []
    for module in library.modules:
        hits = [v.name for v, ids in pairs if module.id in ids]
        switched = tuple(name for name in hits
                         if ":" in name and module.id not in base.get(name.split(":")[0], ()))
        rows.append(ModuleCoverage(module.id, module.kind, len(hits), switched))
    return CoverageReport(len(explored.variants), tuple(rows))


def format_coverage(report: CoverageReport, shown: int = 3) -> str:
    """Return the coverage report as a text table with a summary line."""
    width = max([len("module"), *(len(c.id) for c in report.modules)])
    lines = [f"{'module':<{width}}  {'kind':<8}  {'included':>11}  switched on by"]
    for row in report.modules:
        if row.never:
            how = "NEVER"
        elif row.included == report.total:
            how = "(every deal)"
        elif not row.switched_on_by:
            how = "(the examples)"
        else:
            how = ", ".join(row.switched_on_by[:shown])
            if len(row.switched_on_by) > shown:
                how += f" (+{len(row.switched_on_by) - shown} more)"
        lines.append(f"{row.id:<{width}}  {row.kind:<8}  "
                     f"{f'{row.included}/{report.total}':>11}  {how}")
    never = report.never
    summary = (f"{len(report.modules)} modules, {report.total} generated deals: "
               f"{len(report.modules) - len(never)} included by some deal, {len(never)} never")
    lines.append(summary + (f" ({', '.join(never)})" if never else ""))
    return "\n".join(lines) + "\n"


def scan_fields(env: Any, source: str) -> set[str]:
    """Return the deal fields a template reads: leaf paths, list items marked ``[]``."""
    walker = _Walker()
    walker.walk(env.parse(source), {}, _NO_GUARDS)
    return set(_leaf_lines(walker.scan.paths))
