"""Render the selected clause modules into one ``Document``.

Jinja2 (sandboxed) turns each template into Markdown; markdown-it-py parses it into a
token tree; ``_Builder`` turns the tree into model blocks and numbers them. Structural
markers are Markdown links that deal text can never produce (deal values are escaped):

    [](#cg-ref:ID)  [](#cg-refcap:ID)   a cross-reference ("clause 12.3", "Schedule 2")
    [](#cg-anchor:NAME)                 names the numbered item it starts (ref 'ID.NAME')
    [Term](#cg-term)                    a defined term where it is defined
    [](#cg-toc) [](#cg-clauses) [](#cg-signatures) [](#cg-schedules)
                                        where the skeleton places those parts

Numbers are given as blocks are built; cross-references are resolved in a second pass.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError

from contractgen import model as m
from contractgen.errors import LibraryError
from contractgen.formatting import Formatter, language_tag, locale_for
from contractgen.library import ClauseModule, Library
from contractgen.mdtree import MdNode
from contractgen.mdtree import clear_cache as _clear_parses
from contractgen.mdtree import parse as parse_markdown
from contractgen.memo import CALL, Dependency, DependencyLog, Memo, call_stamp, lookup, stamps
from contractgen.rules import DEAL_ROOTS, Selection
from contractgen.sandbox import (
    EU,
    FORMATTER_KEY,
    FORMATTING_KEY,
    LABELS_KEY,
    MdSafe,
    Record,
    environment,
    escape_markdown,
    wrap,
)

_PLACEHOLDERS = ("toc", "clauses", "signatures", "schedules")

# Template outputs of this process, reused while nothing a template read has changed.
_MEMO = Memo[str](keys=512, variants=2)
_OPTIONAL_MARKERS = ("page_break",)
_DEFINITIONS = "definitions"  # where the definitions go: built one by one (``_clause_blocks``)


def _letters(n: int) -> str:
    """Return Word's lowerLetter numbering: a..z, aa..zz, aaa..."""
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)


def _roman(n: int) -> str:
    """Return an upper-case Roman numeral."""
    out = []
    for value, digits in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"),
                          (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"),
                          (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out.append(digits * count)
    return "".join(out)


_NOT_BOOKMARK = re.compile(r"[^A-Za-z0-9_]")


@lru_cache(maxsize=1024)
def _bookmark_base(key: str) -> str:
    return "_cg_" + _NOT_BOOKMARK.sub("_", key)


def bookmark_name(key: str, used: set[str]) -> str:
    """Return a unique Word bookmark name (hidden: leading underscore; at most 40 chars)."""
    base = _bookmark_base(key)
    name = base[:40]
    counter = 2
    while name in used:
        suffix = f"_{counter}"
        name = base[: 40 - len(suffix)] + suffix
        counter += 1
    used.add(name)
    return name


# What a cross-reference to a clause, item or anchor shows and where it links: the prefix
# ("clause "), the number and the bookmark. A plain tuple: the targets of two contracts
# compare in one step (``_resolve``).
_Target = tuple[str, str, str]


@dataclass
class _State:
    """What the builder tracks across the whole document."""

    strings: dict[str, str]
    language: str
    targets: dict[str, _Target] = field(default_factory=dict)
    bookmarks: set[str] = field(default_factory=set)
    clause_count: int = 0
    schedule_count: int = 0
    toc: list[tuple[str, str]] = field(default_factory=list)
    setting: tuple[Any, ...] = ()  # what besides the text a build depends on (library, ...)
    # While a module is built (``_clause_blocks``): each build, as ``_Module.builds`` keeps
    # them, and whether the definitions were placed.
    recording: list[_Build] | None = None
    placed_definitions: bool = False


@dataclass(frozen=True)
class _Built:
    """A remembered build: its blocks and what it registered."""

    blocks: tuple[m.Block, ...]
    counters: tuple[int, ...]
    registered: tuple[tuple[str, str, str], ...]  # (target key, number, bookmark)
    placeholders: tuple[tuple[int, str], ...] = ()  # the skeleton's, relative to its blocks
    definitions: tuple[tuple[int, int], ...] = ()  # (where, depth), relative to its blocks


# Blocks built from a Markdown text in a given numbering position, reused for the same text
# (the template memo gives the same text object back, so the key compares by identity; the
# text is parsed only when no build of it is remembered, and no tree is kept here).
_BUILT: OrderedDict[tuple[Any, ...], _Built] = OrderedDict()
_BUILT_SIZE = 200  # two contracts or so

# The blocks last built at each place (the module or section, its template, the position in
# its part): a text built again after an edit gives back the very objects of the blocks
# that did not change (``_same_objects``), which cross-references, Markdown and Word then
# find by identity instead of comparing their contents again, each.
_PLACES: dict[tuple[Any, ...], tuple[m.Block, ...]] = {}
_PLACES_SIZE = 400  # every place of two contracts or so


_Build = tuple[tuple[Any, ...], tuple[Any, ...], _Built]  # a build's key, place, result


def _replay(state: _State, builds: Sequence[_Build]) -> bool:
    """Register remembered builds' targets, in order; False (and nothing changed) if a
    bookmark name would now come out differently."""
    used = state.bookmarks
    added: list[str] = []
    for _, _, built in builds:
        for key, _, bookmark in built.registered:
            added.append(bookmark_name(key, used))
            if added[-1] != bookmark:
                used.difference_update(added)
                return False
    prefix = _subclause_prefix(state.strings)
    for _, _, built in builds:
        for key, number, bookmark in built.registered:
            state.targets[key] = (prefix, number, bookmark)
    return True


def _subclause_prefix(strings: dict[str, str]) -> str:
    """What a cross-reference to a numbered item shows before its number."""
    return strings.get("subclause", strings["clause"]) + " "


def _keep_built(key: tuple[Any, ...], built: _Built) -> None:
    _BUILT[key] = built
    while len(_BUILT) > _BUILT_SIZE:  # the build least recently used goes
        _BUILT.popitem(last=False)


def _remember_place(place: tuple[Any, ...], blocks: tuple[m.Block, ...]) -> None:
    _PLACES[place] = blocks
    if len(_PLACES) > _PLACES_SIZE:  # the place first remembered goes
        del _PLACES[next(iter(_PLACES))]


def _same_objects(new: list[m.Block], old: tuple[m.Block, ...]) -> tuple[m.Block, ...]:
    """Return ``new`` with each block that equals the block of ``old`` in the same place
    replaced by that object (blocks are immutable values: equal blocks are
    interchangeable). Places are counted from the start and, when a block was added or
    removed, also from the end."""
    if not old:
        return tuple(new)
    out = list(new)
    if len(new) == len(old):
        for index, (block, before) in enumerate(zip(new, old, strict=True)):
            if block == before:
                out[index] = before
        return tuple(out)
    count = min(len(new), len(old))
    head = 0
    while head < count and new[head] == old[head]:
        out[head] = old[head]
        head += 1
    tail = 1
    while tail <= count - head and new[-tail] == old[-tail]:
        out[-tail] = old[-tail]
        tail += 1
    return tuple(out)


class _Builder:
    """Turn one part's Markdown text (parsed into a tree) into numbered model blocks."""

    def __init__(self, state: _State, scheme: m.Scheme | None, where: str,
                 owner: str, clause_number: str = "", instance: int = 0):
        self.state = state
        self.scheme = scheme
        self.where = where
        self.owner = owner
        self.clause_number = clause_number
        self.instance = instance
        self.blocks: list[m.Block] = []
        self.counters = [0, 0, 0, 0]
        self.placeholders: list[tuple[int, str]] = []
        self.definitions: list[tuple[int, int]] = []  # where definitions() was, and its depth
        self.registered: list[tuple[str, str, str]] = []

    # -- numbering -----------------------------------------------------------------------

    def _base_level(self) -> int:
        return 2 if self.scheme == "clause" else 1

    def _number(self, level: int) -> str:
        self.counters[level] += 1
        for deeper in range(level + 1, len(self.counters)):
            self.counters[deeper] = 0
        k = self.counters[level]
        if self.scheme == "clause":
            return f"{self.clause_number}.{k}" if level == 2 else f"({_letters(k)})"
        if self.scheme == "schedule":
            if level == 1:
                return f"{k}."
            return f"{self.counters[1]}.{k}" if level == 2 else f"({_letters(k)})"
        if self.state.language == "es":
            return f"{_roman(k)}." if level == 1 else f"{_letters(k)})"
        return f"({chr(ord('A') + k - 1)})" if level == 1 else f"({_letters(k)})"

    # -- walking the tree ----------------------------------------------------------------

    def fail(self, message: str) -> LibraryError:
        return LibraryError(f"{self.where}: {message}")

    def build(self, markdown: str, depth: int | None = None) -> list[m.Block]:
        """Append the blocks of a Markdown text (numbered from the current counters); return
        all. ``depth``: the list level the text stands in (the part's own by default)."""
        key = (markdown, self.scheme, self.clause_number, self.instance, self.owner,
               self.where, tuple(self.counters), self.state.setting, depth)
        built = _BUILT.get(key)
        start = len(self.blocks)
        place = (self.owner, self.where, self.scheme, self.instance, self.state.setting,
                 depth, start)
        if built is not None and _replay(self.state, ((key, place, built),)):
            _BUILT.move_to_end(key)
            self.blocks.extend(built.blocks)
            self.counters = list(built.counters)
            self.placeholders.extend((start + at, name) for at, name in built.placeholders)
            self.definitions.extend((start + at, d) for at, d in built.definitions)
        else:
            self.registered, placed, defined = [], len(self.placeholders), len(self.definitions)
            self._build(parse_markdown(markdown), depth)
            blocks = _same_objects(self.blocks[start:], _PLACES.get(place, ()))
            self.blocks[start:] = blocks
            built = _Built(blocks, tuple(self.counters), tuple(self.registered),
                           tuple((at - start, name) for at, name in self.placeholders[placed:]),
                           tuple((at - start, d) for at, d in self.definitions[defined:]))
            _keep_built(key, built)
        _remember_place(place, built.blocks)
        if self.state.recording is not None:
            self.state.recording.append((key, place, built))
        return self.blocks

    def _build(self, root: MdNode, depth: int | None = None) -> None:
        level = self._base_level() - 1 if depth is None else depth
        for node in root.children:
            self._block(node, level=level, indent=level)

    def _block(self, node: MdNode, level: int, indent: int) -> None:
        match node.type:
            case "paragraph":
                self._paragraph(node, indent)
            case "ordered_list":
                for item in node.children:
                    self._numbered_item(item, level + 1)
            case "bullet_list":
                for item in node.children:
                    self._bullet_item(item, indent, 1)
            case "heading":
                self._heading(node)
            case "table":
                self.blocks.append(self._table(node))
            case other:
                raise self.fail(f"unsupported Markdown ({other.replace('_', ' ')}); use "
                                "paragraphs, lists, tables and ## headings")

    def _paragraph(self, node: MdNode, indent: int) -> None:
        runs, anchor = self._inline(node.children[0])
        marker = self._placeholder(runs)
        if marker == _DEFINITIONS:
            self.definitions.append((len(self.blocks), indent))
            return
        if marker is not None:
            self.placeholders.append((len(self.blocks), marker))
            return
        if anchor:
            raise self.fail(f"anchor {anchor!r} must start a numbered item")
        if self.scheme is None and not indent:
            self.blocks.append(m.Paragraph(runs, 0))
        else:
            self.blocks.append(m.Paragraph(runs, indent))

    def _placeholder(self, runs: m.Runs) -> str | None:
        if len(runs) == 1 and isinstance(runs[0], m.Ref) and runs[0].target.startswith("@"):
            return runs[0].target[1:]
        return None

    def _numbered_item(self, item: MdNode, level: int) -> None:
        if level > 3:
            raise self.fail("numbered lists nest at most two levels (1. and then (a))")
        scheme = self.scheme or "recital"
        number = self._number(level)
        children = list(item.children)
        runs: m.Runs = ()
        anchor = None
        if children and children[0].type == "paragraph":
            runs, anchor = self._inline(children.pop(0).children[0])
        bookmark = None
        if anchor:
            bookmark = self._register(f"{self.owner}.{anchor}", number)
        self.blocks.append(m.NumberedPara(scheme, level, number, runs, bookmark, self.instance))
        for child in children:
            self._block(child, level, level)

    def _bullet_item(self, item: MdNode, indent: int, depth: int) -> None:
        for child in item.children:
            if child.type == "paragraph":
                runs, _ = self._inline(child.children[0])
                self.blocks.append(m.BulletItem(runs, depth, indent))
            elif child.type == "bullet_list":
                for sub in child.children:
                    self._bullet_item(sub, indent, depth + 1)
            else:
                raise self.fail("a bullet item may hold text and bullets only")

    def _heading(self, node: MdNode) -> None:
        runs, _ = self._inline(node.children[0])
        depth = int(node.tag[1])
        if self.scheme is None:
            if depth == 1:
                self.blocks.append(m.Title(runs))
            else:
                self.blocks.append(m.Heading(min(depth - 1, 3), runs))
            return
        if depth == 1:
            raise self.fail("use ## or ### for headings inside a clause or schedule")
        self.blocks.append(m.Heading(min(depth, 3), runs))

    def _table(self, node: MdNode) -> m.Table:
        header: tuple[m.Runs, ...] = ()
        rows: list[tuple[m.Runs, ...]] = []
        for section in node.children:
            for row in section.children:
                cells = tuple(self._inline(cell.children[0])[0] if cell.children else ()
                              for cell in row.children)
                if section.type == "thead":
                    header = cells
                else:
                    rows.append(cells)
        return m.Table(header, tuple(rows))

    # -- inline content ------------------------------------------------------------------

    def _inline(self, inline: MdNode) -> tuple[m.Runs, str | None]:
        anchor: list[str] = []
        runs = list(self._runs(inline.children, False, False, anchor))
        return _merge(runs), (anchor[0] if anchor else None)

    def _runs(self, nodes: tuple[MdNode, ...], bold: bool, italic: bool,
              anchor: list[str]) -> Iterator[m.Inline]:
        for node in nodes:
            match node.type:
                case "text" | "code_inline":
                    yield m.Text(node.content, bold, italic)
                case "softbreak":
                    yield m.Text(" ", bold, italic)
                case "hardbreak":
                    yield m.Text("\n", bold, italic)
                case "strong":
                    yield from self._runs(node.children, True, italic, anchor)
                case "em":
                    yield from self._runs(node.children, bold, True, anchor)
                case "link":
                    yield from self._link(node, bold, italic, anchor)
                case "image":
                    yield m.Text(node.attr("alt"), bold, italic)
                case other:
                    raise self.fail(f"unsupported inline Markdown ({other})")

    def _link(self, node: MdNode, bold: bool, italic: bool,
              anchor: list[str]) -> Iterator[m.Inline]:
        href = node.attr("href")
        if href == "#cg-term":
            yield m.Term("".join(_plain(node)))
        elif href.startswith(("#cg-ref:", "#cg-refcap:")):
            kind, target = href[1:].split(":", 1)
            yield m.Ref(target, "", "cap" if kind == "cg-refcap" else "", "")
        elif href.startswith("#cg-anchor:"):
            anchor.append(href.split(":", 1)[1])
        elif href.startswith("#cg-") and href[4:] in (*_PLACEHOLDERS, *_OPTIONAL_MARKERS,
                                                       _DEFINITIONS):
            yield m.Ref("@" + href[4:], "", "", "")
        else:
            yield from self._runs(node.children, bold, italic, anchor)

    def _register(self, key: str, number: str) -> str:
        bookmark = bookmark_name(key, self.state.bookmarks)
        self.state.targets[key] = (_subclause_prefix(self.state.strings), number, bookmark)
        self.registered.append((key, number, bookmark))
        return bookmark


def _plain(node: MdNode) -> Iterator[str]:
    for child in node.children:
        if child.type in ("text", "code_inline"):
            yield child.content
        else:
            yield from _plain(child)


def _merge(runs: list[m.Inline]) -> m.Runs:
    """Join neighbouring text runs with the same emphasis."""
    out: list[m.Inline] = []
    for run in runs:
        last = out[-1] if out else None
        if (isinstance(run, m.Text) and isinstance(last, m.Text)
                and (last.bold, last.italic) == (run.bold, run.italic)):
            out[-1] = m.Text(last.text + run.text, run.bold, run.italic)
        else:
            out.append(run)
    return tuple(out)


# --- template rendering ------------------------------------------------------------------

def _template_line(error: BaseException) -> int | None:
    """Return the template line where an error was raised, from Jinja's rewritten traceback."""
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _located(where: str, error: BaseException) -> LibraryError:
    if isinstance(error, TemplateSyntaxError):
        return LibraryError(f"{where}:{error.lineno}: template syntax error: {error.message}")
    line = _template_line(error)
    location = f"{where}:{line}" if line else where
    message = error.message if isinstance(error, TemplateError) else str(error)
    return LibraryError(f"{location}: {message}")


class _Renderer:
    """Render templates of one contract with one shared context."""

    def __init__(self, library: Library, selection: Selection, deal: dict[str, Any],
                 language: str):
        self.library = library
        self.selection = selection
        self.language = language
        locale = locale_for(language, deal["agreement"]["governing_law"])
        self.formatter = Formatter(language, locale)
        self.env = environment(library.root)
        self.current = ""
        self.log = DependencyLog()
        # The locale is not part of the key: a template that formats a value records it as an
        # input (``_formatting``), so a change of governing law that changes the locale runs
        # only the templates that format dates, amounts or numbers again.
        self.memo_key = (library, language)
        self.roots: dict[str, Any] = {k: deal.get(k) for k in DEAL_ROOTS}
        self.roots["facts"] = dict(selection.facts)
        # What a template reads is numbered by value: each deal section, the facts, and the
        # answers of the helpers it calls (the set of included modules, the locale).
        self.stamps = stamps({
            **{k: deal.get(k) for k in DEAL_ROOTS},
            "facts": self.roots["facts"],
            call_stamp("included"): sorted(selection.included_ids),
            call_stamp("locale"): str(self.formatter.locale),
        })
        self.context: dict[str, Any] = {k: wrap(deal.get(k), k, self.log) for k in DEAL_ROOTS}
        self.context.update({
            "language": language,
            "facts": Record(self.roots["facts"], "facts", self.log),
            "EU": list(EU),
            "included": self.included,
            "ref": self.ref,
            "anchor": self.anchor,
            "term": self.term,
            "definitions": self.definitions,
            "toc": lambda: MdSafe("[](#cg-toc)"),
            "clauses": lambda: MdSafe("[](#cg-clauses)"),
            "signatures": lambda: MdSafe("[](#cg-signatures)"),
            "schedules": lambda: MdSafe("[](#cg-schedules)"),
            "page_break": lambda: MdSafe("[](#cg-page_break)"),
            FORMATTER_KEY: self.formatter,
            FORMATTING_KEY: self._formatting,
            LABELS_KEY: library.labels.get(language, {}),
        })
        self._definitions: tuple[str, ...] | None = None  # each definition's Markdown

    # helpers exposed to templates
    def included(self, module_id: str) -> bool:
        self.library.get(module_id)
        return self._included(module_id)

    def _included(self, module_id: str) -> bool:
        result = module_id in self.selection.included_ids
        self.log.call("included", module_id, result)
        return result

    def ref(self, target: str, cap: bool = False) -> MdSafe:
        module_id = target.split(".", 1)[0]
        self.library.get(module_id)
        if not self._included(module_id):
            raise LibraryError(f"refers to {module_id!r}, which this deal leaves out; guard the "
                               f"reference with {{% if included('{module_id}') %}}")
        kind = "cg-refcap" if cap else "cg-ref"
        return MdSafe(f"[](#{kind}:{target})")

    def anchor(self, name: str) -> MdSafe:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise LibraryError(f"anchor {name!r} must be a snake_case word")
        return MdSafe(f"[](#cg-anchor:{name})")

    def term(self, text: str) -> MdSafe:
        """Define a term here: in quotation marks and bold, the same everywhere."""
        return MdSafe(_term(text))

    def definitions(self) -> MdSafe:
        """Mark where the definitions go: each is built on its own (``_clause_blocks``), so
        that an edit of one definition rebuilds one paragraph, not the whole list."""
        if self._definitions is None:
            raise LibraryError("definitions() is only available in the Definitions clause")
        return MdSafe(f"[](#cg-{_DEFINITIONS})")

    def close(self) -> None:
        """Let go of the template context: it refers back to this renderer (its helpers
        are bound methods), and the cycle would otherwise keep the contract's renderer,
        selection and wrapped deal until the cyclic garbage collector ran."""
        self.context.clear()

    def _formatting(self) -> None:
        self.log.call("locale", "", self.formatter.locale)

    def definition_texts(self) -> tuple[str, ...]:
        """Return each definition's Markdown, sorted by term (``render_definitions``)."""
        return self._definitions or ()

    def _current(self, dependency: Dependency) -> Any:
        key = dependency[0]
        if key[0] == CALL:
            if key[1] == "included":
                return str(key[2]) in self.selection.included_ids
            return self.formatter.locale  # the only other call logged (``_formatting``)
        return lookup(self.roots, key)

    def _run(self, name: str) -> str:
        """Render a template to Markdown, or reuse its output if nothing it read changed."""
        key = (*self.memo_key, name)
        text = _MEMO.get(key, self._current, self.stamps)
        if text is None:
            self.log.reset()
            text = _single_stops(self.env.template(name).render(self.context))
            dependencies = self.log.dependencies()
            if dependencies is not None:
                _MEMO.put(key, dependencies, text, self.stamps)
        return text

    def render(self, name: str, where: str) -> str:
        try:
            return self._run(name)
        except LibraryError as error:
            raise _located(where, error) from error
        except (TemplateError, TypeError, ValueError, KeyError, AttributeError) as error:
            raise _located(where, error) from error
        except OSError as error:
            raise LibraryError(f"{where}: cannot read template: {error}") from error

    def render_definitions(self) -> None:
        """Render every included module's definitions, sorted: one Markdown text each."""
        entries: dict[str, tuple[str, str]] = {}
        for module in self.selection.modules():
            where = module.location
            for index, (term, _) in enumerate(module.definitions.get(self.language, ())):
                if term in entries:
                    raise LibraryError(f"{where}: term {term!r} is also defined by "
                                       f"{entries[term][1]}")
                try:
                    body = self._run(f"definition:{module.id}:{self.language}:{index}")
                except LibraryError as error:
                    raise LibraryError(f"{where}: definition of {term!r}: {error}") from error
                except TemplateError as error:
                    raise LibraryError(f"{where}: definition of {term!r}: {error}") from error
                entries[term] = (body.strip(), module.id)
        ordered = sorted(entries, key=_sort_key)
        self._definitions = tuple(_definition(term, entries[term][0]) for term in ordered)


def _term(text: str) -> str:
    return f"“[{escape_markdown(text)}](#cg-term)”"


@lru_cache(maxsize=256)  # three or four contracts' definitions
def _definition(term: str, body: str) -> str:
    """Return a definition's Markdown: the term defined, then its text (the same string
    object for the same definition, so that its build is found fast)."""
    return f"{_term(term)} {body}"


# A deal value that ends with a full stop ("Inc.", "Bogotá D.C.") followed by the template's
# own full stop: the value's stop is escaped, the template's is not, so only such boundaries
# match, and the deal's own text is never changed.
_DOUBLE_STOP = re.compile(r"(?<=\\\.)\.(?!\.)")


def _single_stops(markdown: str) -> str:
    """Drop a template's full stop that directly follows a deal value ending in one (the
    pattern starts with a look-behind, so it is tried at every full stop: a substring test
    first finds most texts without one)."""
    return _DOUBLE_STOP.sub("", markdown) if "\\.." in markdown else markdown


@lru_cache(maxsize=1024)
def _sort_key(term: str) -> str:
    decomposed = unicodedata.normalize("NFKD", term)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# --- assembling the document -------------------------------------------------------------

def _clause_blocks(renderer: _Renderer, state: _State, module: ClauseModule,
                   sections: list[ClauseModule]) -> list[tuple[str, Sequence[m.Block]]]:
    """Render a clause or schedule (with its sections); return (module id, blocks) pieces."""
    lang = renderer.language
    where = module.template_name(lang)  # the template's path in the library
    title = module.title(lang)
    number_of = state.clause_count + 1 if module.kind == "clause" else state.schedule_count + 1
    number = str(number_of)
    bookmark = bookmark_name(module.id, state.bookmarks)
    if module.kind == "clause":
        state.clause_count += 1
        target: _Target = (state.strings["clause"] + " ", number, bookmark)
        heading = _heading("clause", number, f"{number}.", title, bookmark, 0)
        state.toc.append((f"{number}.", title))
        builder = _Builder(state, "clause", where, module.id, number)
    else:
        state.schedule_count += 1
        target = (state.strings["schedule"] + " ", number, bookmark)
        label = f"{state.strings['schedule']} {number}"
        heading = _heading("schedule", number, label, title, bookmark, state.schedule_count)
        state.toc.append((label, title))
        builder = _Builder(state, "schedule", where, module.id, instance=state.schedule_count)
    state.targets[module.id] = target
    for section in sections:
        state.targets[section.id] = target
    texts = [renderer.render(where, where)]
    place = (module.id, module.kind, number, state.setting, *(s.id for s in sections))
    known = _MODULES.get(place)
    if known is not None and known.texts[0] == texts[0]:  # the same object, mostly: fast
        texts += (renderer.render(section.template_name(lang), section.template_name(lang))
                  for section in sections)
        if _reuse(known, texts, renderer, state):
            _MODULES.move_to_end(place)
            return [(module.id, [heading, *known.pieces[0][1]]), *known.pieces[1:]]
    state.recording, state.placed_definitions = [], False
    try:
        pieces = [(module.id, tuple(_build_part(renderer, state, builder, texts[0])))]
        for index, section in enumerate(sections, start=1):
            builder.where = section.template_name(lang)
            builder.owner = section.id
            builder.blocks = [_section_heading(section.title(lang))]
            if len(texts) <= index:
                texts.append(renderer.render(builder.where, builder.where))
            pieces.append((section.id, tuple(_build_part(renderer, state, builder,
                                                         texts[index]))))
        known = _MODULES[place] = _Module(
            tuple(texts),
            renderer.definition_texts() if state.placed_definitions else None,
            tuple(pieces), tuple(state.recording))
        while len(_MODULES) > _MODULES_SIZE:
            _MODULES.popitem(last=False)
    finally:
        state.recording = None
    return [(module.id, [heading, *known.pieces[0][1]]), *known.pieces[1:]]


@dataclass(frozen=True, slots=True)
class _Module:
    """A module's blocks as built last at its place (its id, kind, number, setting and the
    ids of its sections): from its texts (its own, then its sections'), and the definitions
    if it placed them; each build it made (key, place, build), in order."""

    texts: tuple[str, ...]
    definitions: tuple[str, ...] | None
    pieces: tuple[tuple[str, tuple[m.Block, ...]], ...]  # the module's without its heading
    builds: tuple[_Build, ...]


# A module whose texts are the very strings it was built from last time at the same place
# (the template memo gives them back) is taken whole: its builds are replayed as ``build``
# would replay them one by one (bookmarks, targets; each build and place kept as recently
# used), without a builder.
_MODULES: OrderedDict[tuple[Any, ...], _Module] = OrderedDict()
_MODULES_SIZE = 200  # two contracts or so


def _reuse(known: _Module, texts: list[str], renderer: _Renderer, state: _State) -> bool:
    """Replay a module's builds if its texts and the definitions it placed are as they were
    and its bookmarks come out with the same names; False (and nothing changed) if not."""
    if tuple(texts) != known.texts:
        return False
    if known.definitions is not None and known.definitions != renderer.definition_texts():
        return False
    if not _replay(state, known.builds):
        return False
    for key, place, built in known.builds:
        if key in _BUILT:
            _BUILT.move_to_end(key)
        else:
            _keep_built(key, built)
        _remember_place(place, built.blocks)
    return True


def _build_part(renderer: _Renderer, state: _State, builder: _Builder,
                markdown: str) -> list[m.Block]:
    """Build a clause's or section's text, then the definitions where it placed them: each
    from its own Markdown text at the list level of the paragraph that called
    ``definitions()``, as if they were paragraphs of that list item (a definition whose
    text did not change gives the very blocks it gave before)."""
    placed = len(builder.definitions)
    blocks = builder.build(markdown)
    for at, depth in reversed(builder.definitions[placed:]):
        state.placed_definitions = True
        sub = _Builder(state, builder.scheme, builder.where, builder.owner,
                       builder.clause_number, builder.instance)
        for text in renderer.definition_texts():
            sub.build(text, depth)
        if sub.placeholders or sub.definitions:
            raise LibraryError(f"{builder.where}: a definition may not place other parts")
        blocks[at:at] = sub.blocks
    del builder.definitions[placed:]
    return blocks


@lru_cache(maxsize=256)
def _heading(scheme: m.Scheme, number: str, label: str, title: str, bookmark: str,
             instance: int) -> m.NumberedHeading:
    """Return a clause or schedule heading: the same object for the same heading, so the
    writers and the cross-reference pass find it by identity in the next contract (the
    arguments are strings and numbers: their hashes are cheap, or kept)."""
    return m.NumberedHeading(scheme, number, label, (m.Text(title),), bookmark, instance)


@lru_cache(maxsize=64)
def _section_heading(title: str) -> m.Heading:
    """Return a schedule section's heading (the same object for the same title)."""
    return m.Heading(2, (m.Text(title),))


def _signature_block(deal: dict[str, Any], strings: dict[str, str]) -> m.SignatureBlock:
    parties = tuple(
        m.SignatureParty(strings[f"role_{role}"], deal["parties"][role]["legal_name"],
                         deal["parties"][role]["signatory"]["name"],
                         deal["parties"][role]["signatory"]["title"])
        for role in ("client", "vendor")
    )
    return m.SignatureBlock(parties, strings["by"], strings["name"], strings["title"],
                            strings["date"])


def _resolve(blocks: list[m.Block], spans: list[tuple[str, int, int]], state: _State,
             where: Callable[[str], str]) -> list[m.Block]:
    """Fill in every cross-reference from the numbers given while building.

    A block whose targets resolve as they did the last time it was seen gets the same
    resolved object back (blocks are reused across renders; so are their resolutions). A
    module's span of blocks that are all the very objects of the last contract, with targets
    that resolve as they did, is taken whole, without visiting its blocks (when no target of
    the document changed, without looking its targets up either).
    """

    def target_of(key: str) -> _Target:
        target = state.targets.get(key)
        if target is None:
            raise LibraryError(f"{where(key)}: cross-reference to {key!r}, which names no "
                               "clause or anchor")
        return target

    def fix(runs: m.Runs) -> m.Runs:
        if not any(isinstance(run, m.Ref) for run in runs):
            return runs
        out: list[m.Inline] = []
        for run in runs:
            if isinstance(run, m.Ref):
                prefix, number, bookmark = target_of(run.target)
                if run.prefix == "cap":
                    prefix = prefix[:1].upper() + prefix[1:]
                run = m.Ref(run.target, bookmark, prefix, number)
            out.append(run)
        return tuple(out)

    def one(refs: _Refs) -> m.Block:
        block = refs.block
        if not refs.targets:
            return block
        key = tuple(target_of(target) for target in refs.targets)
        if refs.last is not None and refs.last[0] == key:
            return refs.last[1]
        done: m.Block
        match block:
            case m.Title() | m.Heading() | m.NumberedHeading() | m.NumberedPara() \
                    | m.Paragraph() | m.BulletItem():
                done = replace(block, runs=fix(block.runs))
            case m.Table():
                done = replace(block, header=tuple(fix(c) for c in block.header),
                               rows=tuple(tuple(fix(c) for c in row) for row in block.rows))
            case _:
                done = block
        refs.last = (key, done)
        return done

    def refs_of(block: m.Block, known: dict[int, _Refs]) -> _Refs:
        refs = known.get(id(block))
        return refs if refs is not None and refs.block is block else _refs(block)

    resolved: list[m.Block] = []
    last = _LastResolved.last
    same_targets = state.targets == last.targets  # then every piece's key is as it was
    seen: dict[int, _Refs] = {}  # blocks outside the modules' spans
    pieces: dict[str, _Piece] = {}
    position = 0
    for owner, start, end in (*spans, ("", len(blocks), len(blocks))):
        for block in blocks[position:start]:
            seen[id(block)] = refs = refs_of(block, last.seen)
            resolved.append(one(refs))
        position = end
        if not owner:
            break
        span = blocks[start:end]
        piece = last.pieces.get(owner)
        if (piece is not None and len(piece.refs) == len(span)
                and all(map(operator.is_, piece.blocks, span))
                and (same_targets or tuple(map(target_of, piece.targets)) == piece.key)):
            pieces[owner] = piece
            resolved.extend(piece.resolved)
            continue
        known = {id(r.block): r for r in piece.refs} if piece is not None else {}
        all_refs = tuple(refs_of(block, known) for block in span)
        done = tuple(one(refs) for refs in all_refs)
        targets = tuple(target for refs in all_refs for target in refs.targets)
        pieces[owner] = _Piece(tuple(span), all_refs, targets,
                               tuple(map(target_of, targets)), done)
        resolved.extend(done)
    _LastResolved.last = _Resolved(seen, pieces, state.targets)
    return resolved


def clear_caches() -> None:
    """Forget every remembered template output, build and parse (for tests and benchmarks)."""
    _MEMO.clear()
    _BUILT.clear()
    _PLACES.clear()
    _MODULES.clear()
    _LastResolved.last = _Resolved({}, {}, {})
    _heading.cache_clear()
    _section_heading.cache_clear()
    _definition.cache_clear()
    _bookmark_base.cache_clear()
    _sort_key.cache_clear()
    _clear_parses()


@dataclass
class _Refs:
    """The cross-reference targets of a block, and its last resolution."""

    block: m.Block  # kept, so that no other object can have its id while this lives
    targets: tuple[str, ...]
    last: tuple[tuple[tuple[str, str, str], ...], m.Block] | None = None


@dataclass(frozen=True)
class _Piece:
    """One module's span of blocks as last resolved."""

    blocks: tuple[m.Block, ...]  # as built, before resolution
    refs: tuple[_Refs, ...]  # each block's targets and last resolution
    targets: tuple[str, ...]  # every target of the span, in order
    key: tuple[_Target, ...]  # what they resolved to
    resolved: tuple[m.Block, ...]


@dataclass(frozen=True)
class _Resolved:
    """The last document's blocks outside modules (by ``id``) and its modules' spans (by
    module id): most of the next contract's blocks are the very same objects (reused by the
    template and build memos), found here without looking into their runs again."""

    seen: dict[int, _Refs]
    pieces: dict[str, _Piece]
    targets: dict[str, _Target]  # every target of the document, as resolved


class _LastResolved:
    """The last document resolved; replaced whole, so it holds one contract's blocks."""

    last = _Resolved({}, {}, {})


def _refs(block: m.Block) -> _Refs:
    match block:
        case m.Title() | m.Heading() | m.NumberedHeading() | m.NumberedPara() \
                | m.Paragraph() | m.BulletItem():
            runs: tuple[m.Inline, ...] | list[m.Inline] = block.runs
        case m.Table():
            runs = [run for row in (block.header, *block.rows) for cell in row for run in cell]
        case _:
            runs = ()
    return _Refs(block, tuple(run.target for run in runs if isinstance(run, m.Ref)))


def build_document(library: Library, selection: Selection, deal: dict[str, Any],
                   language: str) -> m.Document:
    """Render the selected modules of a deal into a Document in one language."""
    strings = _strings(library, language)
    renderer = _Renderer(library, selection, deal, language)
    try:
        return _assemble(renderer, strings, deal)
    finally:
        renderer.close()


def _assemble(renderer: _Renderer, strings: dict[str, str], deal: dict[str, Any]
              ) -> m.Document:
    library, selection, language = renderer.library, renderer.selection, renderer.language
    state = _State(strings, language, setting=(library, language))
    renderer.render_definitions()

    sections: dict[str, list[ClauseModule]] = {}
    for module in selection.modules("section"):
        sections.setdefault(str(module.parent), []).append(module)
    body: list[tuple[str, Sequence[m.Block]]] = []
    for module in selection.modules("clause"):
        body.extend(_clause_blocks(renderer, state, module, []))
    annexes: list[tuple[str, Sequence[m.Block]]] = []
    for module in selection.modules("schedule"):
        annexes.extend(_clause_blocks(renderer, state, module, sections.get(module.id, [])))

    skeleton = library.skeleton_name(language)
    front = _Builder(state, None, skeleton, "agreement")
    front_blocks = front.build(renderer.render(skeleton, skeleton))
    if front.definitions:
        raise LibraryError(f"{skeleton}: definitions() belongs in the Definitions clause")
    parts: dict[str, list[tuple[str, Sequence[m.Block]]]] = {
        "clauses": body,
        "schedules": annexes,
        "signatures": [("", [_signature_block(deal, strings)])],
        "toc": [("", [m.TableOfContents(strings["contents"], tuple(state.toc))])],
        "page_break": [("", [m.PageBreak()])],
    }
    placed = [name for _, name in front.placeholders]
    missing = [p for p in _PLACEHOLDERS if placed.count(p) != 1]  # page_break: any number
    if missing:
        raise LibraryError(f"{skeleton}: the skeleton must place each of "
                           f"{', '.join(p + '()' for p in missing)} exactly once")
    blocks: list[m.Block] = []
    spans: list[tuple[str, int, int]] = []
    for index, block in enumerate([*front_blocks, None]):
        for _, name in (p for p in front.placeholders if p[0] == index):
            for owner, piece in parts[name]:
                if owner:
                    spans.append((owner, len(blocks), len(blocks) + len(piece)))
                blocks.extend(piece)
        if block is not None:
            blocks.append(block)

    def owner_of(target: str) -> str:  # for messages only
        try:
            return library.get(target.split(".")[0]).location
        except LibraryError:  # not a module's target: the skeleton's own
            return skeleton

    resolved = _resolve(blocks, spans, state, owner_of)
    meta = _meta(deal, language, renderer.formatter, strings)
    return m.Document(meta, tuple(resolved), tuple(spans))


def _strings(library: Library, language: str) -> dict[str, str]:
    strings = library.strings.get(language)
    if not isinstance(strings, dict):
        raise LibraryError(f"templates/strings.toml: no [{language}] table")
    needed = ("clause", "schedule", "contents", "page", "subject", "by", "name", "title", "date",
              "role_client", "role_vendor")
    missing = [k for k in needed if k not in strings]
    if missing:
        raise LibraryError(f"templates/strings.toml: [{language}] lacks {', '.join(missing)}")
    return {k: str(v) for k, v in strings.items()}


def _meta(deal: dict[str, Any], language: str, formatter: Formatter,
          strings: dict[str, str]) -> m.DocumentMeta:
    agreement = deal["agreement"]
    return m.DocumentMeta(
        title=agreement["title"],
        reference=agreement["reference"],
        subject=strings["subject"],
        language=language_tag(formatter.locale),
        paper="letter" if agreement["governing_law"].startswith("US-") else "a4",
        header_text=f"{agreement['title']} \u2014 {agreement['reference']}",
        page_label=strings["page"],
        clause_ref_prefix=strings["clause"] + " ",
        schedule_label=strings["schedule"],
    )
