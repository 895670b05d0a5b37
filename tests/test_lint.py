"""The clause-library lint and the coverage report.

The bundled library is linted as it stands (drafting is ongoing, so only the kinds of findings
are checked); every other test breaks the mini library in one way and expects that one finding,
at the right file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from minilib import MODULES, write_library

from contractgen.dealsheet import load_schema
from contractgen.library import load_library
from contractgen.lint import (
    CoverageReport,
    Finding,
    ModuleCoverage,
    coverage,
    format_coverage,
    lint,
)
from contractgen.paths import library_root

KNOWN_KINDS = [
    r"template syntax error: ",
    r"rule is not a valid expression: ",
    r"(reads|rule names) \S+, which the deal schema does not define",
    r"(reads|rule names) facts\.\w+, which clauses/facts\.toml does not define",
    r"uses an unknown variable ",
    r"ref\('[\w.]+'\) names no clause module",
    r"ref\('[\w.]+'\): \w+ has no anchor",
    r"included\('\w+'\) names no clause module",
    r"ref\('[\w.]+'\) is not guarded by ",
    r"module \w+ is unreachable",
    r"deal field \S+ is not used by any clause",
    r"no \w+ template ",
    r"no \w+ title",
    r"reads \S+, which the \w+ text does not",
    r"defines \d+ term\(s\)",
    r"term '.+' is defined twice in one contract",
    r"term '.+' is defined but never used",
    r"uses the defined term '.+', which this contract does not define",
    r"fails to render: ",
    r"cannot select modules: ",
]

STEP_IN_TOML = MODULES["performance/step_in.toml"]
CHARGES_EN = MODULES["schedules/charges_schedule.en.md.j2"]


def _lint(tmp_path: Path, extra: dict[str, str]) -> list[Finding]:
    root = write_library(tmp_path, extra)
    return lint(load_library(root), load_schema(root))


def _line(text: str, needle: str) -> int:
    """Return the line of ``needle`` in a file as minilib writes it (leading blank lines cut)."""
    lines = text.lstrip().splitlines()
    return next(i + 1 for i, line in enumerate(lines) if needle in line)


def _at(findings: list[Finding], file: str) -> list[Finding]:
    return [f for f in findings if f.file == file]


def _module(module_id: str, include: str, area: str = "performance", order: int = 300) -> str:
    return (f'id = "{module_id}"\nkind = "clause"\narea = "{area}"\norder = {order}\n'
            f'version = "1.0.0"\ninclude = "{include}"\n'
            f'title = {{ en = "Extra", es = "Adicional" }}\n')


def test_finding_prints_file_line_and_message() -> None:
    assert str(Finding("clauses/a.toml", 3, "broken")) == "clauses/a.toml:3: broken"


def test_bundled_library_has_only_known_kinds_of_findings() -> None:
    # Not pipeline.open_library: it refuses the whole library at the first bad rule.
    library = load_library(library_root().resolve())
    findings = lint(library, load_schema(library.root))
    for finding in findings:
        print(finding)
    assert findings == sorted(set(findings))
    unknown = [str(f) for f in findings
               if not any(re.match(kind, f.message) for kind in KNOWN_KINDS)]
    assert unknown == []
    assert all((library.root / f.file).exists() for f in findings)


def test_template_syntax_error_is_located(tmp_path: Path) -> None:
    findings = _lint(tmp_path, {
        "performance/step_in.en.md.j2": "First line.\n\n{{ parties.client.legal_name }\n",
    })
    assert Finding("clauses/performance/step_in.en.md.j2", 3,
                   "template syntax error: unexpected '}'") in findings


def test_template_variable_missing_from_schema_is_located(tmp_path: Path) -> None:
    text = ("1. The Client may step in.\n"
            "{% set vendor = parties.vendor %}\n"
            "1. Signed at {{ agreement.signing_city }} for {{ vendor.legal_name }}.\n"
            "{% for loc in scope.locations | sort(attribute='city') %}\n"
            "1. Site {{ loc.city }}, postcode {{ loc.postcode }}.\n"
            "{% endfor %}\n"
            "1. Chief: {{ (scope.functions | first).lead }}.\n")
    findings = _lint(tmp_path, {"performance/step_in.en.md.j2": text})
    mine = [f for f in _at(findings, "clauses/performance/step_in.en.md.j2")
            if "deal schema" in f.message]
    assert mine == [
        Finding("clauses/performance/step_in.en.md.j2", 3,
                "reads agreement.signing_city, which the deal schema does not define"),
        Finding("clauses/performance/step_in.en.md.j2", 5,
                "reads scope.locations[].postcode, which the deal schema does not define"),
        Finding("clauses/performance/step_in.en.md.j2", 7,
                "reads scope.functions[].lead, which the deal schema does not define"),
    ]


def test_rule_naming_unknown_field_is_reported_at_its_include_line(tmp_path: Path) -> None:
    toml = STEP_IN_TOML.replace(
        "include = \"'step_in' in performance.remedies\"",
        "include = \"'step_in' in performance.remedy_list or "
        "(scope.locations | any(delivery_mode='offshore'))\"")
    findings = _lint(tmp_path, {"performance/step_in.toml": toml})
    line = _line(toml, "include =")
    assert line == 6
    assert _at(findings, "clauses/performance/step_in.toml") == [
        Finding("clauses/performance/step_in.toml", line,
                "rule names performance.remedy_list, which the deal schema does not define"),
        Finding("clauses/performance/step_in.toml", line,
                "rule names scope.locations[].delivery_mode, which the deal schema does not "
                "define"),
    ]


def test_term_used_where_it_is_not_defined(tmp_path: Path) -> None:
    # step_in_regulated replaces step_in, which defines the Step-In Period.
    findings = _lint(tmp_path, {
        "performance/step_in_regulated.en.md.j2":
            "The Client and its regulator may step in.\n\n"
            "During any Step-In Period the Supplier shall cooperate.\n",
    })
    file = "clauses/performance/step_in_regulated.en.md.j2"
    [finding] = [f for f in _at(findings, file) if "Step-In Period" in f.message]
    assert (finding.line, finding.message.split(" (deal ")[0]) == (
        3, "uses the defined term 'Step-In Period', which this contract does not define "
           "(defined by step_in)")


def test_term_defined_but_never_used(tmp_path: Path) -> None:
    toml = (MODULES["schedules/charges_schedule.toml"]
            + '[definitions.en]\n"Invoice Date" = "means the date of an invoice."\n'
            + '[definitions.es]\n"Fecha de Factura" = "significa la fecha de una factura."\n')
    findings = _lint(tmp_path, {"schedules/charges_schedule.toml": toml})
    file = "clauses/schedules/charges_schedule.toml"
    unused = {(f.line, f.message.split(" (deal ")[0]) for f in _at(findings, file)}
    assert unused == {
        (_line(toml, '"Invoice Date"'), "term 'Invoice Date' is defined but never used"),
        (_line(toml, '"Fecha de Factura"'), "term 'Fecha de Factura' is defined but never used"),
    }


def test_term_defined_twice_in_one_contract(tmp_path: Path) -> None:
    # The definitions module already defines Charges in its [definitions].
    findings = _lint(tmp_path, {
        "schedules/charges_schedule.en.md.j2":
            "The {{ term('Charges') }} are set out below.\n\n" + CHARGES_EN,
    })
    file = "clauses/schedules/charges_schedule.en.md.j2"
    twice = [f for f in _at(findings, file) if "twice" in f.message]
    assert [(f.line, f.message.split(" (deal ")[0]) for f in twice] == [
        (1, "term 'Charges' is defined twice in one contract "
            "(also in clauses/structure/definitions.toml)")]


def test_ref_to_missing_clause_or_anchor(tmp_path: Path) -> None:
    findings = _lint(tmp_path, {
        "performance/step_in_regulated.en.md.j2":
            "The Client and its regulator may step in.\n\nSee {{ ref('step_out.notice') }}.\n"
            "{% if included('step_in') %}\nAlso {{ ref('step_in.nope') }}.\n{% endif %}\n",
    })
    assert _at(findings, "clauses/performance/step_in_regulated.en.md.j2") == [
        Finding("clauses/performance/step_in_regulated.en.md.j2", 3,
                "ref('step_out.notice') names no clause module"),
        Finding("clauses/performance/step_in_regulated.en.md.j2", 5,
                "ref('step_in.nope'): step_in has no anchor('nope')"),
    ]


def test_definitions_repeated_across_modules_are_defined_twice(tmp_path: Path) -> None:
    toml = (MODULES["schedules/charges_schedule.toml"]
            + '[definitions.en]\n"Charges" = "means money."\n'
            + '[definitions.es]\n"Precio" = "significa dinero."\n')
    findings = _lint(tmp_path, {"schedules/charges_schedule.toml": toml})
    [finding, _] = _at(findings, "clauses/schedules/charges_schedule.toml")
    assert finding.line == _line(toml, '"Charges" =')
    assert finding.message.startswith("term 'Charges' is defined twice in one contract "
                                      "(also in clauses/structure/definitions.toml) (deal ")


def test_unguarded_ref_to_omittable_clause(tmp_path: Path) -> None:
    text = (CHARGES_EN
            + "\n1. Step-in costs follow {{ ref('step_in') }}.\n"
            + "{% if included('step_in') %}\n1. See also {{ ref('step_in') }}.\n{% endif %}\n")
    findings = _lint(tmp_path, {"schedules/charges_schedule.en.md.j2": text})
    file = "clauses/schedules/charges_schedule.en.md.j2"
    unguarded = [f for f in _at(findings, file) if "not guarded" in f.message]
    assert len(unguarded) == 1
    assert unguarded[0].line == _line(text, "Step-in costs")
    assert unguarded[0].message.startswith(
        "ref('step_in') is not guarded by {% if included('step_in') %}, and deal ")
    assert unguarded[0].message.endswith(" leaves step_in out")


def test_ref_guarded_by_alternatives_is_accepted(tmp_path: Path) -> None:
    text = (CHARGES_EN + "{% if included('step_in') or included('step_in_regulated') %}\n"
            "1. Step-in costs follow {% if included('step_in') %}{{ ref('step_in') }}"
            "{% else %}{{ ref('step_in_regulated') }}{% endif %}.\n{% endif %}\n")
    findings = _lint(tmp_path, {"schedules/charges_schedule.en.md.j2": text})
    assert not [f for f in findings if "not guarded" in f.message]


def test_unreachable_module(tmp_path: Path) -> None:
    toml = _module("long_term", "agreement.initial_term_months > 500")
    findings = _lint(tmp_path, {
        "performance/long_term.toml": toml,
        "performance/long_term.en.md.j2": "Long.\n",
        "performance/long_term.es.md.j2": "Largo.\n",
    })
    [finding] = _at(findings, "clauses/performance/long_term.toml")
    assert finding.line == _line(toml, "include =")
    assert re.fullmatch(r"module long_term is unreachable: none of the \d+ generated deals "
                        r"includes it", finding.message)


def test_missing_language_template(tmp_path: Path) -> None:
    findings = _lint(tmp_path, {
        "performance/english_only.toml": _module("english_only", "true"),
        "performance/english_only.en.md.j2": "English only.\n",
    })
    assert Finding("clauses/performance/english_only.toml", 1,
                   "no es template (clauses/performance/english_only.es.md.j2)") in findings


def test_languages_reading_different_fields(tmp_path: Path) -> None:
    findings = _lint(tmp_path, {
        "performance/step_in_regulated.en.md.j2":
            "The Client and its regulator may step in after "
            "{{ performance.corrective_action.cure_days | days }}.\n",
    })
    assert _at(findings, "clauses/performance/step_in_regulated.en.md.j2") == [
        Finding("clauses/performance/step_in_regulated.en.md.j2", 1,
                "reads performance.corrective_action.cure_days, which the es text does not")]


def test_schema_fields_no_clause_uses_are_reported_at_their_schema_line(tmp_path: Path) -> None:
    findings = _lint(tmp_path, {})
    schema = "schemas/deal.schema.json"
    text = (tmp_path / schema).read_text(encoding="utf-8")
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if '"pricing_model": {' in s)
    messages = {f.message: f.line for f in _at(findings, schema)}
    assert messages["deal field commercials.pricing_model is not used by any clause, rule or "
                    "template"] == line
    assert "deal field governance is not used by any clause, rule or template" in messages
    # Reported once, at the top: no child of an unused container, no used container.
    assert not [m for m in messages if "governance." in m or "scope.locations " in m]


def test_coverage_lists_the_module_no_deal_includes(tmp_path: Path) -> None:
    root = write_library(tmp_path, {
        "performance/long_term.toml": _module("long_term", "agreement.initial_term_months > 500"),
        "performance/long_term.en.md.j2": "Long.\n",
        "performance/long_term.es.md.j2": "Largo.\n",
    })
    report = coverage(load_library(root), load_schema(root))
    assert report.never == ("long_term",)
    rows = {row.id: row for row in report.modules}
    assert rows["definitions"].included == report.total > 100
    assert 0 < rows["step_in"].included < report.total
    assert "bajio-nomina:performance.remedies+step_in" in rows["step_in"].switched_on_by
    text = format_coverage(report)
    [line] = [line for line in text.splitlines() if line.startswith("long_term ")]
    assert f"0/{report.total}" in line and "NEVER" in line
    assert text.splitlines()[-1].endswith("1 never (long_term)")


def test_format_coverage_shows_a_few_switches_and_a_summary() -> None:
    report = CoverageReport(10, (
        ModuleCoverage("always_in", "clause", 10, ()),
        ModuleCoverage("step_in", "clause", 4, ("a:x", "a:y", "b:z", "b:w")),
        ModuleCoverage("orphan", "schedule", 0, ()),
    ))
    assert format_coverage(report) == (
        "module     kind         included  switched on by\n"
        "always_in  clause          10/10  (every deal)\n"
        "step_in    clause           4/10  a:x, a:y, b:z (+1 more)\n"
        "orphan     schedule         0/10  NEVER\n"
        "3 modules, 10 generated deals: 2 included by some deal, 1 never (orphan)\n"
    )


@pytest.mark.parametrize("broken, message", [
    ("{% if included('nowhere') %}x{% endif %}\n", "included('nowhere') names no clause module"),
    ("{{ facts.no_such_fact }}\n",
     "reads facts.no_such_fact, which clauses/facts.toml does not define"),
    ("{{ clinet.name }}\n", "uses an unknown variable 'clinet'"),
])
def test_static_reference_errors_are_reported(tmp_path: Path, broken: str, message: str) -> None:
    findings = _lint(tmp_path, {"performance/step_in_regulated.en.md.j2": broken})
    assert Finding("clauses/performance/step_in_regulated.en.md.j2", 1, message) in findings
