"""Decide which clause modules a deal gets, and say why.

Each module's ``include`` rule is a sandboxed Jinja expression over the deal (see
clauses/README.md). Facts are evaluated first, then every rule; then ``requires``,
``excludes`` and section parents are applied until nothing changes. The result is a
``Selection``: one ``Decision`` per module, with the reason in words.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.environment import TemplateExpression

from contractgen.cache import code_stamp, entry_name, read_entry, write_entry
from contractgen.errors import LibraryError
from contractgen.library import ClauseModule, Library
from contractgen.memo import MISSING, Dependency, Memo, Stamps, kept, lookup, parts_of, stamps
from contractgen.sandbox import (
    EU,
    RULE_PREFIX,
    RULE_WRAPPER,
    AccessLog,
    Record,
    environment,
    unwrap,
    wrap,
)

DEAL_ROOTS = (
    "deal_sheet_version", "language", "agreement", "parties", "scope", "governance",
    "oversight", "performance", "commercials", "data_protection",
)


@dataclass(frozen=True)
class Decision:
    """Whether one module is in the contract, and why.

    The reason is worded when first read (``explain`` reads it; a render does not).
    """

    module: ClauseModule
    included: bool
    because: Callable[[], str] = field(repr=False, compare=False)

    @cached_property
    def reason(self) -> str:
        return self.because()


@dataclass(frozen=True)
class Selection:
    """The decisions for every module of the library, in library order."""

    decisions: tuple[Decision, ...]
    facts: dict[str, bool]

    @cached_property
    def included_ids(self) -> frozenset[str]:
        return frozenset(d.module.id for d in self.decisions if d.included)

    def modules(self, kind: str | None = None) -> tuple[ClauseModule, ...]:
        """Return the included modules (of one kind), in order."""
        found = self._modules.get(kind)
        if found is None:
            found = self._modules[kind] = tuple(
                d.module for d in self.decisions
                if d.included and (kind is None or d.module.kind == kind))
        return found

    @cached_property
    def _modules(self) -> dict[str | None, tuple[ClauseModule, ...]]:
        return {}  # kind -> the included modules of that kind (None: all)


# (library root, rule) of the rules known to be one expression (see ``check_rules``).
_ONE_EXPRESSION: set[tuple[Path, str]] = set()


def _check_one_expression(library: Library, source: str) -> None:
    """Raise TemplateSyntaxError unless a rule is one expression and nothing else.

    The loader wraps the rule as ``{% set result = (RULE) %}``; this parse makes sure that
    the wrapper holds just that (what ``compile_expression`` would accept).
    """
    body = environment(library.root).parse(RULE_WRAPPER.format(source)).body
    if len(body) != 1 or not isinstance(body[0], nodes.Assign):
        raise TemplateSyntaxError("a rule is one expression", 1)


def _is_one_expression(library: Library, source: str) -> bool:
    try:
        _check_one_expression(library, source)
    except TemplateSyntaxError:
        return False
    return True


def _compile(library: Library, source: str, where: str) -> Any:
    """Compile a rule through the template loader, so its code is byte-code cached."""
    env = environment(library.root)
    try:
        if (library.root, source) not in _ONE_EXPRESSION:
            _check_one_expression(library, source)
        return TemplateExpression(env.get_template(RULE_PREFIX + source), False)
    except TemplateSyntaxError as error:
        raise LibraryError(f"{where}: rule {source!r} is not a valid expression: "
                           f"{error.message}") from error


@lru_cache(maxsize=4096)
def _compiled(library: Library, source: str, where: str) -> Any:
    return _compile(library, source, where)


def rule_paths(library: Library, source: str) -> set[str]:
    """Return the dotted deal paths an expression names (``scope.locations``, ...)."""
    env = environment(library.root)
    tree = env.parse("{{ (" + source + ") }}")
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Name)):
        parts: list[str] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr):
            parts.append(current.attr)
            current = current.node
        if isinstance(current, nodes.Name) and current.name in DEAL_ROOTS:
            found.add(".".join([current.name, *reversed(parts)]))
    return found


def schema_field_paths(schema: dict[str, Any]) -> frozenset[str]:
    """Return every field path the deal schema defines ("scope.locations[].country")."""
    from contractgen.dealsheet import all_properties, resolved

    paths: set[str] = set()

    def walk(node: Any, prefix: str) -> None:
        node = resolved(node, schema)
        if not isinstance(node, dict):
            return
        if node.get("type") == "array" or "items" in node:
            walk(node.get("items"), prefix + "[]")
            return
        for name, sub in all_properties(node, schema).items():
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            walk(sub, path)

    walk(schema, "")
    return frozenset(paths)


def unknown_fields(library: Library, source: str, known: frozenset[str]) -> list[str]:
    """Return the deal paths an expression names that the schema does not define."""
    bare = {p.replace("[]", "") for p in known}
    return sorted(p for p in rule_paths(library, source) if p not in bare)


def _format_value(value: Any) -> str:
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class _RuleLog(AccessLog):
    """A rule's explanation, plus what an explanation leaves out but a reuse must check:
    fields looked for and absent, objects used whole."""

    def __init__(self) -> None:
        super().__init__()
        self.extra: dict[str, Any] = {}

    def missing(self, path: str) -> None:
        self.extra.setdefault(path, MISSING)

    def whole(self, path: str, data: Any) -> None:
        self.extra.setdefault(path, data)

    def dependencies(self, deal: dict[str, Any]) -> tuple[Dependency, ...] | None:
        """The inputs the rule read, or None if one cannot be named again."""
        out: list[Dependency] = []
        for path, value in {**self.entries, **self.extra}.items():
            if "[]" in path:  # a list filter's item fields: the list itself is logged too
                continue
            keys = parts_of(path)
            if keys is None:
                return None
            out.append((keys, kept(value)))
        # Plain values at the top (the deal's language) reach rules unwrapped, so unlogged.
        out.extend(((key,), deal.get(key)) for key in DEAL_ROOTS
                   if not isinstance(deal.get(key), dict | list))
        return tuple(out)


# Verdicts and explanations of rules, by library and rule, with the inputs they read (the
# explanation, a log of its own, is handed out as it is: explanations are only read).
_VERDICTS: Memo[tuple[bool, AccessLog]] = Memo(keys=1024, variants=2)


def clear_caches() -> None:
    """Forget the remembered verdicts (for tests and benchmarks)."""
    _VERDICTS.clear()
    _LastSelection.last = None


def _evaluate(library: Library, source: str, where: str, deal: dict[str, Any],
              facts: dict[str, bool], now: Stamps,
              current: Callable[[Dependency], Any]) -> tuple[bool, AccessLog]:
    """Evaluate a rule over a deal; reuse the verdict if nothing the rule read changed.

    ``now`` are the stamps of the deal's top-level values (``memo.stamps``), and of the
    facts once all are known; ``current`` looks an input up in the deal and the facts.
    """
    known = _VERDICTS.get((library, source), current, now)
    if known is not None:
        return known
    value, log = _run_rule(library, source, where, deal, facts)
    dependencies = log.dependencies(deal)
    if dependencies is not None:
        explained = AccessLog()
        explained.entries = copy.deepcopy(log.entries)
        verdict = (value, explained)
        _VERDICTS.put((library, source), dependencies, verdict, now)
        return verdict  # the objects a later hit hands out: the same objects, the same verdict
    return value, log


def _current(roots: dict[str, Any], dependency: Dependency) -> Any:
    return lookup(roots, dependency[0])


def _looker(deal: dict[str, Any], facts: dict[str, bool]) -> Callable[[Dependency], Any]:
    """Return a look-up of an input in the deal and in ``facts`` (as they are when it is
    called: the facts are filled in one by one)."""
    return partial(_current, {**deal, "facts": facts})


def _run_rule(library: Library, source: str, where: str, deal: dict[str, Any],
              facts: dict[str, bool]) -> tuple[bool, _RuleLog]:
    log = _RuleLog()
    context: dict[str, Any] = {k: _root(deal, k, log) for k in DEAL_ROOTS}
    context["facts"] = Record(dict(facts), "facts", log)
    context["EU"] = list(EU)
    context["__contractgen_log"] = log
    try:
        value = _compiled(library, source, where)(**context)
    except UndefinedError as error:
        raise LibraryError(f"{where}: rule {source!r} names a field the deal sheet does not "
                           f"have ({error.message})") from error
    except LibraryError as error:
        raise LibraryError(f"{where}: rule {source!r}: {error}") from error
    except (TypeError, ValueError) as error:
        raise LibraryError(f"{where}: rule {source!r} cannot be evaluated: {error}") from error
    value = unwrap(value)
    if not isinstance(value, bool):
        raise LibraryError(f"{where}: rule {source!r} must be true or false, "
                           f"but gave {_format_value(value)}")
    return value, log


def _root(deal: dict[str, Any], key: str, log: AccessLog) -> Any:
    value = deal.get(key)
    return wrap(value, key, log) if isinstance(value, dict | list) else value


def evaluate_facts(library: Library, deal: dict[str, Any]) -> dict[str, bool]:
    """Evaluate the library's facts over a deal, in file order."""
    return _facts_with_logs(library, deal, _stamps(deal))[0]


def _stamps(deal: dict[str, Any]) -> Stamps:
    return stamps({key: deal.get(key) for key in DEAL_ROOTS})


def _facts_with_logs(library: Library, deal: dict[str, Any], now: Stamps
                     ) -> tuple[dict[str, bool], dict[str, AccessLog]]:
    facts: dict[str, bool] = {}
    logs: dict[str, AccessLog] = {}
    current = _looker(deal, facts)
    for fact in library.facts:
        where = f"clauses/facts.toml [{fact.name}]"
        facts[fact.name], logs[fact.name] = _evaluate(library, fact.rule, where, deal, facts,
                                                      now, current)
    return facts, logs


def _because(log: AccessLog, fact_logs: dict[str, AccessLog] | None = None) -> str:
    """Name the deal values a rule read; a fact is followed by the values behind it."""
    if not log.entries:
        return ""
    shown = []
    for path, value in log.entries.items():
        if any(other.startswith(path + "[].") for other in log.entries):
            continue  # the list's item fields are shown; its size says nothing more
        text = f"{path} = {_format_value(value)}"
        name = path.removeprefix("facts.")
        if fact_logs and path.startswith("facts.") and name in fact_logs:
            inner = _because(fact_logs[name], fact_logs)
            text += f" {inner[1:]}" if inner else ""
        shown.append(text)
    return " (" + "; ".join(shown) + ")"


def check_rules(library: Library, schema: dict[str, Any]) -> None:
    """Refuse rules that name fields the deal schema does not define, even unevaluated.

    Rules that pass, and are each one expression, are remembered in the ``rules`` cache
    folder (one entry per library folder) by a digest of the rules, the schema's field
    paths, Jinja's version and contractgen's code: a later run with the same digest skips
    parsing them, here and when ``select`` compiles them.
    """
    known = schema_field_paths(schema)
    checks = [(f"clauses/facts.toml [{f.name}]", f.rule) for f in library.facts]
    checks += [(library.rel(m.meta_path), m.include) for m in library.modules]
    name = entry_name("rules", str(library.root))
    digest = _rules_digest(checks, known)
    if read_entry("rules", name) == digest:
        _ONE_EXPRESSION.update((library.root, source) for _, source in checks)
        return
    for where, source in checks:
        try:
            unknown = unknown_fields(library, source, known)
        except TemplateSyntaxError as error:
            raise LibraryError(f"{where}: rule {source!r} is not a valid expression: "
                               f"{error.message}") from error
        if unknown:
            raise LibraryError(f"{where}: rule {source!r} names a field the deal sheet does "
                               f"not have: {', '.join(unknown)}")
    if all(_is_one_expression(library, source) for _, source in checks):
        _ONE_EXPRESSION.update((library.root, source) for _, source in checks)
        write_entry("rules", name, digest)


def _rules_digest(checks: list[tuple[str, str]], known: frozenset[str]) -> str:
    """Return a digest of everything that ``check_rules``' verdict depends on."""
    inputs = [code_stamp(), jinja2.__version__, sorted(known), checks]
    return hashlib.sha256(json.dumps(inputs).encode()).hexdigest()


def select(library: Library, deal: dict[str, Any]) -> Selection:
    """Decide, for every clause module, whether the deal includes it and why."""
    now = _stamps(deal)
    facts, fact_logs = _facts_with_logs(library, deal, now)
    now = {**now, "facts": stamps({"facts": facts})["facts"]}  # the facts are all known now
    current = _looker(deal, facts)
    holds: dict[str, bool] = {}  # each module's rule
    logs: dict[str, AccessLog] = {}
    explanations = [*fact_logs.values()]  # each verdict's, facts first
    for module in library.modules:
        holds[module.id], logs[module.id] = _evaluate(library, module.include, module.location,
                                                      deal, facts, now, current)
        explanations.append(logs[module.id])
    last = _LastSelection.last
    if last is not None and last[0] is library and last[2] == facts \
            and len(last[1]) == len(explanations) \
            and all(map(operator.is_, last[1], explanations)):
        return last[3]  # every verdict remembered as it was, with its explanation: the same
    included = dict(holds)
    notes: dict[str, list[str]] = {module.id: [] for module in library.modules}
    _apply_relations(library, included, notes)
    decisions = tuple(
        Decision(m, included[m.id],
                 partial(_reason, m.include, holds[m.id], logs[m.id], fact_logs,
                         tuple(notes[m.id])))
        for m in library.modules
    )
    selection = Selection(decisions, facts)
    _LastSelection.last = (library, tuple(explanations), dict(facts), selection)
    return selection


class _LastSelection:
    """The last selection made, with the library and the explanations of the verdicts
    behind it (a verdict remembered by the memo is handed out as the same objects, so the
    same objects mean the same verdicts, explained the same way) and the facts."""

    last: tuple[Library, tuple[AccessLog, ...], dict[str, bool], Selection] | None = None


def _reason(rule: str, holds: bool, log: AccessLog, fact_logs: dict[str, AccessLog],
            notes: tuple[str, ...]) -> str:
    """Word why a module is in or out: its rule's verdict and the values it read, then
    what ``excludes``, ``requires`` or a section's parent changed."""
    if rule.strip() == "true":
        text = "always included"
    else:
        verdict = "holds" if holds else "does not hold"
        text = f"rule `{rule}` {verdict}{_because(log, fact_logs)}"
    return text + "".join(notes)


def _apply_relations(library: Library, included: dict[str, bool],
                     reasons: dict[str, list[str]]) -> None:
    """Apply excludes, requires and section parents until nothing changes (``included``
    is updated; ``reasons`` gets a note for each module left out)."""
    changed = True
    while changed:
        changed = False
        for module in library.modules:
            if not included[module.id]:
                continue
            for other in module.excludes:
                if included[other]:
                    if module.id in library.get(other).excludes:
                        raise LibraryError(f"{module.id} and {other} exclude each other and "
                                           "both rules hold for this deal")
                    included[other] = False
                    reasons[other].append(f"; left out: {module.id} replaces it")
                    changed = True
            missing = [r for r in module.requires if not included[r]]
            if module.parent is not None and not included[module.parent]:
                missing.append(module.parent)
            if missing:
                included[module.id] = False
                reasons[module.id].append(f"; left out: it needs {', '.join(missing)}, "
                                          "which is out")
                changed = True
