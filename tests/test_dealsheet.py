"""Tests of the deal-sheet loader: strict JSON, schema, cross-field rules, normalisation."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contractgen.dealsheet import (
    Deal,
    load_deal,
    load_schema,
    normalise,
    validate,
)
from contractgen.errors import InputError, InvalidDealError, Problem
from contractgen.fieldref import field_reference_markdown
from contractgen.paths import library_root, schema_path
from contractgen.strictjson import MAX_BYTES, load_json

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NORTHWIND = EXAMPLES / "northwind-bpo.json"
BAJIO = EXAMPLES / "bajio-nomina.json"


def example(path: Path = NORTHWIND) -> dict[str, Any]:
    """Return a fresh copy of an example deal."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def problems_of(data: Any) -> list[Problem]:
    """Validate ``data`` as if it came from deal.json."""
    return validate(data, "deal.json")


def only_problem(data: Any) -> Problem:
    """Validate ``data`` and return its single problem."""
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]


def write(tmp_path: Path, content: str | bytes, name: str = "deal.json") -> Path:
    """Write ``content`` to a file in ``tmp_path``."""
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def input_error(path: Path) -> str:
    """Load ``path``, expecting an InputError; return its message."""
    with pytest.raises(InputError) as caught:
        load_json(path)
    assert caught.value.exit_code == 3
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    return message


# --------------------------------------------------------------------------
# The examples and the schema itself


@pytest.mark.parametrize("path", [NORTHWIND, BAJIO], ids=lambda p: p.stem)
def test_examples_validate_clean(path: Path) -> None:
    deal = load_deal(path)
    assert isinstance(deal, Deal)
    assert deal.path == path
    assert deal.raw == example(path)


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(load_schema())


def _object_schemas(node: Any, where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every subschema that declares properties (if-conditions aside)."""
    if isinstance(node, dict):
        if "properties" in node and not where.endswith("/if"):
            yield where, node
        for key, value in node.items():
            yield from _object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _object_schemas(value, f"{where}/{index}")


def test_every_schema_property_is_documented() -> None:
    undocumented = [
        f"{where}/{name}"
        for where, node in _object_schemas(load_schema())
        for name, prop in node["properties"].items()
        if prop is not False and not (prop.get("title") and prop.get("description"))
    ]
    assert undocumented == []


def test_every_object_schema_forbids_unknown_fields() -> None:
    open_objects = [
        where
        for where, node in _object_schemas(load_schema())
        if node.get("type") == "object" and node.get("additionalProperties") is not False
    ]
    assert open_objects == []


def test_library_root_prefers_override(tmp_path: Path) -> None:
    assert library_root(tmp_path) == tmp_path
    assert schema_path(tmp_path) == tmp_path / "schemas" / "deal.schema.json"
    assert schema_path().is_file()


# --------------------------------------------------------------------------
# Strict JSON


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    assert "cannot read" in input_error(tmp_path / "absent.json")


def test_directory_is_input_error(tmp_path: Path) -> None:
    assert "directory" in input_error(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file_is_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, "{}")
    path.chmod(0)
    try:
        assert "cannot read" in input_error(path)
    finally:
        path.chmod(0o600)


def test_permission_denied_is_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    path = write(tmp_path, "{}")
    monkeypatch.setattr(Path, "open", refuse)
    assert input_error(path) == f"{path}: cannot read: Permission denied"


def test_oversized_file_is_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": "' + "x" * MAX_BYTES + '"}')
    message = input_error(path)
    assert "larger than" in message
    assert len(message) < 200


def test_invalid_utf8_names_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a":\n "caf\xe9"}')
    message = input_error(path)
    assert "not valid UTF-8" in message
    assert "byte offset 11" in message
    assert "line 2" in message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"a": "caf\xc3\xa9"}')
    assert load_json(path) == {"a": "café"}


def test_utf16_file_is_refused_with_advice(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}'.encode("utf-16"))
    assert "UTF-16" in input_error(path)


def test_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "a": 1,\n  "b": 2\n  "c": 3\n}')
    message = input_error(path)
    assert message == f"{path}: not valid JSON: line 4, column 3: Expecting ',' delimiter"


def test_duplicate_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n "a": {"b": 1},\n "c": {"b": 2,\n  "b": 3}\n}')
    message = input_error(path)
    assert 'duplicate key "b"' in message
    assert "line 4, column 3" in message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(tmp_path: Path, token: str) -> None:
    path = write(tmp_path, f'{{"a": [1,\n {token}]}}')
    message = input_error(path)
    assert token in message
    assert "line 2" in message


def test_overflowing_number_is_refused(tmp_path: Path) -> None:
    assert "too large" in input_error(write(tmp_path, '{"a": 1e400}'))


def test_very_long_integer_is_refused(tmp_path: Path) -> None:
    message = input_error(write(tmp_path, '{"a": ' + "9" * 5000 + "}"))
    assert "digits" in message
    assert len(message) < 200


def test_extreme_nesting_is_input_error_not_recursion_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[" * 100_000)
    assert "nested deeper than 32 levels" in input_error(path)


def test_nesting_limit_is_32_levels(tmp_path: Path) -> None:
    assert load_json(write(tmp_path, "[" * 32 + "]" * 32)) is not None
    assert "nested deeper" in input_error(write(tmp_path, "[" * 33 + "]" * 33))


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"a": "[{" * 100 + '\\"'}))
    assert load_json(path) == {"a": "[{" * 100 + '\\"'}


def test_lone_surrogate_is_refused(tmp_path: Path) -> None:
    message = input_error(write(tmp_path, '{"a": ["ok", "\\ud800"]}'))
    assert "$.a[1]" in message
    assert "surrogate" in message


def test_surrogate_pair_is_accepted(tmp_path: Path) -> None:
    assert load_json(write(tmp_path, '{"a": "\\ud83d\\ude00"}')) == {"a": "\U0001f600"}


# --------------------------------------------------------------------------
# Schema problems, in plain words


def test_unknown_field_suggests_the_right_spelling() -> None:
    deal = example()
    deal["parties"]["client"]["sectr"] = deal["parties"]["client"].pop("sector")
    problems = problems_of(deal)
    assert (
        Problem(
            "deal.json",
            "$.parties.client",
            'unknown field "sectr" (check the spelling; did you mean "sector"?)',
        )
        in problems
    )


def test_unknown_field_lists_the_allowed_ones() -> None:
    deal = example()
    deal["agreement"]["disputes"]["colour"] = "blue"
    problem = only_problem(deal)
    assert problem.path == "$.agreement.disputes"
    assert problem.message == (
        'unknown field "colour" (check the spelling; allowed here: method, seat, rules)'
    )


def test_enum_typo_lists_allowed_values() -> None:
    deal = example()
    deal["scope"]["locations"][0]["delivery_model"] = "ofshore"
    problem = only_problem(deal)
    assert problem.path == "$.scope.locations[0].delivery_model"
    assert problem.message.startswith(
        'expected one of: onshore, nearshore, offshore; found "ofshore"'
    )


def test_missing_required_field_is_named() -> None:
    deal = example()
    del deal["agreement"]["reference"]
    assert only_problem(deal) == Problem(
        "deal.json", "$.agreement", 'required field "reference" is missing'
    )


def test_impossible_calendar_date_is_refused() -> None:
    deal = example()
    deal["agreement"]["effective_date"] = "2027-02-30"
    problem = only_problem(deal)
    assert problem.path == "$.agreement.effective_date"
    assert problem.message == 'expected a date YYYY-MM-DD; found "2027-02-30"'


@pytest.mark.parametrize("text", ["2027-1-04", "20270104", "2027-01-04T00:00"])
def test_dates_must_be_written_yyyy_mm_dd(text: str) -> None:
    deal = example()
    deal["scope"]["transition"]["start_date"] = text
    assert only_problem(deal).path == "$.scope.transition.start_date"


@pytest.mark.parametrize(
    "email", ["legal", "legal@", "legal@northwind", "a b@x.example", "a..b@x.io"]
)
def test_implausible_email_is_refused(email: str) -> None:
    deal = example()
    deal["parties"]["client"]["notices"]["email"] = email
    problem = only_problem(deal)
    assert problem.path == "$.parties.client.notices.email"
    assert "expected an email address" in problem.message


def test_wrong_type_says_what_was_expected() -> None:
    deal = example()
    deal["agreement"]["initial_term_months"] = "48"
    assert only_problem(deal).message == 'expected a whole number; found "48"'


def test_number_out_of_range_gives_the_limit() -> None:
    deal = example()
    deal["performance"]["at_risk_percent"] = 30
    problem = only_problem(deal)
    assert problem.path == "$.performance.at_risk_percent"
    assert problem.message == "must be at most 25; found 30"


def test_country_code_pattern_is_explained() -> None:
    deal = example()
    deal["parties"]["vendor"]["country"] = "PHL"
    assert "two-letter country code" in only_problem(deal).message


def test_empty_required_list_is_refused() -> None:
    deal = example()
    deal["governance"]["bodies"] = []
    problem = only_problem(deal)
    assert problem.path == "$.governance.bodies"
    assert "at least one" in problem.message


def test_repeated_list_items_are_refused() -> None:
    deal = example()
    deal["data_protection"]["laws"].append("GLBA")
    assert only_problem(deal).message == 'items must not repeat; "GLBA" appears more than once'


def test_wrong_version_is_refused() -> None:
    deal = example()
    deal["deal_sheet_version"] = "2.0"
    assert only_problem(deal).message == 'expected "1.0"; found "2.0"'


def test_top_level_must_be_an_object() -> None:
    problem = only_problem([1, 2])
    assert problem.path == "$"
    assert "expected an object" in problem.message


# --------------------------------------------------------------------------
# Options switched on and off


def test_disabled_option_refuses_its_numbers() -> None:
    deal = example()
    deal["performance"]["earn_back"]["enabled"] = False
    assert only_problem(deal) == Problem(
        "deal.json",
        "$.performance.earn_back",
        'field "months" is not allowed when "enabled" is false; remove it',
    )


def test_enabled_option_needs_its_numbers() -> None:
    deal = example(BAJIO)
    deal["performance"]["benchmarking"] = {"enabled": True, "frequency_months": 24}
    assert only_problem(deal) == Problem(
        "deal.json",
        "$.performance.benchmarking",
        'required field "first_after_months" is missing (needed when "enabled" is true)',
    )


def test_renewal_none_takes_no_numbers() -> None:
    deal = example()
    deal["agreement"]["renewal"]["type"] = "none"
    messages = [p.message for p in problems_of(deal)]
    assert messages == [
        'field "non_renewal_notice_days" is not allowed when "type" is "none"; remove it',
        'field "period_months" is not allowed when "type" is "none"; remove it',
    ]


def test_renewal_needs_its_period() -> None:
    deal = example()
    del deal["agreement"]["renewal"]["period_months"]
    message = only_problem(deal).message
    assert message == 'required field "period_months" is missing (needed when "type" is not "none")'


def test_arbitration_needs_rules_and_courts_refuse_them() -> None:
    deal = example()
    del deal["agreement"]["disputes"]["rules"]
    assert "rules" in only_problem(deal).message
    deal = example(BAJIO)
    deal["agreement"]["disputes"]["rules"] = "CAM"
    assert only_problem(deal).message.startswith('field "rules" is not allowed')


# --------------------------------------------------------------------------
# Text hygiene and money


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" Tier 1", "spaces at the start or end"),
        ("Tier 1\t", "spaces at the start or end"),
        ("   ", "must not be empty"),
        ("Tier\n1", "a line break"),
        ("Tier\x071", "control character U+0007"),
        ("Tier\x851", "control character U+0085"),
        ("Tier \u202e1", "text-direction character U+202E"),
        ("Tier \u20681", "text-direction character U+2068"),
    ],
)
def test_dirty_text_is_refused(text: str, expected: str) -> None:
    deal = example()
    deal["scope"]["functions"][0]["name"] = text
    problem = only_problem(deal)
    assert problem.path == "$.scope.functions[0].name"
    assert expected in problem.message


def test_text_inside_lists_is_checked() -> None:
    deal = example()
    deal["scope"]["exclusions"][1] = "Collections "
    assert only_problem(deal).path == "$.scope.exclusions[1]"


def test_money_has_at_most_two_decimals() -> None:
    deal = example()
    deal["commercials"]["rates"][2]["amount"] = 1.855
    assert only_problem(deal) == Problem(
        "deal.json",
        "$.commercials.rates[2].amount",
        "a money amount has at most two decimals; found 1.855",
    )


def test_whole_and_two_decimal_amounts_are_fine() -> None:
    deal = example()
    deal["commercials"]["rates"][0]["amount"] = 2450
    deal["commercials"]["rates"][1]["amount"] = 0.1
    assert problems_of(deal) == []


def test_huge_values_are_truncated_in_messages() -> None:
    deal = example()
    deal["scope"]["locations"][0]["site"] = "x" * 100_000
    deal["parties"]["client"]["y" * 10_000] = 1
    problems = problems_of(deal)
    assert len(problems) == 2
    assert all(len(p.message) < 400 for p in problems)
    assert all("…" in p.message for p in problems)


def test_invisible_characters_are_escaped_in_messages() -> None:
    deal = example()
    deal["language"] = "en\u202e\x00"
    problem = only_problem(deal)
    assert "\u202e" not in problem.message
    assert "\\u202e" in problem.message


# --------------------------------------------------------------------------
# Cross-field rules


Mutation = Callable[[dict[str, Any]], None]


def _set(*keys: str | int, value: Any) -> Mutation:
    """Return a mutation that sets ``deal[k1][k2]... = value``."""

    def mutate(deal: dict[str, Any]) -> None:
        node: Any = deal
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


CROSS_FIELD_CASES: dict[str, tuple[Mutation, str, str]] = {
    "service level names an unknown function": (
        _set("performance", "service_levels", 2, "function", value="customer_kare"),
        "$.performance.service_levels[2].function",
        '"customer_kare" is not a function id from scope.functions',
    ),
    "rate names an unknown function": (
        _set("commercials", "rates", 1, "function", value="payroll"),
        "$.commercials.rates[1].function",
        '"payroll" is not a function id',
    ),
    "credit weights do not add up to 100": (
        _set("performance", "service_levels", 5, "credit_weight_percent", value=12.5),
        "$.performance.service_levels",
        "must add up to 100; they add up to 102.5",
    ),
    "commencement before transition start": (
        _set("scope", "transition", "service_commencement_date", value="2027-01-03"),
        "$.scope.transition.service_commencement_date",
        "must not be before the transition start date (2027-01-04); found 2027-01-03",
    ),
    "transition before effective date": (
        _set("scope", "transition", "start_date", value="2026-12-01"),
        "$.scope.transition.start_date",
        "must not be before the effective date",
    ),
    "indexation before effective date": (
        _set("commercials", "indexation", "first_adjustment_date", value="2027-01-04"),
        "$.commercials.indexation.first_adjustment_date",
        "must be after the effective date",
    ),
    "duplicate function id": (
        lambda deal: deal["scope"]["functions"].append(
            copy.deepcopy(deal["scope"]["functions"][0])
        ),
        "$.scope.functions[2].id",
        'function id "customer_care" is already used by item 0',
    ),
    "duplicate service level id": (
        _set("performance", "service_levels", 3, "id", value="FCR"),
        "$.performance.service_levels[3].id",
        'service level id "FCR" is already used by item 2',
    ),
    "local currency equals contract currency": (
        _set("commercials", "currency_fluctuation", "local_currency", value="USD"),
        "$.commercials.currency_fluctuation.local_currency",
        'both are "USD"',
    ),
    "escalation levels out of order": (
        _set("governance", "escalation", 2, "level", value=4),
        "$.governance.escalation[2].level",
        "expected level 3",
    ),
    "responsible party supports itself": (
        _set("governance", "interface_responsibilities", 1, "support", value="vendor"),
        "$.governance.interface_responsibilities[1].support",
        'must differ from "responsible"',
    ),
    "percentage target above 100": (
        _set("performance", "service_levels", 1, "target", value=105),
        "$.performance.service_levels[1].target",
        "a target in percent must be at most 100",
    ),
}


@pytest.mark.parametrize("case", list(CROSS_FIELD_CASES))
def test_cross_field_rule_is_reported(case: str) -> None:
    mutate, path, fragment = CROSS_FIELD_CASES[case]
    deal = example()
    mutate(deal)
    problem = only_problem(deal)
    assert problem.path == path
    assert fragment in problem.message


def test_repse_registration_needed_under_mexican_law() -> None:
    deal = example(BAJIO)
    del deal["parties"]["vendor"]["repse_registration"]
    problem = only_problem(deal)
    assert problem.path == "$.parties.vendor"
    assert 'required field "repse_registration" is missing' in problem.message


def test_repse_registration_needed_for_mexican_delivery_location() -> None:
    deal = example(BAJIO)
    del deal["parties"]["vendor"]["repse_registration"]
    deal["parties"]["vendor"]["country"] = "US"
    assert "repse_registration" in only_problem(deal).message
    deal["scope"]["locations"][0]["country"] = "US"
    assert problems_of(deal) == []


def test_repse_registration_optional_under_other_laws() -> None:
    deal = example(BAJIO)
    del deal["parties"]["vendor"]["repse_registration"]
    deal["agreement"]["governing_law"] = "US-NY"
    assert problems_of(deal) == []


def test_cross_field_rules_survive_a_broken_deal() -> None:
    deal = example()
    deal["scope"] = "everything"
    deal["performance"]["service_levels"] = [{"function": 3}, "x"]
    paths = {p.path for p in problems_of(deal)}
    assert {"$.scope", "$.performance.service_levels[0]"} <= paths


# --------------------------------------------------------------------------
# Every problem, sorted


def test_invalid_deal_lists_every_problem(tmp_path: Path) -> None:
    deal = example()
    deal["language"] = "fr"
    del deal["agreement"]["title"]
    deal["performance"]["service_levels"][0]["target"] = -1
    deal["performance"]["service_levels"][2]["credit_weight_percent"] = 16
    deal["scope"]["functions"][0]["name"] = " Tier 1"
    path = write(tmp_path, json.dumps(deal))
    with pytest.raises(InvalidDealError) as caught:
        load_deal(path)
    assert caught.value.exit_code == 4
    assert [p.path for p in caught.value.problems] == [
        "$.agreement",
        "$.language",
        "$.performance.service_levels",
        "$.performance.service_levels[0].target",
        "$.scope.functions[0].name",
    ]
    assert all(p.file == str(path) for p in caught.value.problems)
    assert str(caught.value).startswith(f"{path}: $.agreement: ")


def test_list_indexes_sort_as_numbers() -> None:
    deal = example()
    levels = deal["performance"]["service_levels"]
    levels.extend(copy.deepcopy(levels[0]) for _ in range(6))
    for index, level in enumerate(levels):
        level["id"] = f"SL{index}"
        level["credit_weight_percent"] = 100 / len(levels)
    levels[2]["unit"] = "percentage"
    levels[11]["unit"] = "percentage"
    paths = [p.path for p in problems_of(deal)]
    assert paths == [
        "$.performance.service_levels[2].unit",
        "$.performance.service_levels[11].unit",
    ]


def test_identical_problems_are_reported_once() -> None:
    deal = example()
    deal["performance"]["benchmarking"] = {"enabled": True}
    messages = [p.message for p in problems_of(deal)]
    assert len(messages) == len(set(messages)) == 2


# --------------------------------------------------------------------------
# Normalisation


def test_normalise_fills_absent_optional_fields_with_none() -> None:
    deal = example(BAJIO)
    filled = normalise(deal, load_schema())
    assert filled["performance"]["earn_back"] == {"enabled": False, "months": None}
    assert filled["performance"]["benchmarking"] == {
        "enabled": False,
        "first_after_months": None,
        "frequency_months": None,
    }
    assert filled["commercials"]["currency_fluctuation"] == {
        "enabled": False,
        "local_currency": None,
        "band_percent": None,
    }
    assert filled["agreement"]["disputes"]["rules"] is None
    assert all(person["name"] is None for person in filled["oversight"]["vendor_key_personnel"])


def test_normalise_fills_renewal_none_and_optional_party_fields() -> None:
    deal = example()
    deal["agreement"]["renewal"] = {"type": "none"}
    del deal["oversight"]["client_contract_manager"]["name"]
    filled = normalise(deal, load_schema())
    assert filled["agreement"]["renewal"] == {
        "type": "none",
        "period_months": None,
        "non_renewal_notice_days": None,
    }
    assert filled["parties"]["vendor"]["repse_registration"] is None
    assert "sector" not in filled["parties"]["vendor"]
    assert filled["oversight"]["client_contract_manager"]["name"] is None


def test_normalise_keeps_given_values_and_leaves_input_alone() -> None:
    deal = example()
    before = copy.deepcopy(deal)
    filled = normalise(deal, load_schema())
    assert deal == before
    assert filled["performance"]["earn_back"] == {"enabled": True, "months": 3}
    assert filled["scope"]["functions"][1]["baseline_volume"]["quantity"] == 22000


def test_load_deal_returns_normalised_data_and_raw(tmp_path: Path) -> None:
    deal = load_deal(BAJIO)
    assert deal.data["parties"]["client"]["sector"] == "general"
    assert deal.data["performance"]["earn_back"]["months"] is None
    assert "months" not in deal.raw["performance"]["earn_back"]


# --------------------------------------------------------------------------
# Field reference


def test_field_reference_has_a_row_per_field() -> None:
    table = field_reference_markdown(load_schema())
    lines = table.splitlines()
    assert lines[0].startswith("| Field | Title |")
    rows = {line.split(" | ")[0].strip("| `") for line in lines[2:]}
    assert {
        "deal_sheet_version",
        "parties.client.notices.email",
        "performance.service_levels[].target",
        "commercials.indexation.first_adjustment_date",
    } <= rows
    earn_back = next(line for line in lines if "`performance.earn_back.months`" in line)
    assert 'when "enabled" is true' in earn_back


def test_sections_validated_one_by_one_give_the_whole_sheets_findings() -> None:
    from conftest import load_example

    from contractgen import dealsheet

    deal = load_example()
    deal["agreement"]["currency"] = "usd"
    deal["scope"]["functions"][0]["category"] = "bogus"
    deal["parties"]["client"]["unexpected"] = 1
    del deal["governance"]
    deal["performance"]["earn_back"] = {"enabled": False, "months": 3}  # a then/else branch
    deal["commercials"]["indexation"] = {"enabled": True, "index": " CPI"}
    deal["oversight"]["audit"]["per_year"] = "twice"
    schema = dealsheet.load_schema()
    validators = dealsheet.validators(None)
    whole = sorted(dealsheet._findings(validators.whole.iter_errors(deal), schema, deal))
    dealsheet.clear_caches()
    keys = dealsheet._section_keys(deal)
    first = sorted(dealsheet._schema_findings(deal, schema, validators, keys))
    again = sorted(dealsheet._schema_findings(deal, schema, validators, keys))  # cached
    assert first == again == whole
    assert {path for path, _ in whole} >= {"$.agreement.currency", "$.parties.client",
                                          "$.scope.functions[0].category", "$",
                                          "$.performance.earn_back",
                                          "$.commercials.indexation",
                                          "$.oversight.audit.per_year"}
    # an edit of one member: the section is checked again, the other members are not
    deal["oversight"]["audit"]["per_year"] = 2
    keys = dealsheet._section_keys(deal)
    members = len(dealsheet._MEMBERS)
    edited = sorted(dealsheet._schema_findings(deal, schema, validators, keys))
    assert len(dealsheet._MEMBERS) == members + 1
    assert edited == sorted(dealsheet._findings(validators.whole.iter_errors(deal), schema, deal))
    assert "$.oversight.audit.per_year" not in {path for path, _ in edited}


def test_a_deal_sheet_loaded_again_is_the_same_deal(tmp_path: Path) -> None:
    from contractgen import dealsheet

    path = tmp_path / "deal.json"
    copy_of = tmp_path / "copy.json"
    path.write_bytes(NORTHWIND.read_bytes())
    copy_of.write_bytes(NORTHWIND.read_bytes())
    first = load_deal(path)
    again = load_deal(copy_of)  # the same bytes: the same data, under its own path
    assert again.path == copy_of and again.data is first.data and again.raw is first.raw
    data = example()
    data["agreement"]["title"] = "Other Services Agreement"
    path.write_text(json.dumps(data), encoding="utf-8")
    edited = load_deal(path)
    assert edited.data["agreement"]["title"] == "Other Services Agreement"
    assert edited.data["parties"] is first.data["parties"]  # an unchanged section is shared
    dealsheet.clear_caches()
    assert load_deal(copy_of).data == first.data


def test_a_deal_sheet_that_failed_fails_again(tmp_path: Path) -> None:
    data = example()
    data["agreement"]["currency"] = "usd"
    path = tmp_path / "deal.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(InvalidDealError) as error:
            load_deal(path)
        assert [p.path for p in error.value.problems] == ["$.agreement.currency"]
