"""What a cold start imports: modules needed only for some messages or languages stay out.

Each test runs a fresh interpreter, since this test session has imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "CONTRACTGEN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_render_path_does_not_import_what_it_does_not_use(tmp_path: Path) -> None:
    out = _run("""
        import sys
        import contractgen.cli, contractgen.pipeline
        print(sorted({"num2words", "difflib"} & set(sys.modules)))
    """, tmp_path)
    assert out == "[]"


def test_words_need_only_their_language_of_num2words(tmp_path: Path) -> None:
    out = _run("""
        import sys
        from contractgen.formatting import Formatter
        print(Formatter("en", "en_US").words(121, "day"), "|",
              Formatter("es", "es_MX").words(21, "day"), "|", "num2words" in sys.modules)
        import num2words  # a later import of the whole package still works
        print(num2words.num2words(42, lang="es"))
    """, tmp_path)
    assert out.splitlines() == [
        "one hundred twenty-one (121) days | veintiún (21) días | False", "cuarenta y dos"]


@pytest.mark.parametrize("language", ["en", "es"])
def test_cardinal_words_are_those_of_num2words(tmp_path: Path, language: str) -> None:
    out = _run(f"""
        import random
        from contractgen.formatting import cardinal_words
        numbers = [*range(0, 2100), *(10**k + d for k in range(3, 13) for d in (-1, 0, 1, 21)),
                   *random.Random(7).sample(range(10**9), 500)]
        ours = [cardinal_words("{language}")(n) for n in numbers]
        from num2words import num2words
        print(ours == [num2words(n, lang="{language}") for n in numbers])
    """, tmp_path)
    assert out == "True"


def test_a_deal_sheet_that_passed_validation_is_not_validated_again_on_a_cold_start(
        tmp_path: Path) -> None:
    render_twice = f"""
        import json, sys
        from pathlib import Path
        from contractgen.pipeline import build
        deal = Path({str(tmp_path / "deal.json")!r})
        deal.write_text(Path("examples/northwind-bpo.json").read_text(encoding="utf-8"))
        build(deal)
        print("jsonschema" in sys.modules)
    """
    assert _run(render_twice, tmp_path) == "True"  # validated, and stamped
    assert _run(render_twice, tmp_path) == "False"  # the stamp: jsonschema not even imported
    edited = f"""
        import json, sys
        from pathlib import Path
        from contractgen.errors import InvalidDealError
        from contractgen.pipeline import build
        deal = Path({str(tmp_path / "deal.json")!r})
        data = json.loads(deal.read_text(encoding="utf-8"))
        data["agreement"]["initial_term_months"] = 0  # out of range: a stamp must not hide it
        deal.write_text(json.dumps(data), encoding="utf-8")
        try:
            build(deal)
        except InvalidDealError as error:
            print(len(error.problems), "jsonschema" in sys.modules)
    """
    assert _run(edited, tmp_path) == "1 True"
    assert _run(edited, tmp_path) == "1 True"  # a deal sheet with problems is never stamped
