"""Which deal fields a template or a rule reads: the public face of the lint's scanner.

``contractgen.lint`` walks the Jinja2 syntax tree (following ``{% for %}`` and ``{% set %}``
aliases, pass-through filters and the ``any/all/count`` keywords) to check the library; these
functions give other callers — the language-parity tests, for one — the fields it finds, as
leaf paths with list items marked ``[]`` ("scope.functions[].name").
"""

from __future__ import annotations

from jinja2 import Environment


def template_fields(env: Environment, source: str) -> set[str]:
    """Return the deal fields a template reads (leaf paths, lists marked ``[]``)."""
    from contractgen.lint import scan_fields

    return scan_fields(env, source)


def expression_fields(env: Environment, expression: str) -> set[str]:
    """Return the deal fields a rule expression reads."""
    return template_fields(env, "{{ (" + expression + ") }}")
