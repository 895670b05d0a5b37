"""Locale formatting: dates, amounts, percentages, numbers in words and figures."""

from __future__ import annotations

import pytest

from contractgen.formatting import Formatter, locale_for


def fmt(language: str, law: str) -> Formatter:
    return Formatter(language, locale_for(language, law))


@pytest.mark.parametrize("language, law, expected", [
    ("en", "US-NY", "February 1, 2027"),
    ("en", "GB-ENG", "1 February 2027"),
    ("en", "MX", "1 February 2027"),
    ("es", "MX", "1 de febrero de 2027"),
    ("es", "ES", "1 de febrero de 2027"),
])
def test_long_dates_follow_language_and_law(language: str, law: str, expected: str) -> None:
    assert fmt(language, law).date("2027-02-01") == expected


def test_amounts_use_the_locale_separators() -> None:
    assert fmt("en", "US-NY").money(2450, "USD") == "USD\u00a02,450.00"
    assert fmt("es", "ES").money(2450.5, "EUR") == "2.450,50\u00a0EUR"
    assert fmt("es", "MX").money(38.5, "MXN") == "MXN\u00a038.50"
    assert fmt("es", "CO").money(4850000, "COP") == "COP\u00a04.850.000,00"


def test_mexican_amount_in_words_and_figures() -> None:
    assert fmt("es", "MX").money_words(38.5, "MXN") == (
        "treinta y ocho pesos 50/100 M.N. (MXN\u00a038.50)")
    assert fmt("es", "MX").money_words(21, "MXN").startswith("veintiún pesos 00/100")


def test_english_amount_in_words() -> None:
    assert fmt("en", "US-NY").money_words(2450, "USD") == (
        "two thousand four hundred fifty US dollars and 00/100 (USD\u00a02,450.00)")


@pytest.mark.parametrize("language, law, value, unit, expected", [
    ("en", "US-NY", 30, "day", "thirty (30) days"),
    ("en", "US-NY", 1, "month", "one (1) month"),
    ("en", "GB-ENG", 120, "day", "one hundred twenty (120) days"),
    ("es", "MX", 30, "day", "treinta (30) días"),
    ("es", "MX", 1, "day", "un (1) día"),
    ("es", "MX", 21, "day", "veintiún (21) días"),
    ("es", "MX", 1, "hour", "una (1) hora"),
    ("es", "ES", 72, "hour", "setenta y dos (72) horas"),
    ("es", "ES", 10, "business_day", "diez (10) Días Hábiles"),
])
def test_periods_in_words_and_figures(language: str, law: str, value: int, unit: str,
                                      expected: str) -> None:
    assert fmt(language, law).words(value, unit) == expected


def test_percentages() -> None:
    assert fmt("en", "US-NY").percent(12) == "12%"
    assert fmt("en", "US-NY").percent(99.5) == "99.5%"
    assert fmt("es", "ES").percent(99.5) == "99,5\u00a0%"
    assert fmt("es", "MX").percent(12) == "12\u00a0%"


def test_join_and_lists() -> None:
    assert fmt("en", "US-NY").join_and(["a", "b", "c"]) == "a, b and c"
    assert fmt("es", "MX").join_and(["nómina", "contabilidad"]) == "nómina y contabilidad"
    assert fmt("es", "MX").join_and(["nómina", "informática"]) == "nómina e informática"
    assert fmt("en", "US-NY").join_and(["only"]) == "only"


def test_country_and_language_names() -> None:
    assert fmt("en", "US-NY").country("PH") == "Philippines"
    assert fmt("es", "MX").country("PH") == "Filipinas"
    assert fmt("es", "MX").language_name("en") == "inglés"
