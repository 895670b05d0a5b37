"""The rules engine: facts, inclusion rules, relations between modules, reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from minilib import module_toml, write_library

from contractgen.errors import LibraryError
from contractgen.library import load_library
from contractgen.rules import select


def _decisions(root: Path, deal: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    from contractgen.dealsheet import load_schema, normalise

    data = normalise(deal, load_schema(root))
    selection = select(load_library(root), data)
    return {d.module.id: (d.included, d.reason) for d in selection.decisions}


def test_always_included_module_says_so(minilib: Path, northwind: dict[str, Any]) -> None:
    included, reason = _decisions(minilib, northwind)["definitions"]
    assert included and reason == "always included"


def test_membership_rule_on_both_sides(minilib: Path, northwind: dict[str, Any]) -> None:
    northwind["parties"]["client"]["sector"] = "general"
    included, reason = _decisions(minilib, northwind)["step_in"]
    assert included
    assert "'step_in' in performance.remedies` holds" in reason
    northwind["performance"]["remedies"].remove("step_in")
    included, reason = _decisions(minilib, northwind)["step_in"]
    assert not included
    assert "does not hold" in reason and "performance.remedies = " in reason


def test_any_over_list_items_on_both_sides(minilib: Path, northwind: dict[str, Any]) -> None:
    included, reason = _decisions(minilib, northwind)["offshore_section"]
    assert included
    assert 'scope.locations[].delivery_model = ["offshore", "nearshore"]' in reason
    for location in northwind["scope"]["locations"]:
        location["delivery_model"] = "onshore"
    assert not _decisions(minilib, northwind)["offshore_section"][0]


def test_variant_excludes_the_other(minilib: Path, northwind: dict[str, Any]) -> None:
    decisions = _decisions(minilib, northwind)
    assert decisions["step_in_regulated"][0]
    included, reason = decisions["step_in"]
    assert not included and "step_in_regulated replaces it" in reason


def test_section_follows_its_schedule(tmp_path: Path, northwind: dict[str, Any]) -> None:
    root = write_library(tmp_path, {"schedules/charges_schedule.toml": module_toml(
        "charges_schedule", "commercials.indexation.enabled", kind="schedule",
        area="schedules", order=2000)})
    northwind["commercials"]["indexation"] = {"enabled": False}
    included, reason = _decisions(root, northwind)["offshore_section"]
    assert not included and "needs charges_schedule" in reason


def test_requires_leaves_out_a_module_whose_partner_is_out(
        tmp_path: Path, northwind: dict[str, Any]) -> None:
    root = write_library(tmp_path, {"performance/step_in_regulated.toml": module_toml(
        "step_in_regulated", "true", order=210, extra='requires = ["step_in"]\n')})
    northwind["performance"]["remedies"].remove("step_in")
    included, reason = _decisions(root, northwind)["step_in_regulated"]
    assert not included and "needs step_in" in reason


@pytest.mark.parametrize("rule, message", [
    ("agreement.initial_term_monthz > 36", "names a field the deal sheet does not have"),
    ("scope.locations | any(citty='Taguig')", "the items have no field 'citty'"),
    ("scope.locations", "must be true or false"),
    ("agreement.initial_term_months >", "is not a valid expression"),
])
def test_broken_rule_is_a_library_error(tmp_path: Path, northwind: dict[str, Any],
                                        rule: str, message: str) -> None:
    root = write_library(tmp_path, {"performance/step_in.toml": module_toml("step_in", rule)})
    with pytest.raises(LibraryError, match=message) as caught:
        _decisions(root, northwind)
    assert "clauses/performance/step_in.toml" in str(caught.value)
    assert caught.value.exit_code == 5


def test_comparison_rule(tmp_path: Path, northwind: dict[str, Any]) -> None:
    root = write_library(tmp_path, {"performance/step_in.toml": module_toml(
        "step_in", "agreement.initial_term_months > 36")})
    northwind["parties"]["client"]["sector"] = "general"
    assert _decisions(root, northwind)["step_in"][0]
    northwind["agreement"]["initial_term_months"] = 36
    included, reason = _decisions(root, northwind)["step_in"]
    assert not included and "agreement.initial_term_months = 36" in reason


@pytest.mark.parametrize("meta, message", [
    ('id = "other"', "must equal the file name"),
    ('colour = "red"', "unknown key"),
    ('requires = ["nowhere"]', "unknown clause module 'nowhere'"),
    ('kind = "appendix"', "kind must be one of"),
])
def test_broken_metadata_is_a_library_error(tmp_path: Path, meta: str, message: str) -> None:
    base = '''
id = "step_in"
kind = "clause"
area = "performance"
order = 200
version = "1.0.0"
include = "true"
title = { en = "Step-In", es = "Intervención" }
'''
    key = meta.split(" =")[0]
    lines = [line for line in base.strip().splitlines() if not line.startswith(key + " ")]
    root = write_library(tmp_path, {"performance/step_in.toml": "\n".join([*lines, meta]) + "\n"})
    with pytest.raises(LibraryError, match=message):
        load_library(root)


def test_typo_behind_is_not_none_is_caught_statically(tmp_path: Path) -> None:
    from contractgen.pipeline import open_library

    root = write_library(tmp_path, {"performance/step_in.toml": module_toml(
        "step_in", "parties.vendor.repse_registraton is not none")})
    with pytest.raises(LibraryError, match="parties.vendor.repse_registraton"):
        open_library(root)


def test_the_same_verdicts_give_the_same_selection_and_new_ones_a_new_one() -> None:
    """A deal whose every verdict the memo remembers, explained alike, gets the last
    selection back; one whose rule read another value (the verdict the same) gets a new
    selection, explained by the new value."""
    import copy

    from conftest import REPO, load_example

    from contractgen import rules
    from contractgen.dealsheet import load_schema, normalise

    rules.clear_caches()
    library = load_library(REPO)
    deal = normalise(load_example(), load_schema(REPO))
    first = select(library, deal)
    assert select(library, copy.deepcopy(deal)) is first
    edited = copy.deepcopy(deal)
    edited["governance"]["interface_responsibilities"].pop()
    second = select(library, edited)
    assert second is not first
    matrix = {d.module.id: d for d in second.decisions}["schedule_responsibility_matrix"]
    assert matrix.included and "interface_responsibilities = 3 items" in matrix.reason
    assert select(library, deal) is not second  # back to the first deal: its verdicts
    assert {d.module.id: d.reason for d in select(library, deal).decisions} == {
        d.module.id: d.reason for d in first.decisions}
