"""Locale-aware formatting of dates, amounts, numbers and periods for contract text.

One ``Formatter`` per contract: it knows the contract language and the locale that the
governing law implies (US English writes "February 1, 2027"; elsewhere "1 February 2027";
Spanish "1 de febrero de 2027"). Dates and numbers come from babel, words from num2words.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache, partial
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent, get_currency_name

_ENGLISH_LOCALES = {
    "US-NY": "en_US",
    "US-DE": "en_US",
    "US-CA": "en_US",
    "GB-ENG": "en_GB",
    "PH": "en_PH",
    "IN": "en_IN",
}
_SPANISH_LOCALES = {"ES": "es_ES", "MX": "es_MX", "CO": "es_CO", "US-NY": "es_US",
                    "US-DE": "es_US", "US-CA": "es_US"}

# Nouns a period can be counted in, by language: (singular, plural, grammatical gender).
_UNITS = {
    "en": {
        "day": ("day", "days", "m"),
        "business_day": ("Business Day", "Business Days", "m"),
        "month": ("month", "months", "m"),
        "hour": ("hour", "hours", "m"),
        "year": ("year", "years", "m"),
    },
    "es": {
        "day": ("día", "días", "m"),
        "business_day": ("Día Hábil", "Días Hábiles", "m"),
        "month": ("mes", "meses", "m"),
        "hour": ("hora", "horas", "f"),
        "year": ("año", "años", "m"),
    },
}


# num2words' converter class for each contract language.
_NUM2WORDS = {
    "en": ("num2words.lang_EN", "Num2Word_EN"),
    "es": ("num2words.lang_ES", "Num2Word_ES"),
}


@lru_cache(maxsize=4)
def cardinal_words(language: str) -> Callable[[int], str]:
    """Return the function that writes a whole number in words: ``num2words(n, lang=...)``.

    ``import num2words`` imports all of its sixty languages, about 25 ms of every cold
    start, while the English and Spanish converters only need the package's base modules.
    So, unless num2words is imported already, the one converter is imported on its own
    (``_import_alone``); where that fails, ``num2words`` itself is used.
    """
    if language in _NUM2WORDS and "num2words" not in sys.modules:
        module_name, class_name = _NUM2WORDS[language]
        try:
            converter = getattr(_import_alone(module_name), class_name)()
        except (ImportError, AttributeError):
            pass
        else:
            words: Callable[[int], str] = converter.to_cardinal
            return words
    from num2words import num2words

    return partial(num2words, lang=language)


def _import_alone(module_name: str) -> Any:
    """Import a package's module without running the package's ``__init__``.

    The module is imported under a bare package object, which is then taken out of
    ``sys.modules`` again: a later ``import`` of the package runs it in full, and it reuses
    the module.
    """
    package_name = module_name.rpartition(".")[0]
    spec = importlib.util.find_spec(package_name)
    if spec is None:
        raise ImportError(f"no package {package_name}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[package_name] = package
    try:
        return importlib.import_module(module_name)
    finally:
        if sys.modules.get(package_name) is package:
            del sys.modules[package_name]


def locale_for(language: str, governing_law: str) -> str:
    """Return the babel locale for a contract language under a governing law."""
    if language == "es":
        return _SPANISH_LOCALES.get(governing_law, "es_ES")
    return _ENGLISH_LOCALES.get(governing_law, "en_GB")


def language_tag(locale: str) -> str:
    """Return the BCP 47 tag of a babel locale ("es_MX" -> "es-MX")."""
    return locale.replace("_", "-")


def _spanish_before_noun(words: str, gender: str) -> str:
    """Apocopate Spanish "uno" before a noun: "veintiuno días" -> "veintiún días"."""
    if gender == "f":
        return re.sub(r"uno$", "una", words)
    words = re.sub(r"veintiuno$", "veintiún", words)
    return re.sub(r"\buno$", "un", words)


@dataclass(frozen=True)
class Formatter:
    """Format values for one contract: its language and babel locale."""

    language: str
    locale: str

    @cached_property
    def _babel(self) -> Locale:
        return Locale.parse(self.locale)

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def date(self, value: str | dt.date) -> str:
        """Return a long date: "February 1, 2027", "1 de febrero de 2027"."""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        return format_date(value, "long", locale=self.locale)

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def number(self, value: float | int, decimals: int | None = None) -> str:
        """Return a number with the locale's separators."""
        if decimals is None:
            pattern = "#,##0.##"
        else:
            pattern = "#,##0." + "0" * decimals if decimals else "#,##0"
        return format_decimal(Decimal(str(value)), pattern, locale=self.locale)

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def money(self, amount: float | int, currency: str) -> str:
        """Return an amount with its ISO currency code: "USD 2,450.00", "2.450,00 EUR"."""
        figures = self.number(amount, decimals=2)
        if self.locale == "es_ES":
            return f"{figures}\u00a0{currency}"
        return f"{currency}\u00a0{figures}"

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def money_words(self, amount: float | int, currency: str) -> str:
        """Return an amount in words and figures, in the contract's customary form."""
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
        whole = int(value)
        cents = int((value - whole) * 100)
        words = self._number_words(whole)
        name = get_currency_name(currency, count=whole or 2, locale=self.locale)
        if self.language == "es":
            words = _spanish_before_noun(words, "m")
            if currency == "MXN":
                text = f"{words} pesos {cents:02d}/100 M.N."
            else:
                text = f"{words} {name} {cents:02d}/100"
        else:
            text = f"{words} {name} and {cents:02d}/100"
        return f"{text} ({self.money(amount, currency)})"

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def percent(self, value: float | int) -> str:
        """Return a percentage given as 0-100: "12%" in English, "99,5 %" in Spanish."""
        if self.language == "es":  # the RAE's rule: a (non-breaking) space before the sign
            return f"{self.number(value)}\u00a0%"
        return format_percent(Decimal(str(value)) / 100, "#,##0.##%", locale=self.locale)

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def words(self, value: int | float, unit: str | None = None, gender: str = "m") -> str:
        """Return a whole number in words and figures, with an optional unit noun.

        ``words(30, "day")`` gives "thirty (30) days" / "treinta (30) días". Numbers with
        decimals are given in figures only. ``gender="f"`` makes a bare Spanish count agree
        with a feminine noun that follows ("una (1) auditoría", "veintiuna (21)").
        """
        if isinstance(value, float) and not value.is_integer():
            figures = self.number(value)
            return f"{figures} {self._unit(unit, 2)}" if unit else figures
        count = int(value)
        words = self._number_words(count)
        if unit is None:
            if self.language == "es" and gender == "f":
                words = _spanish_before_noun(words, "f")
            return f"{words} ({self.number(count)})"
        if self.language == "es":
            words = _spanish_before_noun(words, _UNITS["es"][unit][2])
        return f"{words} ({self.number(count)}) {self._unit(unit, count)}"

    def _number_words(self, count: int) -> str:
        words = cardinal_words(self.language)(count)
        if self.language == "en":  # contract style: "one hundred twenty", no "and" or commas
            words = words.replace(" and ", " ").replace(",", "")
        return words

    def _unit(self, unit: str | None, count: int) -> str:
        singular, plural, _ = _UNITS[self.language][unit or "day"]
        return singular if count == 1 else plural

    def join_and(self, items: list[str]) -> str:
        """Join items as "a, b and c" / "a, b y c" (Spanish "e" before an i-sound)."""
        items = [str(i) for i in items]
        if len(items) < 2:
            return "".join(items)
        conj = "and"
        if self.language == "es":
            last = items[-1].lower()
            conj = "e" if last.startswith(("i", "hi")) and not last.startswith("hie") else "y"
        return f"{', '.join(items[:-1])} {conj} {items[-1]}"

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def country(self, code: str) -> str:
        """Return a country's (or "EU"'s) name in the contract language."""
        return str(self._babel.territories.get(code, code))

    @lru_cache(maxsize=4096)  # noqa: B019  (few formatters; pure functions of the value)
    def language_name(self, code: str) -> str:
        """Return a language's name in the contract language ("Spanish", "español")."""
        return str(self._babel.languages.get(code, code))
