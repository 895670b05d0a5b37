"""The render memo: a re-render reuses what did not change, and never anything that did.

The reference is always a render with every cache cleared: a sequence of deal sheets
rendered one after another in one process (caches warm, as in a lawyer's editing session or
a batch worker) must give exactly the Documents that each gives on its own.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import REPO, load_example
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from strategies import deals

from contractgen import dealsheet, render, rules, strictjson
from contractgen import model as m
from contractgen.library import load_library
from contractgen.mdtree import parse
from contractgen.memo import (
    CALL,
    MISSING,
    SIZE,
    DependencyLog,
    Memo,
    call_stamp,
    kept,
    lookup,
    same,
    stamps,
)
from contractgen.rules import select
from contractgen.sandbox import Record, unwrap, wrap
from contractgen.strictjson import value_key
from contractgen.variants import generate


def _document(data: dict[str, Any], language: str) -> m.Document:
    library = load_library(REPO)
    deal = dealsheet.normalise(copy.deepcopy(data), dealsheet.load_schema(REPO))
    return render.build_document(library, select(library, deal), deal, language)


def _fresh(data: dict[str, Any], language: str) -> m.Document:
    render.clear_caches()
    try:
        return _document(data, language)
    finally:
        render.clear_caches()


@pytest.fixture(scope="module")
def edit_session() -> list[dict[str, Any]]:
    """The English example and every 25th one-change variant of the examples."""
    variants = generate(REPO, dealsheet.load_schema(REPO))
    return [load_example(), *(v.data for v in variants[::25])]


@pytest.mark.parametrize("language", ["en", "es"])
def test_an_edit_session_gives_the_documents_of_fresh_renders(
        language: str, edit_session: list[dict[str, Any]]) -> None:
    session = edit_session
    render.clear_caches()
    warm = [_document(data, language) for data in session]
    for data, document in zip(session, warm, strict=True):
        assert document == _fresh(data, language)


def test_selections_in_an_edit_session_match_fresh_ones(
        edit_session: list[dict[str, Any]]) -> None:
    library = load_library(REPO)
    schema = dealsheet.load_schema(REPO)
    deals = [dealsheet.normalise(copy.deepcopy(data), schema) for data in edit_session]

    def verdicts(deal: dict[str, Any]) -> list[Any]:
        selection = select(library, deal)
        return [*((d.module.id, d.included, d.reason) for d in selection.decisions),
                sorted(selection.facts.items())]

    rules.clear_caches()
    warm = [verdicts(deal) for deal in deals]
    for deal, seen in zip(deals, warm, strict=True):
        rules.clear_caches()
        assert verdicts(deal) == seen


def test_a_rerender_of_the_same_deal_reuses_every_template() -> None:
    render.clear_caches()
    data = load_example()
    first = _document(data, "en")
    calls = []
    original = render._MEMO.put
    render._MEMO.put = lambda *args: calls.append(args) or original(*args)  # type: ignore
    try:
        second = _document(data, "en")
    finally:
        render._MEMO.put = original  # type: ignore
    assert second == first
    assert calls == []


def test_an_edited_list_item_is_seen_even_when_edited_in_place() -> None:
    render.clear_caches()
    data = dealsheet.normalise(load_example(), dealsheet.load_schema(REPO))
    library = load_library(REPO)
    before = render.build_document(library, select(library, data), data, "en")
    name = data["scope"]["functions"][0]["name"]
    data["scope"]["functions"][0]["name"] = "Collections of overdue rent"
    after = render.build_document(library, select(library, data), data, "en")
    text = after.pretty()
    assert "Collections of overdue rent" in text
    assert name in before.pretty()
    assert after == _fresh(data, "en")


_PROFILE = settings(
    max_examples=6, deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_PROFILE
@given(first=deals(), second=deals())
def test_any_deal_after_any_other_renders_as_if_alone(first: dict[str, Any],
                                                       second: dict[str, Any]) -> None:
    render.clear_caches()
    _document(first, "en")
    assert _document(second, "en") == _fresh(second, "en")


# --- what a render reads ------------------------------------------------------------------

def test_the_log_names_fields_absences_sizes_and_whole_objects() -> None:
    log = DependencyLog()
    deal = {"parties": {"client": {"name": "Acme", "tags": ["a", "b"]}}, "scope": {"n": 1}}
    parties = wrap(deal["parties"], "parties", log)
    scope = wrap(deal["scope"], "scope", log)
    assert parties.client.name == "Acme"
    with pytest.raises(AttributeError):
        _ = parties.client.nickname
    assert list(parties.client.tags) == ["a", "b"]
    assert "n" in scope
    assert log.entries == {"parties.client.name": "Acme", "parties.client.nickname": MISSING,
                           "parties.client.tags[0]": "a", "parties.client.tags[1]": "b",
                           "scope": {"n": 1}}
    assert log.sizes == {"parties.client.tags": 2}
    dependencies = dict(log.dependencies() or ())
    assert dependencies[(SIZE, "parties", "client", "tags")] == 2
    assert lookup(deal, (SIZE, "parties", "client", "tags")) == 2
    assert lookup(deal, ("parties", "client", "tags", 1)) == "b"
    assert lookup(deal, ("parties", "client", "tags", 5)) is MISSING
    assert lookup(deal, ("parties", "client", "nickname")) is MISSING


def test_list_items_read_as_a_whole_are_logged_whole() -> None:
    log = DependencyLog()
    items = wrap([{"country": "MX"}, {"country": "ES"}], "scope.locations", log)
    assert unwrap(items[1]) == {"country": "ES"}
    assert log.entries == {"scope.locations[1]": {"country": "ES"}}


def test_an_explanation_log_still_shows_lists_whole() -> None:
    from contractgen.sandbox import AccessLog

    log = AccessLog()
    record = Record({"tags": ["a"]}, "scope", log)
    assert list(record.tags) == ["a"]
    assert log.entries == {"scope.tags": ["a"]}


def test_inputs_are_kept_apart_from_the_deal_and_an_absence_stays_an_absence() -> None:
    """A kept container is a copy (a deal changed in place later does not change it); a
    text or number is kept as it is; a kept absence still matches a later absence, so a
    template that looked for an absent field is reused while it stays absent."""
    deal = {"scope": {"tags": ["a"], "name": "Payroll"}}
    log = DependencyLog()
    scope = wrap(deal["scope"], "scope", log)
    assert "tags" in scope  # the object read whole
    with pytest.raises(AttributeError):
        _ = scope.nickname
    dependencies = log.dependencies() or ()
    deal["scope"]["tags"].append("b")
    assert dict(dependencies)[("scope",)] == {"tags": ["a"], "name": "Payroll"}
    assert dict(dependencies)[("scope", "nickname")] is MISSING
    assert kept(deal["scope"]["name"]) is deal["scope"]["name"]
    memo = Memo[str]()
    memo.put("t", (((("scope", "nickname")), kept(MISSING)),), "out")
    assert memo.get("t", lambda dep: lookup(deal, dep[0])) == "out"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.5])
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                 max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None, phases=[Phase.generate])
@given(_JSON, _JSON)
def test_equal_value_keys_are_values_the_memo_finds_the_same(a: Any, b: Any) -> None:
    """A stamp's key never makes different values look equal; a value parsed from the same
    text again gets the same key."""
    if value_key(a) == value_key(b):
        assert same(a, b)
    text = json.dumps(a)
    assert value_key(json.loads(text)) == value_key(json.loads(text))


def test_value_keys_tell_types_and_key_order_apart() -> None:
    keys = {value_key(v) for v in (1, 1.0, True, "1", [1], {"a": 1, "b": 2}, {"b": 2, "a": 1})}
    assert len(keys) == 7


def test_a_shared_value_keeps_the_key_it_had_when_shared(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A value promised never to change is keyed once; an equal value that was not shared,
    and a shared one changed against the promise, are keyed by what they hold."""
    strictjson.clear_shared()
    section = {"a": [1, 2], "b": "x"}
    strictjson.share(section)
    pickled: list[Any] = []
    original = strictjson.pickle.dumps
    monkeypatch.setattr(strictjson.pickle, "dumps", lambda *a, **k: pickled.append(a[0])
                        or original(*a, **k))
    assert value_key(section) == value_key({"a": [1, 2], "b": "x"})
    assert pickled == [{"a": [1, 2], "b": "x"}]  # the copy only
    strictjson.clear_shared()
    assert value_key(section) == original(section, protocol=strictjson.pickle.HIGHEST_PROTOCOL)


def test_loaded_sections_are_shared_and_stamped_without_encoding_them() -> None:
    dealsheet.clear_caches()
    data = dealsheet.load_deal(REPO / "examples" / "northwind-bpo.json", root=REPO).data
    again = dealsheet.load_deal(REPO / "examples" / "northwind-bpo.json", root=REPO).data
    for name, section in data.items():
        if isinstance(section, dict | list):
            assert strictjson._SHARED[id(section)][0] is section, name
            assert again[name] is section
    assert stamps(data) == stamps(copy.deepcopy(data))  # the same numbers by key


def test_values_are_the_same_only_with_the_same_types() -> None:
    assert same({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not same(1, 1.0)
    assert not same(1, True)
    assert not same([1], [1, 2])
    assert not same({"a": 1}, {"b": 1})
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})  # iterated, the order shows


def test_the_memo_is_bounded_and_keeps_recent_variants() -> None:
    memo = Memo[str](keys=2, variants=2)
    value = {"v": 1}

    def current(dependency: Any) -> Any:
        return value["v"]

    for v in (1, 2, 3):
        memo.put("t", ((("x",), v),), f"text {v}")
    value["v"] = 1
    assert memo.get("t", current) is None  # pushed out by two newer variants
    value["v"] = 3
    assert memo.get("t", current) == "text 3"
    memo.put("u", (), "u")
    memo.put("w", (), "w")
    assert len(memo) == 2


class _Counting:
    """The current values of inputs, counting the look-ups (what the memo compared)."""

    def __init__(self, values: dict[Any, Any]) -> None:
        self.values = values
        self.looked: list[Any] = []

    def __call__(self, dependency: Any) -> Any:
        self.looked.append(dependency[0])
        return self.values[dependency[0]]


_INPUTS = ((("deal", "a"), 1), ((CALL, "included", "x"), True), (("facts", "f"), False))


def _stamped_memo() -> Memo[str]:
    memo = Memo[str]()
    memo.put("t", _INPUTS, "text", {"deal": 1, call_stamp("included"): 1, "facts": 1})
    return memo


def test_inputs_under_unchanged_stamps_are_not_compared() -> None:
    current = _Counting({key: value for key, value in _INPUTS})
    now = {"deal": 1, call_stamp("included"): 1, "facts": 1}
    assert _stamped_memo().get("t", current, now) == "text"
    assert current.looked == []


def test_only_the_inputs_under_a_changed_stamp_are_compared() -> None:
    memo = _stamped_memo()
    current = _Counting({key: value for key, value in _INPUTS})
    now = {"deal": 1, call_stamp("included"): 2, "facts": 1}  # another set, same answer
    assert memo.get("t", current, now) == "text"
    assert current.looked == [(CALL, "included", "x")]
    current.looked.clear()
    assert memo.get("t", current, now) == "text"  # found valid: stamped anew
    assert current.looked == []
    current.values[(CALL, "included", "x")] = False
    assert memo.get("t", current, {**now, call_stamp("included"): 3}) is None


def test_inputs_under_a_name_that_is_not_stamped_now_are_compared() -> None:
    """Rules share entries between facts (before the facts are stamped) and modules."""
    memo = _stamped_memo()
    current = _Counting({key: value for key, value in _INPUTS})
    without_facts = {"deal": 1, call_stamp("included"): 1}
    assert memo.get("t", current, without_facts) == "text"
    assert current.looked == [("facts", "f")]
    current.looked.clear()
    assert memo.get("t", current, {**without_facts, "facts": 1}) == "text"  # stamps kept
    assert current.looked == []
    current.values[("facts", "f")] = True
    assert memo.get("t", current, without_facts) is None
    memo.put("u", _INPUTS, "u", without_facts)  # facts unstamped: always compared
    current.looked.clear()
    assert memo.get("u", current, {**without_facts, "facts": 1}) is None
    assert current.looked == [("facts", "f")]


def test_a_value_stamped_again_keeps_its_number_while_others_are_forgotten() -> None:
    kept = stamps({"a": "kept"})["a"]
    for n in range(100):
        assert stamps({"a": "kept", "b": n})["a"] == kept
    first = stamps({"b": 0})["b"]
    assert first != stamps({"b": 1})["b"]  # numbers are never reused
    assert stamps({"x": 1})["x"] != stamps({"x": 1.0})["x"] != stamps({"x": True})["x"]


# --- numbering and bookmarks of reused builds -------------------------------------------

def test_a_reused_build_takes_a_fresh_bookmark_name_when_the_old_one_is_taken() -> None:
    render.clear_caches()
    text = "1. [](#cg-anchor:notice)Notices are given in writing.\n"
    strings = {"clause": "clause"}

    def build(used: set[str]) -> tuple[list[m.Block], render._State]:
        state = render._State(strings, "en", bookmarks=set(used), setting=("test",))
        builder = render._Builder(state, "clause", "where", "notices", "3")
        return builder.build(text), state

    first, _ = build(set())
    reused, state = build(set())
    assert reused == first
    assert state.targets["notices.notice"][2] == "_cg_notices_notice"
    clash, state = build({"_cg_notices_notice"})
    assert isinstance(clash[0], m.NumberedPara)
    assert clash[0].bookmark == "_cg_notices_notice_2"
    assert state.targets["notices.notice"][2] == "_cg_notices_notice_2"
    assert state.bookmarks == {"_cg_notices_notice", "_cg_notices_notice_2"}


def test_a_build_is_numbered_from_where_it_stands() -> None:
    render.clear_caches()
    text = "1. First.\n\n1. Second.\n"
    state = render._State({"clause": "clause"}, "en", setting=("test",))
    for clause in ("4", "9"):
        blocks = render._Builder(state, "clause", "where", f"c{clause}", clause).build(text)
        assert [b.number for b in blocks if isinstance(b, m.NumberedPara)] == [
            f"{clause}.1", f"{clause}.2"]


def _reference_tree(text: str) -> Any:
    """The tree of a whole text through markdown-it-py's own SyntaxTreeNode."""
    from markdown_it import MarkdownIt
    from markdown_it.tree import SyntaxTreeNode

    def convert(node: SyntaxTreeNode) -> Any:
        children = tuple(convert(c) for c in node.children)
        if node.is_root:
            return ("root", "", (), "", children)
        content = node.content if node.type in ("text", "code_inline") else ""
        attrs = tuple((str(k), str(v)) for k, v in node.attrs.items())
        return (node.type, node.tag, attrs, content, children)

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    return convert(SyntaxTreeNode(parser.parse(text)))


def _tuples(node: Any) -> Any:
    return (node.type, node.tag, node.attrs, node.content,
            tuple(_tuples(c) for c in node.children))


def _without_lists(tree: Any) -> list[Any]:
    """Every node but list containers, in order (a loose list may come back as one list
    per item when a text is parsed in chunks)."""
    kind, tag, attrs, content, children = tree
    out = [] if kind in ("ordered_list", "bullet_list", "root") else [(kind, tag, attrs, content)]
    for child in children:
        out.extend(_without_lists(child))
    return out


TEXT = ("Intro paragraph with a [](#cg-ref:services) and “[Term](#cg-term)”.\n\n"
        "1. [](#cg-anchor:one)One.\n\n   (a) nested *text*\n\n"
        "   - a bullet\n   - another\n\n2. Two \\* escaped.\n\n"
        "## A heading\n\n| A | B |\n|---|---|\n| 1 | **2** |\n\nClosing *words*.\n")


def test_parsing_in_chunks_gives_the_nodes_of_the_whole_text() -> None:
    assert _without_lists(_tuples(parse(TEXT))) == _without_lists(_reference_tree(TEXT))


def test_a_chunk_parses_to_markdown_it_pys_own_tree() -> None:
    from contractgen.mdtree import _CUT

    for chunk in _CUT.split(TEXT):
        tree = _tuples(parse(chunk))
        assert tree == _reference_tree(chunk)


def test_a_new_locale_reruns_only_templates_that_read_the_law_or_format_values() -> None:
    render.clear_caches()
    data = dealsheet.normalise(load_example(), dealsheet.load_schema(REPO))
    assert data["agreement"]["governing_law"] == "US-NY"  # en_US: "January 4, 2027"
    inputs: dict[str, list[Any]] = {}
    original = render._MEMO.put

    def put(key: Any, dependencies: Any, *rest: Any) -> None:
        inputs[key[-1]] = [dependency[0] for dependency in dependencies]
        original(key, dependencies, *rest)

    render._MEMO.put = put  # type: ignore
    try:
        _document(data, "en")
        data = copy.deepcopy(data)
        data["agreement"]["governing_law"] = "GB-ENG"  # en_GB: "4 January 2027"
        before = dict(inputs)
        inputs.clear()
        after = _document(data, "en")
    finally:
        render._MEMO.put = original  # type: ignore
    assert after == _fresh(data, "en")
    assert "4 January 2027" in after.pretty() and "January 4, 2027" not in after.pretty()
    # Run again: templates that formatted a value or read the law; the others (ten or more)
    # are reused though the locale changed.
    why = {("()", "locale", ""), ("agreement", "governing_law")}
    assert inputs and all(why & set(before[name]) for name in inputs)
    assert len([name for name in before if not why & set(before[name])]) >= 10


def test_a_module_whose_texts_did_not_change_is_taken_whole(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Rendered again, a module built from the same texts at the same place gives the same
    blocks without a builder; an edit builds again only the modules whose text changed, and
    the document is the one a fresh render gives."""
    render.clear_caches()
    data = load_example()
    first = _document(data, "en")
    builds: list[str] = []
    original = render._Builder.build

    def build(self: Any, markdown: str, depth: int | None = None) -> list[m.Block]:
        builds.append(self.owner)
        return original(self, markdown, depth)

    monkeypatch.setattr(render._Builder, "build", build)
    again = _document(data, "en")
    assert again == first
    assert builds == ["agreement"]  # the skeleton's text alone: it is not a module
    assert again.spans == first.spans
    assert all(again.blocks[i] is first.blocks[i] for _, start, end in again.spans
               for i in range(start, end))
    builds.clear()
    data = copy.deepcopy(data)
    data["oversight"]["audit"]["notice_days"] = 45
    edited = _document(data, "en")
    assert set(builds) == {"agreement", "audit"}
    assert edited == _fresh(data, "en")


def test_an_edited_definition_rebuilds_its_own_paragraph_only() -> None:
    render.clear_caches()
    data = dealsheet.normalise(load_example(), dealsheet.load_schema(REPO))
    before = _document(data, "en")
    data = copy.deepcopy(data)
    data["agreement"]["effective_date"] = "2027-01-05"  # "Effective Date" means ...
    after = _document(data, "en")
    assert after == _fresh(data, "en")
    old, new = before.module_blocks("definitions"), after.module_blocks("definitions")
    assert len(old) == len(new) > 40
    changed = [b for a, b in zip(old, new, strict=True) if a is not b]
    assert len(changed) == 1 and isinstance(changed[0], m.Paragraph)
    assert "Effective Date" in m.runs_text(changed[0].runs)


def test_a_text_built_again_gives_back_its_unchanged_blocks() -> None:
    """After an edit of one value, the rebuilt module's other blocks are the very objects
    of the last contract, resolved cross-references included (so Markdown and Word find
    them by identity), and the document is the one a fresh render gives."""
    render.clear_caches()
    data = dealsheet.normalise(load_example(), dealsheet.load_schema(REPO))
    before = _document(data, "en")
    data = copy.deepcopy(data)
    data["oversight"]["audit"]["notice_days"] += 7
    after = _document(data, "en")
    assert after == _fresh(data, "en")
    old, new = before.module_blocks("audit"), after.module_blocks("audit")
    assert len(old) == len(new) > 5
    changed = [b for a, b in zip(old, new, strict=True) if a is not b]
    assert 1 <= len(changed) <= 2  # the paragraph that gives the notice, at most one more
    assert any(f"{data['oversight']['audit']['notice_days']}" in m.runs_text(b.runs)
               for b in changed if isinstance(b, m.NumberedPara | m.Paragraph))


def test_blocks_equal_to_those_in_the_same_place_are_those_objects() -> None:
    a, b, c, d = (m.Paragraph((m.Text(t),)) for t in "abcd")
    again = [m.Paragraph((m.Text(t),)) for t in "abcd"]
    same = render._same_objects(again, (a, b, c, d))
    assert all(x is y for x, y in zip(same, (a, b, c, d), strict=True))
    edited = render._same_objects([again[0], m.Paragraph((m.Text("x"),)), *again[2:]],
                                  (a, b, c, d))
    assert [x is y for x, y in zip(edited, (a, b, c, d), strict=True)] == [True, False,
                                                                          True, True]
    inserted = render._same_objects([again[0], m.Paragraph((m.Text("new"),)), *again[1:]],
                                    (a, b, c, d))
    assert inserted[0] is a and inserted[2:] == (b, c, d)
    assert all(x is y for x, y in zip(inserted[2:], (b, c, d), strict=True))
    assert render._same_objects(again, ()) == tuple(again)
