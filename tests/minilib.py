"""A small clause library, written into a temporary folder, for engine tests.

It has one module of each kind and uses every template helper, so the rules engine and the
renderer can be tested without depending on the wording of the real clause library.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MODULES: dict[str, str] = {
    "structure/definitions.toml": '''
id = "definitions"
kind = "clause"
area = "structure"
order = 100
version = "1.0.0"
include = "true"
title = { en = "Definitions", es = "Definiciones" }
[definitions.en]
"Effective Date" = "means {{ agreement.effective_date | date }}."
"Charges" = "means the charges set out in {{ ref('charges_schedule') }}."
[definitions.es]
"Fecha de Entrada en Vigor" = "significa el {{ agreement.effective_date | date }}."
"Precio" = "significa el precio previsto en el {{ ref('charges_schedule') }}."
''',
    "structure/definitions.en.md.j2": '''1. In this Agreement:

   {{ definitions() }}

1. Headings do not affect interpretation.
''',
    "structure/definitions.es.md.j2": '''1. En el presente Contrato:

   {{ definitions() }}

1. Los títulos no afectan a la interpretación.
''',
    "performance/step_in.toml": '''
id = "step_in"
kind = "clause"
area = "performance"
order = 200
version = "1.0.0"
include = "'step_in' in performance.remedies"
fields = ["performance.remedies", "performance.corrective_action.cure_days"]
title = { en = "Step-In", es = "Intervención" }
''',
    "performance/step_in.en.md.j2": '''1. {{ anchor('trigger') }}The Client may step in if a failure is not cured within {{ performance.corrective_action.cure_days | days }}.
1. During the {{ term('Step-In Period') }} the Supplier shall:
   1. cooperate; and
   1. give access to {{ parties.vendor.legal_name }} premises.

   Costs follow {{ ref('step_in.trigger') }}.
1. See {{ ref('charges_schedule') }}.
''',
    "performance/step_in.es.md.j2": '''1. {{ anchor('trigger') }}El Cliente podrá intervenir si el incumplimiento no se subsana en {{ performance.corrective_action.cure_days | days }}.
1. Durante el {{ term('Periodo de Intervención') }} el Prestador deberá:
   1. cooperar; y
   1. dar acceso a las instalaciones de {{ parties.vendor.legal_name }}.

   Los costes siguen la {{ ref('step_in.trigger') }}.
1. Véase el {{ ref('charges_schedule') }}.
''',
    "performance/step_in_regulated.toml": '''
id = "step_in_regulated"
kind = "clause"
area = "performance"
order = 210
version = "1.0.0"
include = "'step_in' in performance.remedies and facts.regulated"
excludes = ["step_in"]
title = { en = "Step-In (Regulated)", es = "Intervención (sector regulado)" }
''',
    "performance/step_in_regulated.en.md.j2": "The Client and its regulator may step in.\n",
    "performance/step_in_regulated.es.md.j2": "El Cliente y su supervisor podrán intervenir.\n",
    "schedules/charges_schedule.toml": '''
id = "charges_schedule"
kind = "schedule"
area = "schedules"
order = 2000
version = "1.0.0"
include = "true"
title = { en = "Charges", es = "Precio" }
''',
    "schedules/charges_schedule.en.md.j2": '''| Function | Amount |
|---|---|
{% for rate in commercials.rates %}
| {{ rate.description }} | {{ rate.amount | money }} |
{% endfor %}

1. Invoices are payable within {{ commercials.invoicing.payment_days | days }}.
''',
    "schedules/charges_schedule.es.md.j2": '''| Función | Importe |
|---|---|
{% for rate in commercials.rates %}
| {{ rate.description }} | {{ rate.amount | money }} |
{% endfor %}

1. Las facturas se pagarán en {{ commercials.invoicing.payment_days | days }}.
''',
    "schedules/offshore_section.toml": '''
id = "offshore_section"
kind = "section"
parent = "charges_schedule"
area = "schedules"
order = 2010
version = "1.0.0"
include = "scope.locations | any(delivery_model=['offshore', 'nearshore'])"
title = { en = "Offshore delivery", es = "Prestación deslocalizada" }
''',
    "schedules/offshore_section.en.md.j2": "- Delivered from {{ scope.locations | map(attribute='city') | list | join_and }}.\n",
    "schedules/offshore_section.es.md.j2": "- Prestado desde {{ scope.locations | map(attribute='city') | list | join_and }}.\n",
}

FACTS = '''
[regulated]
rule = "parties.client.sector in ['banking', 'payments']"
description = "Regulated client."
'''


def module_toml(module_id: str, include: str, *, kind: str = "clause",
                area: str = "performance", order: int = 200, extra: str = "") -> str:
    """Return the metadata of a mini-library module with the given rule (for variants)."""
    return (f'id = "{module_id}"\nkind = "{kind}"\narea = "{area}"\norder = {order}\n'
            f'version = "1.0.0"\ninclude = "{include}"\n{extra}'
            f'title = {{ en = "{module_id}", es = "{module_id}" }}\n')


def write_library(target: Path, extra: dict[str, str] | None = None) -> Path:
    """Write the mini library (plus ``extra`` files) under ``target``; return its root."""
    for folder in ("templates", "schemas", "examples"):
        shutil.copytree(REPO / folder, target / folder)
    clauses = target / "clauses"
    for rel, text in {**MODULES, **(extra or {})}.items():
        path = clauses / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip(), encoding="utf-8")
    real_facts = (REPO / "clauses" / "facts.toml").read_text(encoding="utf-8")
    (clauses / "facts.toml").write_text(real_facts + FACTS, encoding="utf-8")
    return target
