"""The cross-field rules of the deal sheet (FIELDS.md) that JSON Schema cannot say.

Each check is guarded: it runs even where the schema failed elsewhere, and reads only what
is there, so a broken sheet still gets every finding at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, TypeGuard

from contractgen.wording import Finding, described, plain_number, quote, shorten

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_date(value: str) -> date | None:
    """Return the date written YYYY-MM-DD in ``value``, or None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _get(node: Any, *keys: str) -> Any:
    """Return ``node[k1][k2]...`` or None when any step is missing."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def object_items(node: Any, *keys: str) -> list[tuple[int, dict[str, Any]]]:
    """Return (index, item) for the object items of the list at ``keys``."""
    value = _get(node, *keys)
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def is_number(value: object) -> TypeGuard[int | float]:
    """Return whether ``value`` is a JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _date(node: Any, *keys: str) -> date | None:
    """Return the date at ``keys``, or None when absent or malformed."""
    value = _get(node, *keys)
    return parse_date(value) if isinstance(value, str) else None


def cross_findings(data: Any) -> Iterator[Finding]:
    """Yield the findings of every cross-field rule."""
    for check in _CROSS_CHECKS:
        yield from check(data)


def _check_unique_ids(data: Any) -> Iterator[Finding]:
    """Function ids and service-level ids are each unique."""
    lists = (
        (("scope", "functions"), "function"),
        (("performance", "service_levels"), "service level"),
    )
    for keys, what in lists:
        first: dict[str, int] = {}
        for index, item in object_items(data, *keys):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in first:
                path = f"$.{'.'.join(keys)}[{index}].id"
                yield path, f"{what} id {quote(ident)} is already used by item {first[ident]}"
            else:
                first[ident] = index


def _function_ids(data: Any) -> list[str]:
    """Return the ids of the listed functions."""
    functions = object_items(data, "scope", "functions")
    return [item["id"] for _, item in functions if isinstance(item.get("id"), str)]


def _check_function_references(data: Any) -> Iterator[Finding]:
    """Service levels and rates name a listed function."""
    known = _function_ids(data)
    if not known:
        return
    listed = shorten(", ".join(known), 200)
    for keys in (("performance", "service_levels"), ("commercials", "rates")):
        for index, item in object_items(data, *keys):
            name = item.get("function")
            if isinstance(name, str) and name not in known:
                path = f"$.{'.'.join(keys)}[{index}].function"
                message = f"{quote(name)} is not a function id from scope.functions"
                yield path, f"{message} (listed: {listed})"


def _check_credit_weights(data: Any) -> Iterator[Finding]:
    """Credit weights of the service levels add up to 100."""
    levels = object_items(data, "performance", "service_levels")
    found = [item.get("credit_weight_percent") for _, item in levels]
    weights = [weight for weight in found if is_number(weight)]
    if not weights or len(weights) != len(found):
        return
    total = math.fsum(weights)
    if not math.isclose(total, 100, abs_tol=1e-9):
        shown = plain_number(round(total, 6))
        message = "credit weights (credit_weight_percent) must add up to 100"
        yield "$.performance.service_levels", f"{message}; they add up to {shown}"


def _check_percent_targets(data: Any) -> Iterator[Finding]:
    """A target in percent is at most 100."""
    for index, item in object_items(data, "performance", "service_levels"):
        target = item.get("target")
        if item.get("unit") == "percent" and is_number(target) and target > 100:
            path = f"$.performance.service_levels[{index}].target"
            yield path, f"a target in percent must be at most 100; found {described(target)}"


def _check_dates(data: Any) -> Iterator[Finding]:
    """Transition and indexation dates fall in a sensible order."""
    effective = _date(data, "agreement", "effective_date")
    start = _date(data, "scope", "transition", "start_date")
    commencement = _date(data, "scope", "transition", "service_commencement_date")
    if effective and start and start < effective:
        yield (
            "$.scope.transition.start_date",
            f"must not be before the effective date ({effective}); found {start}",
        )
    if start and commencement and commencement < start:
        yield (
            "$.scope.transition.service_commencement_date",
            f"must not be before the transition start date ({start}); found {commencement}",
        )
    first = _date(data, "commercials", "indexation", "first_adjustment_date")
    if _get(data, "commercials", "indexation", "enabled") is True and effective and first:
        if first <= effective:
            yield (
                "$.commercials.indexation.first_adjustment_date",
                f"must be after the effective date ({effective}); found {first}",
            )


def _check_repse(data: Any) -> Iterator[Finding]:
    """A REPSE registration is given when Mexican labour rules apply."""
    if _get(data, "agreement", "governing_law") != "MX":
        return
    vendor = _get(data, "parties", "vendor")
    in_mexico = _get(vendor, "country") == "MX" or any(
        location.get("country") == "MX" for _, location in object_items(data, "scope", "locations")
    )
    if in_mexico and isinstance(vendor, dict) and "repse_registration" not in vendor:
        yield (
            "$.parties.vendor",
            (
                'required field "repse_registration" is missing (needed when Mexican law governs '
                "and the vendor or a delivery location is in Mexico)"
            ),
        )


def _check_local_currency(data: Any) -> Iterator[Finding]:
    """The currency-fluctuation local currency differs from the contract currency."""
    local = _get(data, "commercials", "currency_fluctuation", "local_currency")
    currency = _get(data, "agreement", "currency")
    if isinstance(local, str) and local == currency:
        path = "$.commercials.currency_fluctuation.local_currency"
        yield path, f"must differ from agreement.currency; both are {quote(local)}"


def _check_escalation_order(data: Any) -> Iterator[Finding]:
    """Escalation levels run 1, 2, 3 ... in order."""
    for index, item in object_items(data, "governance", "escalation"):
        level = item.get("level")
        if is_number(level) and level != index + 1:
            path = f"$.governance.escalation[{index}].level"
            expected = f"expected level {index + 1} (levels run 1, 2, 3 ... in order)"
            yield path, f"{expected}; found {described(level)}"


def _check_interface_parties(data: Any) -> Iterator[Finding]:
    """The supporting party is not the responsible party."""
    for index, item in object_items(data, "governance", "interface_responsibilities"):
        responsible = item.get("responsible")
        if isinstance(responsible, str) and responsible == item.get("support"):
            path = f"$.governance.interface_responsibilities[{index}].support"
            yield path, f'must differ from "responsible" (both are {quote(responsible)})'


_CROSS_CHECKS: tuple[Callable[[Any], Iterable[Finding]], ...] = (
    _check_unique_ids,
    _check_function_references,
    _check_credit_weights,
    _check_percent_targets,
    _check_dates,
    _check_repse,
    _check_local_currency,
    _check_escalation_order,
    _check_interface_parties,
)
