"""The bundled clause library: complete in both languages, consistent, loadable."""

from __future__ import annotations

import pytest

from contractgen.analysis import template_fields
from contractgen.dealsheet import load_schema
from contractgen.library import LANGUAGES
from contractgen.pipeline import open_library
from contractgen.rules import schema_field_paths
from contractgen.sandbox import environment

LIBRARY = open_library()
IDS = [m.id for m in LIBRARY.modules]


@pytest.mark.parametrize("module_id", IDS)
def test_module_has_every_language_with_the_same_variables(module_id: str) -> None:
    module = LIBRARY.get(module_id)
    env = environment(LIBRARY.root)
    fields = {}
    for language in LANGUAGES:
        path = module.template_path(language)
        assert path.exists(), f"{LIBRARY.rel(path)} is missing"
        assert module.titles.get(language), f"{module_id} has no {language} title"
        fields[language] = template_fields(env, path.read_text(encoding="utf-8"))
    assert fields["en"] == fields["es"], "the languages read different deal fields"
    terms = {lang: len(module.definitions.get(lang, ())) for lang in LANGUAGES}
    assert len(set(terms.values())) == 1, f"definitions per language differ: {terms}"


@pytest.mark.parametrize("module_id", IDS)
def test_templates_read_only_schema_fields(module_id: str) -> None:
    module = LIBRARY.get(module_id)
    env = environment(LIBRARY.root)
    known = schema_field_paths(load_schema())
    for language in LANGUAGES:
        source = module.template_path(language).read_text(encoding="utf-8")
        unknown = sorted(p for p in template_fields(env, source)
                         if p.replace("[]", "") not in {k.replace("[]", "") for k in known})
        assert unknown == [], f"{module_id}.{language} reads fields the schema lacks"


def test_every_area_folder_matches_the_module_area() -> None:
    wrong = [m.id for m in LIBRARY.modules if m.meta_path.parent.name != m.area]
    assert wrong == []
