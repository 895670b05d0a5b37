"""Every inclusion rule of the bundled library, tested on both sides of its condition.

The deal variants switch each option of the deal sheet on and off (contractgen.variants);
every module whose rule is not `true` must be included by some variant and left out by
another, and each decision must carry a reason naming the deal values behind it.
"""

from __future__ import annotations

from functools import cache

import pytest

from contractgen.dealsheet import load_schema, normalise
from contractgen.pipeline import open_library
from contractgen.rules import Decision, select
from contractgen.variants import generate

LIBRARY = open_library()


@cache
def _decisions() -> dict[str, list[tuple[str, Decision]]]:
    schema = load_schema(LIBRARY.root)
    by_module: dict[str, list[tuple[str, Decision]]] = {m.id: [] for m in LIBRARY.modules}
    for variant in generate(LIBRARY.root, schema):
        for decision in select(LIBRARY, normalise(variant.data, schema)).decisions:
            by_module[decision.module.id].append((variant.name, decision))
    return by_module


CONDITIONAL = [m.id for m in LIBRARY.modules if m.include.strip() != "true"]
ALWAYS = [m.id for m in LIBRARY.modules if m.include.strip() == "true"]


@pytest.mark.parametrize("module_id", CONDITIONAL)
def test_rule_is_exercised_on_both_sides(module_id: str) -> None:
    decisions = _decisions()[module_id]
    included = [name for name, d in decisions if d.included]
    excluded = [name for name, d in decisions if not d.included]
    assert included, f"no generated deal includes {module_id}"
    assert excluded, f"no generated deal leaves out {module_id}"
    reasons = {d.reason for _, d in decisions}
    assert all(" = " in r or "needs" in r or "replaces" in r for r in reasons), reasons


@pytest.mark.parametrize("module_id", ALWAYS)
def test_unconditional_module_is_always_in(module_id: str) -> None:
    assert all(d.included for _, d in _decisions()[module_id])


def test_variants_are_valid_and_numerous() -> None:
    schema = load_schema(LIBRARY.root)
    variants = generate(LIBRARY.root, schema)
    assert len(variants) > 100
    assert len({v.name for v in variants}) == len(variants)
