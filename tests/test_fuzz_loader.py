"""Fuzz the loader: whatever bytes a deal sheet holds, ``validate`` answers with exit 0, 3 or 4
and a message, never with a traceback or an internal error (exit 1).

Inputs are random binary and mutations of a valid deal sheet: byte flips, truncation, NUL
bytes, byte-order marks, deep nesting, huge numbers, NaN, duplicate keys, lone surrogate
escapes, control characters, and values of the wrong type.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest
import strategies  # noqa: F401  (quiets Hypothesis' failure reporting; see there)
from click.testing import CliRunner
from conftest import NORTHWIND, REPO
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contractgen.cli import cli

settings.register_profile(
    "contractgen-fuzz",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    max_examples=200,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
FUZZ = settings.get_profile("contractgen-fuzz")

# A small valid deal sheet keeps each run fast; Northwind is the larger one.
SMALL = (REPO / "tests" / "data" / "deals" / "minimal-admin.json").read_bytes()
VALID = [SMALL, NORTHWIND.read_bytes()]

BOMS = [codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE,
        codecs.BOM_UTF8 + codecs.BOM_UTF8]
SNIPPETS = [
    b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b'"\\ud800"', b'"\\udfff\\ud800"', b'"\\u0000"',
    b'"\\u202e"', b"NaN", b"-Infinity", b"1e999", b"-1e400", b"1" * 40, b"0." + b"0" * 400 + b"1",
    b"1.7976931348623157e309", b"12345678901234567", b"-0", b"1E-400", b"true", b"null", b"[]",
    b"{}", b'"', b"\\", b"\n", b'"a":1,', b",", b"}", b"]", b'"x" : "\\x"', b"\t", b"\x1b",
    b'{"deal_sheet_version": "1.0"}', b'"' + b"A" * 5000 + b'"',
]


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _duplicate_key(data: bytes) -> bytes:
    return data.replace(b"{", b'{"language": "en", ', 1)


def _replace_value(data: bytes, key: bytes, value: bytes) -> bytes:
    """Replace the value of the first ``"key":`` with ``value`` (a rough, textual edit)."""
    marker = b'"' + key + b'":'
    start = data.find(marker)
    if start < 0:
        return data
    start += len(marker)
    end = start
    depth = 0
    while end < len(data):
        char = data[end:end + 1]
        if char in b"[{":
            depth += 1
        elif char in b"]}":
            if depth == 0:
                break
            depth -= 1
        elif char == b"," and depth == 0:
            break
        end += 1
    return data[:start] + b" " + value + data[end:]


KEYS = [b"language", b"initial_term_months", b"amount", b"target", b"credit_weight_percent",
        b"functions", b"effective_date", b"agreement", b"name", b"email", b"laws",
        b"service_levels", b"enabled", b"level", b"deal_sheet_version", b"currency"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid deal sheet with one to three mutations."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "bom", "nest", "value",
                                     "duplicate", "delete", "json"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.sampled_from(SNIPPETS))
        elif kind == "bom":
            data[0:0] = draw(st.sampled_from(BOMS))
        elif kind == "nest":
            depth = draw(st.sampled_from([1, 20, 31, 32, 33, 100, 5000]))
            nested = _nested(depth, draw(st.sampled_from(["list", "object"])))
            data = bytearray(_replace_value(bytes(data), draw(st.sampled_from(KEYS)), nested))
        elif kind == "value":
            value = draw(st.sampled_from(SNIPPETS + [b'"x"', b"0", b"-1", b"1.005", b"3.14159"]))
            data = bytearray(_replace_value(bytes(data), draw(st.sampled_from(KEYS)), value))
        elif kind == "duplicate":
            data = bytearray(_duplicate_key(bytes(data)))
        elif kind == "delete":
            end = draw(st.integers(position, min(len(data), position + 200)))
            del data[position:end]
        elif kind == "json":
            data = bytearray(_json_mutation(draw, bytes(data)))
    return bytes(data)


_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**15, 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.text(min_size=190, max_size=2100).map(str.strip),
    st.sampled_from(["", " x", "x ", "a\tb", "\u202eevil", "2027-02-30", "MX", "USD", "es",
                     "arbitration", "none", "a@b", "1.0", "\x7f", "\x85"]),
    st.lists(st.integers(), max_size=3), st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _json_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Change, drop or add one field of the parsed deal (a well-formed mutation)."""
    try:
        deal = json.loads(data.decode("utf-8"))
    except ValueError:
        return data
    nodes: list[tuple[Any, Any]] = []
    stack: list[Any] = [deal]
    while stack:
        node = stack.pop()
        keys = range(len(node)) if isinstance(node, list) else list(node) if isinstance(
            node, dict) else []
        for key in keys:
            nodes.append((node, key))
            stack.append(node[key])
    if not nodes:
        return data
    parent, key = draw(st.sampled_from(nodes))
    action = draw(st.sampled_from(["set", "set", "drop", "add"]))
    if action == "drop" or (action == "add" and isinstance(parent, list)):
        del parent[key]
    elif action == "add":
        parent[draw(st.text(min_size=1, max_size=8))] = draw(_JSON_VALUES)
    else:
        parent[key] = draw(_JSON_VALUES)
    return json.dumps(deal, ensure_ascii=draw(st.booleans())).encode("utf-8")


@st.composite
def well_formed(draw: st.DrawFn) -> bytes:
    """A deal sheet that stays JSON but breaks one to three rules of the schema."""
    data = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 3))):
        data = _json_mutation(draw, data)
    return data


INPUTS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    mutated(),
    well_formed(),
    well_formed(),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _check(folder: Path, data: bytes) -> None:
    path = folder / "deal.json"
    path.write_bytes(data)
    for extra in ([], ["--format", "json"]):
        result = CliRunner().invoke(cli, ["validate", *extra, str(path)], obj={})
        assert result.exit_code in (0, 3, 4), (result.exit_code, result.output, result.exception)
        assert "Traceback" not in result.output
        assert result.output.strip(), "no message at all"
        if result.exit_code:
            assert str(path) in result.output, result.output
        if extra and result.exit_code:
            problems = json.loads(result.stdout)
            assert problems and all(set(p) == {"file", "path", "message"} for p in problems)


@settings(FUZZ)
@given(data=INPUTS)
def test_validate_never_crashes_on_any_bytes(folder: Path, data: bytes) -> None:
    _check(folder, data)


@pytest.mark.parametrize("data", [
    b"", b"\xef\xbb\xbf", codecs.BOM_UTF16_LE + "{}".encode("utf-16-le"), b"\x00" * 10,
    b"[" * 100_000, b'{"a":' * 40 + b"1" + b"}" * 40, b"1" * 5000, b"-" + b"9" * 400,
    b'{"a": 1e400}', b'{"a": NaN}', b'{"a": 1, "a": 2}', b'{"\\ud800": 1}', b'["\\udc00"]',
    b'"\\ud83d\\ude00"', b"null", b"[]", b"0", b'"deal"', b"{" + b" " * (1024 * 1024 + 1) + b"}",
    b'{"deal_sheet_version": "1.0", "\\u0000\\u202e": {"\\n": []}}',
], ids=lambda data: repr(data[:24]))
def test_validate_answers_known_hard_inputs(folder: Path, data: bytes) -> None:
    _check(folder, data)


@pytest.mark.parametrize("name", ["missing.json", "a-directory"])
def test_validate_answers_paths_that_are_not_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "a-directory":
        path.mkdir()
    result = CliRunner().invoke(cli, ["validate", str(path)], obj={})
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert str(path) in result.output


def _deepest(text: str) -> int | None:
    """The deepest nesting of the brackets outside strings (as a JSON tokenizer finds them:
    a backslash in a string escapes the character after it), or None if they do not pair."""
    import re

    from contractgen.strictjson import _STRING

    deepest = 0
    opened: list[str] = []
    for char in re.sub(_STRING + r'|[^\[\]{}"]++', "", text):
        if char in "[{":
            opened.append(char)
            deepest = max(deepest, len(opened))
        elif not opened or opened.pop() + char not in ("[]", "{}"):
            return None
    return None if opened else deepest


_JSON_TEXT = st.recursive(
    st.integers(0, 9) | st.text(st.sampled_from('ab[]{}"\\/é“\n'), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(st.sampled_from('k[]"\\'), max_size=3), inner, max_size=3),
    max_leaves=60)


@FUZZ
@given(_JSON_TEXT, st.integers(min_value=0, max_value=40), st.booleans())
def test_the_depth_check_is_exact_for_json(value: Any, wrap: int, ascii_only: bool) -> None:
    """For a valid JSON text (strings holding brackets, quotes and backslashes, escaped or
    written as they are), the quick check says whether it is nested at most MAX_DEPTH."""
    from contractgen.strictjson import MAX_DEPTH, _shallow

    text = "[" * wrap + json.dumps(value, ensure_ascii=ascii_only) + "]" * wrap
    deepest = _deepest(text)
    assert deepest is not None
    assert _shallow(text.encode("utf-8")) == (deepest <= MAX_DEPTH)


@FUZZ
@given(st.lists(st.sampled_from(["[", "]", "{", "}", '"[{"', '"\\"]"', "1", ",", '"', "\\",
                                 "é", "“x”"]), max_size=80),
       st.integers(min_value=0, max_value=40))
def test_any_text_nested_too_deep_is_refused(parts: list[str], wrap: int) -> None:
    """Whatever the text, one nested deeper than MAX_DEPTH is refused with a plain error:
    the quick check passes it only to the parser, which finds it is not valid JSON."""
    from contractgen.errors import InputError
    from contractgen.strictjson import MAX_DEPTH, parse_json

    text = "[" * wrap + "".join(parts) + "]" * wrap
    deepest = _deepest(text)
    if deepest is not None and deepest > MAX_DEPTH:
        with pytest.raises(InputError):
            parse_json(text.encode("utf-8"), "deal.json")


def test_a_text_too_deep_for_the_parser_is_refused_with_a_message(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the quick check ever pass a text nested deeper than the parser goes, the
    parser's recursion error becomes the plain message, not a traceback."""
    from contractgen import strictjson
    from contractgen.errors import InputError

    text = b"[" * 5000 + b"]" * 5000
    with pytest.raises(InputError, match="line 1, column 33: nested deeper than 32 levels"):
        strictjson.parse_json(text, "deal.json")
    monkeypatch.setattr(strictjson, "_shallow", lambda data: True)
    with pytest.raises(InputError, match="line 1, column 33: nested deeper than 32 levels"):
        strictjson.parse_json(text, "deal.json")
