"""Which deal fields a template or a rule reads, found by walking its Jinja2 syntax tree.

The walker follows ``{% for %}`` and ``{% set %}`` aliases, pass-through filters and the
``any/all/count`` keywords, and notes the guards (``included(...)``) around each place. The
clause-library lint (``contractgen.lint``) checks fields, cross-references and parity with
it; ``template_fields`` and ``expression_fields`` give other callers (the language-parity
tests, for one) the fields as leaf paths with list items marked ``[]``
("scope.functions[].name").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, nodes

from contractgen.rules import DEAL_ROOTS

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


NO_GUARDS = _Guards()


@dataclass(frozen=True)
class _Ref:
    """A ``ref()`` call: its target, whether it is proven in, and the conditions around it."""

    target: str
    line: int
    guarded: bool
    guards: _Guards


@dataclass
class Scan:
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


class Walker:
    """Walk a Jinja syntax tree, following aliases, and fill in a ``Scan``."""

    def __init__(self) -> None:
        self.scan = Scan()
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
                return _Guards(one_of=(either,)) if either else NO_GUARDS
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
        return NO_GUARDS

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


def leaf_lines(paths: list[tuple[str, int]]) -> dict[str, int]:
    """Return the leaf paths (not a prefix of another read path) and their first line."""
    first: dict[str, int] = {}
    for path, line in paths:
        first.setdefault(path, line)
    return {p: line for p, line in first.items()
            if not any(q != p and q.startswith((p + ".", p + "[]")) for q in first)}


def scan_fields(env: Any, source: str) -> set[str]:
    """Return the deal fields a template reads: leaf paths, list items marked ``[]``."""
    walker = Walker()
    walker.walk(env.parse(source), {}, NO_GUARDS)
    return set(leaf_lines(walker.scan.paths))


def template_fields(env: Environment, source: str) -> set[str]:
    """Return the deal fields a template reads (leaf paths, lists marked ``[]``)."""
    return scan_fields(env, source)


def expression_fields(env: Environment, expression: str) -> set[str]:
    """Return the deal fields a rule expression reads."""
    return template_fields(env, "{{ (" + expression + ") }}")
