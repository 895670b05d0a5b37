"""Static analysis of rules and templates: which deal fields they read.

Walks the Jinja2 syntax tree and follows attribute chains from the deal's top-level names,
through ``{% for x in list %}`` (x stands for ``list[]``) and ``{% set a = b.c %}`` aliases,
so ``{% for f in scope.functions %}{{ f.name }}`` reads ``scope.functions[].name``.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import Environment, nodes

from contractgen.rules import DEAL_ROOTS

_PASS_THROUGH = {"sort", "selectattr", "rejectattr", "list", "unique", "reverse", "batch"}
_ONE_ITEM = {"first", "last"}


def _chain(node: nodes.Node, aliases: dict[str, str]) -> str | None:
    """Return the deal path an attribute chain names, or None."""
    parts: list[str] = []
    current = node
    while isinstance(current, nodes.Getattr | nodes.Getitem | nodes.Filter):
        if isinstance(current, nodes.Filter):
            if current.node is None or current.name not in _PASS_THROUGH | _ONE_ITEM:
                return None
            if current.name in _ONE_ITEM:
                parts.append("[]")  # one item of the list: its fields are list-item fields
            current = current.node
            continue
        if isinstance(current, nodes.Getattr):
            parts.append(current.attr)
        elif isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
            parts.append(current.arg.value)
        elif isinstance(current.arg, nodes.Const):
            parts.append("[]")
        else:
            return None
        current = current.node
    return _rooted(current, parts, aliases)


def _rooted(current: nodes.Node, parts: list[str], aliases: dict[str, str]) -> str | None:
    """Return the path of a chain whose innermost node is ``current`` (a name), or None."""
    if not isinstance(current, nodes.Name):
        return None
    if current.name in aliases:
        base = aliases[current.name]
    elif current.name in DEAL_ROOTS:
        base = current.name
    else:
        return None
    path = base
    for part in reversed(parts):
        path = path + part if part == "[]" else f"{path}.{part}"
    return path


def _walk(node: nodes.Node, aliases: dict[str, str]) -> Iterator[str]:
    if isinstance(node, nodes.For):
        yield from _walk(node.iter, aliases)
        inner = dict(aliases)
        source = _chain(node.iter, aliases)
        if source and isinstance(node.target, nodes.Name):
            inner[node.target.name] = source + "[]"
        for child in (*node.body, *node.else_, *( [node.test] if node.test else [])):
            yield from _walk(child, inner)
        return
    if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
        yield from _walk(node.node, aliases)
        source = _chain(node.node, aliases)
        if source:
            aliases[node.target.name] = source
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        path = _chain(node, aliases)
        if path is not None:
            yield path
            return
    if isinstance(node, nodes.Filter | nodes.Test) and node.name in ("any", "all", "count"):
        base = _chain(node.node, aliases) if node.node is not None else None
        for keyword in node.kwargs:
            field = str(keyword.key)
            for suffix in ("_not", "_has"):
                field = field.removesuffix(suffix)
            if base:
                yield f"{base}[].{field}"
    if isinstance(node, nodes.Filter) and node.name == "map":
        base = _chain(node.node, aliases) if node.node is not None else None
        for keyword in node.kwargs:
            if keyword.key == "attribute" and isinstance(keyword.value, nodes.Const) and base:
                yield f"{base}[].{keyword.value.value}"
    for child in node.iter_child_nodes():
        yield from _walk(child, aliases)


def _leaves(paths: set[str]) -> set[str]:
    """Drop paths that are only prefixes of longer ones ("scope" when "scope.extent" is read)."""
    return {p for p in paths
            if not any(q != p and (q.startswith(p + ".") or q.startswith(p + "[]")) for q in paths)}


def template_fields(env: Environment, source: str) -> set[str]:
    """Return the deal fields a template reads (leaf paths, lists marked ``[]``)."""
    return _leaves(set(_walk(env.parse(source), {})))


def expression_fields(env: Environment, expression: str) -> set[str]:
    """Return the deal fields a rule expression reads."""
    return template_fields(env, "{{ (" + expression + ") }}")
