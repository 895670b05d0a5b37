"""Check the clause library the way counsel need it checked, and report rule coverage.

``lint`` reads every template, rule and definition without a deal (syntax, deal fields,
cross-references, language parity), then explores the deals that ``variants.generate``
makes: which modules some deal includes, which references can dangle, and, on a few
assembled contracts (a greedy cover of every reachable module, in every language), which
defined terms are used without a definition, defined without a use, or defined twice.
Each problem is a ``Finding`` located at a library file and line (``file:line: message``).

``coverage`` tells, for every module, how many generated deals include it and which option
changes switch it on; ``format_coverage`` prints that as a table.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError

from contractgen import model as m
from contractgen.analysis import NO_GUARDS, Scan, Walker, leaf_lines
from contractgen.dealsheet import normalise, resolved
from contractgen.errors import LibraryError
from contractgen.library import LANGUAGES, ClauseModule, Library
from contractgen.paths import SCHEMA_FILE
from contractgen.render import build_document
from contractgen.rules import Selection, schema_field_paths, select
from contractgen.sandbox import environment
from contractgen.variants import Variant, generate


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in the library, at a file (relative to the library root) and line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# --- the library's sources --------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A piece of Jinja in the library: a template, a rule or a definition text."""

    file: str
    kind: str  # "template", "rule" or "definition"
    text: str
    module: str | None = None  # None: the skeleton or a fact
    language: str | None = None
    line: int | None = None  # the fixed line of a rule or definition in its TOML file

    def at(self, lineno: int) -> int:
        """Return the file line of a line of this source."""
        return self.line if self.line is not None else lineno


class _Toml:
    """Find the lines of keys in the library's TOML files (tomllib gives no positions)."""

    def __init__(self, library: Library):
        self.library = library
        self.cache: dict[str, list[str]] = {}

    def lines(self, file: str) -> list[str]:
        """Return the lines of a library file (none if it is missing)."""
        if file not in self.cache:
            path = self.library.root / file
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            self.cache[file] = text.splitlines()
        return self.cache[file]

    def key_line(self, file: str, key: str, table: str | None = None) -> int:
        """Return the line of ``key =`` (in ``[table]`` if given, else anywhere), or 1."""
        lines = self.lines(file)
        name = re.escape(key)
        pattern = re.compile(rf"""^\s*(?:{name}|"{name}"|'{name}')\s*=""")
        start = self.table_line(file, table) if table is not None else 0
        if table is not None and start == 0:
            return self.key_line(file, key)
        for index in range(start, len(lines)):
            if table is not None and lines[index].lstrip().startswith("["):
                break
            if pattern.match(lines[index]):
                return index + 1
        return self.key_line(file, key) if table is not None else 1

    def table_line(self, file: str, table: str) -> int:
        """Return the line of a ``[table]`` header, or 0."""
        header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]")
        return next((i + 1 for i, t in enumerate(self.lines(file)) if header.match(t)), 0)

    def entry_line(self, file: str, name: str) -> int:
        """Return the line of ``[name]`` or of ``name =``, whichever the file has."""
        return self.table_line(file, name) or self.key_line(file, name)


def _sources(library: Library, toml: _Toml) -> list[_Source]:
    """Return every template, rule and definition text of the library."""
    sources: list[_Source] = []
    for language in LANGUAGES:
        skeleton = library.root / library.skeleton_name(language)
        if skeleton.exists():
            sources.append(_Source(library.skeleton_name(language), "template",
                                   skeleton.read_text(encoding="utf-8"), language=language))
    facts = "clauses/facts.toml"
    for fact in library.facts:
        sources.append(_Source(facts, "rule", _expression(fact.rule),
                               line=toml.key_line(facts, "rule", fact.name)))
    for module in library.modules:
        sources.extend(_module_sources(library, module, toml))
    return sources


def _module_sources(library: Library, module: ClauseModule, toml: _Toml) -> Iterator[_Source]:
    """Yield a module's rule, its templates and its definition texts."""
    meta = library.rel(module.meta_path)
    yield _Source(meta, "rule", _expression(module.include), module.id,
                  line=toml.key_line(meta, "include"))
    for language in LANGUAGES:
        path = module.template_path(language)
        if path.exists():
            yield _Source(library.rel(path), "template", path.read_text(encoding="utf-8"),
                          module.id, language)
        for term, text in module.definitions.get(language, ()):
            yield _Source(meta, "definition", text, module.id, language,
                          toml.key_line(meta, term, f"definitions.{language}"))


def _expression(rule: str) -> str:
    """Wrap a rule so that it parses as a template."""
    return "{{ (" + rule + ") }}"


def _scan_all(library: Library, sources: list[_Source]) -> tuple[dict[_Source, Scan],
                                                                  list[Finding]]:
    """Parse and scan every source; syntax errors become findings."""
    env = environment(library.root)
    scans: dict[_Source, Scan] = {}
    findings: list[Finding] = []
    for source in sources:
        try:
            tree = env.parse(source.text)
        except TemplateSyntaxError as error:
            what = "rule is not a valid expression" if source.kind == "rule" \
                else "template syntax error"
            findings.append(Finding(source.file, source.at(error.lineno or 1),
                                    f"{what}: {error.message}"))
            continue
        walker = Walker()
        walker.walk(tree, {}, NO_GUARDS)
        scans[source] = walker.scan
    return scans, findings


# --- static checks ----------------------------------------------------------------------


def _bare(path: str) -> str:
    """Drop the list markers of a path (``a.b[].c`` -> ``a.b.c``)."""
    return path.replace("[]", "")


def _check_fields(library: Library, scans: dict[_Source, Scan],
                  schema: dict[str, Any]) -> Iterator[Finding]:
    """Report deal fields, facts and names that a source uses but nothing defines."""
    known = {_bare(p) for p in schema_field_paths(schema)}
    facts = {f.name for f in library.facts}
    for source, scan in scans.items():
        what = "rule names" if source.kind == "rule" else "reads"
        for path, line in scan.paths:
            if _bare(path) not in known:
                yield Finding(source.file, source.at(line),
                              f"{what} {path}, which the deal schema does not define")
        for name, line in scan.facts:
            if name not in facts:
                yield Finding(source.file, source.at(line),
                              f"{what} facts.{name}, which clauses/facts.toml does not define")
        for name, line in scan.unknown:
            yield Finding(source.file, source.at(line), f"uses an unknown variable {name!r}")


def _check_refs(library: Library, scans: dict[_Source, Scan]) -> Iterator[Finding]:
    """Report ref() and included() calls naming modules or anchors that do not exist."""
    ids = {mod.id for mod in library.modules}
    anchors: dict[tuple[str | None, str | None], set[str]] = {}
    for source, scan in scans.items():
        anchors.setdefault((source.module, source.language), set()).update(scan.anchors)
    for source, scan in scans.items():
        for ref in scan.refs:
            module_id, _, anchor = ref.target.partition(".")
            if module_id not in ids:
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}') names no clause module")
            elif anchor and anchor not in anchors.get((module_id, source.language), set()):
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}'): {module_id} has no anchor('{anchor}')")
        for target, line in scan.included:
            if target not in ids:
                yield Finding(source.file, source.at(line),
                              f"included('{target}') names no clause module")


def _check_parity(library: Library, scans: dict[_Source, Scan],
                  toml: _Toml) -> Iterator[Finding]:
    """Report modules whose languages differ: templates, titles, variables, definitions."""
    templates = {(s.module, s.language): (s.file, scan) for s, scan in scans.items()
                 if s.kind == "template"}
    for module in library.modules:
        yield from _check_module_languages(library, module, toml)
        present = [templates[(module.id, lang)] for lang in LANGUAGES
                   if (module.id, lang) in templates]
        languages = [lang for lang in LANGUAGES if (module.id, lang) in templates]
        for index in range(1, len(present)):
            yield from _compare_languages(*present[0], *present[index], languages[0],
                                          languages[index])


def _check_module_languages(library: Library, module: ClauseModule,
                            toml: _Toml) -> Iterator[Finding]:
    """Report a module's missing templates and titles and unequal definition counts."""
    meta = library.rel(module.meta_path)
    counts = {lang: len(module.definitions.get(lang, ())) for lang in LANGUAGES}
    for lang in LANGUAGES:
        if not module.template_path(lang).exists():
            expected = library.rel(module.template_path(lang))
            yield Finding(meta, 1, f"no {lang} template ({expected})")
        if not module.titles.get(lang):
            yield Finding(meta, toml.entry_line(meta, "title"), f"no {lang} title")
        if counts[lang] != counts[LANGUAGES[0]]:
            yield Finding(meta, toml.entry_line(meta, f"definitions.{lang}"),
                          f"defines {counts[lang]} term(s) in {lang} but "
                          f"{counts[LANGUAGES[0]]} in {LANGUAGES[0]}")


def _compare_languages(file_a: str, scan_a: Scan, file_b: str, scan_b: Scan,
                       lang_a: str, lang_b: str) -> Iterator[Finding]:
    """Report deal fields only one language reads, and different in-place term counts."""
    leaves_a, leaves_b = leaf_lines(scan_a.paths), leaf_lines(scan_b.paths)
    for path in sorted(leaves_a.keys() - leaves_b.keys()):
        yield Finding(file_a, leaves_a[path], f"reads {path}, which the {lang_b} text does not")
    for path in sorted(leaves_b.keys() - leaves_a.keys()):
        yield Finding(file_b, leaves_b[path], f"reads {path}, which the {lang_a} text does not")
    terms_a, terms_b = {t for t, _ in scan_a.terms}, {t for t, _ in scan_b.terms}
    if len(terms_a) != len(terms_b):
        line = scan_b.terms[0][1] if scan_b.terms else 1
        yield Finding(file_b, line, f"defines {len(terms_b)} term(s) in place with term() "
                                    f"but the {lang_a} text defines {len(terms_a)}")


_Pointer = tuple[str, ...]  # a JSON pointer as its keys

# Fields the engine itself prints or reads (document metadata, signature blocks, money).
_ENGINE_FIELDS = (
    "deal_sheet_version", "language", "agreement.title", "agreement.reference",
    "agreement.governing_law", "agreement.currency", "parties.client.legal_name",
    "parties.vendor.legal_name", "parties.client.signatory.name",
    "parties.client.signatory.title", "parties.vendor.signatory.name",
    "parties.vendor.signatory.title",
)


def _check_unused_fields(library: Library, scans: dict[_Source, Scan],
                         schema: dict[str, Any]) -> Iterator[Finding]:
    """Report deal-schema fields that no template, rule or definition reads."""
    used = {_bare(p) for scan in scans.values() for p, _ in scan.paths}
    used.update(_ENGINE_FIELDS)
    file = f"schemas/{SCHEMA_FILE}"
    path = library.root / file
    lines = _json_key_lines(path.read_text(encoding="utf-8")) if path.exists() else {}
    unused: dict[str, _Pointer] = {}
    for name, pointer in _schema_fields(schema):
        bare = _bare(name)
        if not any(u == bare or u.startswith(bare + ".") for u in used):
            unused[name] = pointer
    for name, pointer in unused.items():
        if not any(name.startswith((other + ".", other + "[]")) for other in unused):
            yield Finding(file, lines.get(pointer, 1),
                          f"deal field {name} is not used by any clause, rule or template")


def _schema_fields(schema: dict[str, Any]) -> Iterator[tuple[str, _Pointer]]:
    """Yield every field path of the schema with the JSON pointer of its property key."""

    def deref(node: Any, pointer: _Pointer) -> tuple[Any, _Pointer]:
        """Follow $ref, keeping the pointer of where the definition is."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) \
                and node["$ref"].startswith("#/"):
            pointer = tuple(node["$ref"][2:].split("/"))
            node = resolved(node, schema)
        return node, pointer

    def walk(node: Any, pointer: _Pointer, prefix: str) -> Iterator[tuple[str, _Pointer]]:
        """Yield the fields under one schema node."""
        node, pointer = deref(node, pointer)
        if not isinstance(node, dict):
            return
        if node.get("type") == "array" or "items" in node:
            yield from walk(node.get("items"), (*pointer, "items"), prefix + "[]")
            return
        parts = [(node, pointer)] + [deref(node.get(k), (*pointer, k)) for k in ("then", "else")]
        parts += [deref(part, (*pointer, "allOf", str(i)))
                  for i, part in enumerate(node.get("allOf", []))]
        seen: set[str] = set()
        for part, part_pointer in parts:
            if not isinstance(part, dict):
                continue
            for name, sub in part.get("properties", {}).items():
                if name in seen or not isinstance(sub, dict):
                    continue
                seen.add(name)
                path = f"{prefix}.{name}" if prefix else name
                key = (*part_pointer, "properties", name)
                yield path, key
                yield from walk(sub, key, path)

    yield from walk(schema, (), "")


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _json_key_lines(text: str) -> dict[_Pointer, int]:
    """Map the pointer of every object key in a JSON text to the line it is on."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    lines: dict[_Pointer, int] = {}
    stack: list[list[Any]] = []  # [is object, pointer, current key or index]
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "["):
            pointer = (*stack[-1][1], str(stack[-1][2])) if stack else ()
            stack.append([token == "{", pointer, 0])
            expect_key = token == "{"
        elif token in ("}", "]"):
            stack.pop()
        elif token == ",":
            expect_key = stack[-1][0]
            if not stack[-1][0]:
                stack[-1][2] += 1
        elif expect_key and token.startswith('"'):
            key = json.loads(token)
            stack[-1][2] = key
            lines[(*stack[-1][1], key)] = bisect.bisect_right(starts, match.start())
            expect_key = False
    return lines


# --- exploring generated deals ----------------------------------------------------------

_VARIANTS: dict[str, tuple[Variant, ...]] = {}


def _variants(library: Library, schema: dict[str, Any]) -> tuple[Variant, ...]:
    """Return the generated deals for this library's examples (cached by content)."""
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode())
    for path in sorted((library.root / "examples").glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    if key not in _VARIANTS:
        if len(_VARIANTS) >= 4:
            _VARIANTS.clear()
        _VARIANTS[key] = tuple(generate(library.root, schema))
    return _VARIANTS[key]


@dataclass(frozen=True)
class _Explored:
    """The generated deals (normalised) and each one's selection."""

    variants: tuple[Variant, ...]
    deals: tuple[dict[str, Any], ...]
    selections: tuple[Selection, ...]

    @cached_property
    def included(self) -> tuple[frozenset[str], ...]:
        """Return each deal's included module ids."""
        return tuple(s.included_ids for s in self.selections)

    @cached_property
    def reachable(self) -> frozenset[str]:
        """Return the modules some deal includes."""
        return frozenset().union(*self.included)

    def cover(self) -> list[int]:
        """Return a few deals that together include every reachable module (greedy)."""
        remaining = set(self.reachable)
        chosen: list[int] = []
        while remaining:
            best = max(range(len(self.included)),
                       key=lambda i: len(self.included[i] & remaining))
            chosen.append(best)
            remaining -= self.included[best]
        return chosen


def _explore(library: Library, schema: dict[str, Any]) -> _Explored:
    """Generate the deals and select each one's modules (LibraryError if a rule fails)."""
    variants = _variants(library, schema)
    deals = tuple(normalise(v.data, schema) for v in variants)
    selections = tuple(select(library, deal) for deal in deals)
    return _Explored(variants, deals, selections)


def _check_reachable(library: Library, explored: _Explored, toml: _Toml) -> Iterator[Finding]:
    """Report modules that no generated deal includes."""
    for module in library.modules:
        if module.id not in explored.reachable:
            meta = library.rel(module.meta_path)
            yield Finding(meta, toml.key_line(meta, "include"),
                          f"module {module.id} is unreachable: none of the "
                          f"{len(explored.variants)} generated deals includes it")


def _check_guards(library: Library, scans: dict[_Source, Scan],
                  explored: _Explored) -> Iterator[Finding]:
    """Report unguarded refs to modules some deal leaves out while keeping the referrer."""
    ids = {mod.id for mod in library.modules}
    for source, scan in scans.items():
        for ref in scan.refs:
            target = ref.target.split(".", 1)[0]
            if target not in ids or target == source.module or ref.guarded:
                continue
            witness = next((v.name for v, ids in zip(explored.variants, explored.included,
                                                     strict=True)
                            if (source.module is None or source.module in ids)
                            and target not in ids and ref.guards.allow(ids)), None)
            if witness is not None:
                yield Finding(source.file, source.at(ref.line),
                              f"ref('{ref.target}') is not guarded by "
                              f"{{% if included('{target}') %}}, and deal {witness} leaves "
                              f"{target} out")


# --- defined terms on assembled contracts -------------------------------------------------

_HEADINGS = (m.Title, m.Heading, m.NumberedHeading, m.TableOfContents, m.SignatureBlock,
             m.PageBreak)


@dataclass(frozen=True)
class _Contract:
    """One representative deal rendered in one language."""

    name: str
    language: str
    selection: Selection
    document: m.Document

    @cached_property
    def owners(self) -> list[str | None]:
        """Return the module that produced each block (None: the skeleton)."""
        owners: list[str | None] = [None] * len(self.document.blocks)
        for owner, start, end in self.document.spans:
            owners[start:end] = [owner] * (end - start)
        return owners

    @cached_property
    def definitions(self) -> list[tuple[str, int, bool]]:
        """Return (term, block index, whether it opens a Definitions entry) for each Term."""
        found = []
        for index, block in enumerate(self.document.blocks):
            runs = list(m.block_runs(block))
            for position, run in enumerate(runs):
                if isinstance(run, m.Term):
                    entry = position == 1 and isinstance(runs[0], m.Text) \
                        and runs[0].text.strip() in ("“", '"')
                    found.append((run.text, index, entry))
        return found

    @cached_property
    def text(self) -> tuple[str, list[int]]:
        """Return the text of every non-heading block (terms blanked) and each block's offset."""
        parts: list[str] = []
        offsets: list[int] = []
        position = 0
        for block in self.document.blocks:
            offsets.append(position)
            chunk = "" if isinstance(block, _HEADINGS) else "".join(
                "\0" if isinstance(run, m.Term) else m.runs_text((run,))
                for run in m.block_runs(block))
            parts.append(chunk + "\n\1\n")
            position += len(parts[-1])
        return "".join(parts), offsets

    def uses(self, term: str) -> list[int]:
        """Return the blocks that use a term, outside the Definitions entry that defines it."""
        text, offsets = self.text
        own = {i for t, i, entry in self.definitions if t == term and entry}
        blocks = (bisect.bisect_right(offsets, start) - 1 for start in _word_hits(text, term))
        return sorted({b for b in blocks if b not in own})


class _TermChecker:
    """Check defined terms on assembled contracts and locate each finding in the library."""

    def __init__(self, library: Library, scans: dict[_Source, Scan], toml: _Toml):
        self.library = library
        self.toml = toml
        self.templates = {(s.module, s.language): s for s in scans if s.kind == "template"}
        self.in_place: dict[str, dict[str, set[str]]] = {lang: {} for lang in LANGUAGES}
        for source, scan in scans.items():
            if source.kind == "template" and source.language:
                for term, _ in scan.terms:
                    owners = self.in_place[source.language].setdefault(term, set())
                    owners.add(source.module or "the skeleton")

    def definers(self, term: str, language: str) -> list[ClauseModule]:
        """Return the modules whose [definitions] define a term in a language."""
        return [mod for mod in self.library.modules
                if any(t == term for t, _ in mod.definitions.get(language, ()))]

    def library_terms(self, language: str, contracts: list[_Contract]) -> set[str]:
        """Return every term the library defines in a language, anywhere."""
        terms = set(self.in_place[language])
        for mod in self.library.modules:
            terms.update(t for t, _ in mod.definitions.get(language, ()))
        for contract in contracts:
            if contract.language == language:
                terms.update(t for t, _, _ in contract.definitions)
        return terms

    def check(self, contract: _Contract, terms: set[str]) -> Iterator[tuple[Finding, str]]:
        """Yield each finding on one contract with the deal it was seen in."""
        context = f"{contract.name}, {contract.language}"
        defined: dict[str, list[tuple[int, bool]]] = {}
        for term, index, entry in contract.definitions:
            defined.setdefault(term, []).append((index, entry))
        for term, places in defined.items():
            for index, entry in places[1:]:
                other = self.origin(contract, term, *places[0])
                file, line = self.origin(contract, term, index, entry)
                yield Finding(file, line, f"term {term!r} is defined twice in one contract "
                                          f"(also in {other[0]})"), context
            if not contract.uses(term):
                file, line = self.origin(contract, term, *places[0])
                yield Finding(file, line, f"term {term!r} is defined but never used"), context
        for term in sorted(terms - defined.keys()):
            yield from ((f, context) for f in self.undefined_uses(contract, term))

    def undefined_uses(self, contract: _Contract, term: str) -> Iterator[Finding]:
        """Yield one finding per place that uses a term this contract does not define."""
        where = {mod.id for mod in self.definers(term, contract.language)}
        where |= self.in_place[contract.language].get(term, set())
        seen: set[tuple[str, int]] = set()
        for index in contract.uses(term):
            place = self.use_origin(contract, term, index)
            if place not in seen:
                seen.add(place)
                yield Finding(*place, f"uses the defined term {term!r}, which this contract "
                                      f"does not define (defined by {', '.join(sorted(where))})")

    def origin(self, contract: _Contract, term: str, index: int, entry: bool) -> tuple[str, int]:
        """Return where a Term run was defined: a [definitions] key or a term() call."""
        if entry:
            for mod in self.definers(term, contract.language):
                if mod.id in contract.selection.included_ids:
                    return self.definition_key(mod, term, contract.language)
        source = self.template(contract, index)
        quoted = re.compile(rf"""term\(\s*(['"]){re.escape(term)}\1""")
        return source.file, _first_line(source.text, quoted)

    def use_origin(self, contract: _Contract, term: str, index: int) -> tuple[str, int]:
        """Return where the text of a block that uses a term comes from."""
        opener = next((t for t, i, entry in contract.definitions if i == index and entry), None)
        if opener is not None:
            for mod in self.definers(opener, contract.language):
                if mod.id in contract.selection.included_ids:
                    return self.definition_key(mod, opener, contract.language)
        source = self.template(contract, index)
        return source.file, _first_line(source.text, _term_pattern(term))

    def template(self, contract: _Contract, index: int) -> _Source:
        """Return the template that produced a block of a contract."""
        owner = contract.owners[index]
        source = self.templates.get((owner, contract.language))
        if source is None:  # only a template that failed to parse is missing; renders then fail
            return _Source(self.library.skeleton_name(contract.language), "template", "")
        return source

    def definition_key(self, module: ClauseModule, term: str, language: str) -> tuple[str, int]:
        """Return where a module's TOML defines a term."""
        meta = self.library.rel(module.meta_path)
        return meta, self.toml.key_line(meta, term, f"definitions.{language}")


@lru_cache(maxsize=1024)
def _term_pattern(term: str) -> re.Pattern[str]:
    """Return a case-sensitive pattern for a term, singular or plural ("Days", "Niveles")."""
    parts = []
    for piece in re.split(r"(\w+)", term):
        if not piece or not piece[0].isalnum():
            parts.append(re.escape(piece))
        elif piece.endswith("y"):
            parts.append(re.escape(piece[:-1]) + "(?:y|ys|ies)")
        else:
            parts.append(re.escape(piece) + "(?:s|es)?")
    return re.compile("".join(parts) + r"(?!\w)")


def _word_hits(text: str, term: str) -> Iterator[int]:
    """Yield where a term occurs as whole words (case-sensitive, either number) in a text."""
    # The left boundary is checked by hand: a leading look-behind would make the regex
    # engine try every position instead of searching for the term's first letters.
    for hit in _term_pattern(term).finditer(text):
        start = hit.start()
        if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
            yield start


def _first_line(text: str, pattern: re.Pattern[str]) -> int:
    """Return the line of the first match of a pattern in a text, or 1."""
    hit = pattern.search(text)
    return text.count("\n", 0, hit.start()) + 1 if hit else 1


def _render_contracts(library: Library, explored: _Explored,
                      toml: _Toml) -> tuple[list[_Contract], list[tuple[Finding, str]]]:
    """Render the representative deals in every language; failures become findings."""
    contracts: list[_Contract] = []
    failures: list[tuple[Finding, str]] = []
    for index in explored.cover():
        variant, selection = explored.variants[index], explored.selections[index]
        for language in LANGUAGES:
            try:
                document = build_document(library, selection, explored.deals[index], language)
            except LibraryError as error:
                finding = _located(str(error), library, toml, "fails to render: ")
                failures.append((finding, f"{variant.name}, {language}"))
                continue
            contracts.append(_Contract(variant.name, language, selection, document))
    return contracts, failures


_LOCATION = re.compile(r"^(?P<file>[^\s:]+)(?::(?P<line>\d+))?(?: \[(?P<fact>\w+)\])?: "
                       r"(?P<message>.*)$", re.DOTALL)
_TERM_IN_MESSAGE = re.compile(r"(?:term|definition of) '(?P<term>[^']+)'")
_DUPLICATE = re.compile(r"term '(?P<term>[^']+)' is also defined by (?P<other>\w+)")


def _located(text: str, library: Library, toml: _Toml, prefix: str) -> Finding:
    """Turn a LibraryError message (``file:line: message``) into a prefixed finding."""
    match = _LOCATION.match(text)
    if match is None:
        return Finding("clauses", 1, prefix + text)
    file, message = match["file"], prefix + match["message"]
    duplicate = _DUPLICATE.fullmatch(match["message"])
    if duplicate:  # render refuses a contract whose [definitions] repeat a term
        other = library.rel(library.get(duplicate["other"]).meta_path)
        message = f"term '{duplicate['term']}' is defined twice in one contract (also in {other})"
    if match["line"]:
        return Finding(file, int(match["line"]), message)
    if match["fact"]:
        return Finding(file, toml.key_line(file, "rule", match["fact"]), message)
    term = _TERM_IN_MESSAGE.search(message)
    if file.endswith(".toml") and term:
        return Finding(file, toml.key_line(file, term["term"]), message)
    if file.endswith(".toml") and message.startswith("rule"):
        return Finding(file, toml.key_line(file, "include"), message)
    return Finding(file, 1, message)


# --- lint -------------------------------------------------------------------------------


class _Findings:
    """Collect findings once each, keeping the first deal a finding was seen in."""

    def __init__(self) -> None:
        self.seen: dict[Finding, str] = {}

    def add(self, findings: Iterable[Finding]) -> None:
        """Add findings seen without a particular deal."""
        for finding in findings:
            self.seen.setdefault(finding, "")

    def add_seen(self, pairs: Iterable[tuple[Finding, str]]) -> None:
        """Add findings, each with the deal it was seen in."""
        for finding, context in pairs:
            self.seen.setdefault(finding, context)

    def result(self) -> list[Finding]:
        """Return the findings, sorted, each naming the first deal it was seen in."""
        out = {Finding(f.file, f.line, f"{f.message} (deal {ctx})" if ctx else f.message)
               for f, ctx in self.seen.items()}
        return sorted(out)


def lint(library: Library, schema: dict[str, Any]) -> list[Finding]:
    """Check the clause library against the deal schema; return the findings, sorted."""
    toml = _Toml(library)
    sources = _sources(library, toml)
    scans, syntax = _scan_all(library, sources)
    static = [*syntax, *_check_fields(library, scans, schema), *_check_refs(library, scans)]
    findings = _Findings()
    findings.add(static)
    findings.add(_check_parity(library, scans, toml))
    findings.add(_check_unused_fields(library, scans, schema))
    rules = {(s.file, s.line) for s in sources if s.kind == "rule"}
    if not any((f.file, f.line) in rules for f in static):  # else every selection would fail
        _explored_checks(library, schema, scans, toml, findings,
                         {(f.file, f.line) for f in static})
    return findings.result()


def _explored_checks(library: Library, schema: dict[str, Any], scans: dict[_Source, Scan],
                     toml: _Toml, findings: _Findings, known: set[tuple[str, int]]) -> None:
    """Add the findings that need generated deals and assembled contracts."""
    try:
        explored = _explore(library, schema)
    except LibraryError as error:
        findings.add([_located(str(error), library, toml, "cannot select modules: ")])
        return
    findings.add(_check_reachable(library, explored, toml))
    findings.add(_check_guards(library, scans, explored))
    contracts, failures = _render_contracts(library, explored, toml)
    # A failure where a static check already found the cause would only repeat it.
    findings.add_seen((f, ctx) for f, ctx in failures if (f.file, f.line) not in known)
    checker = _TermChecker(library, scans, toml)
    for language in LANGUAGES:
        terms = checker.library_terms(language, contracts)
        for contract in (c for c in contracts if c.language == language):
            findings.add_seen(checker.check(contract, terms))


# --- coverage ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleCoverage:
    """How often generated deals include one module, and which changes switch it on."""

    id: str
    kind: str
    included: int
    switched_on_by: tuple[str, ...]

    @property
    def never(self) -> bool:
        """Return whether no generated deal includes the module."""
        return self.included == 0


@dataclass(frozen=True)
class CoverageReport:
    """Module coverage over every generated deal."""

    total: int
    modules: tuple[ModuleCoverage, ...]

    @property
    def never(self) -> tuple[str, ...]:
        """Return the ids of the modules no generated deal includes."""
        return tuple(c.id for c in self.modules if c.never)


def coverage(library: Library, schema: dict[str, Any]) -> CoverageReport:
    """Count, per module, the generated deals that include it and the changes that do it."""
    explored = _explore(library, schema)
    pairs = list(zip(explored.variants, explored.included, strict=True))
    base = {v.name: ids for v, ids in pairs if ":" not in v.name}
    rows = []
    for module in library.modules:
        hits = [v.name for v, ids in pairs if module.id in ids]
        switched = tuple(name for name in hits
                         if ":" in name and module.id not in base.get(name.split(":")[0], ()))
        rows.append(ModuleCoverage(module.id, module.kind, len(hits), switched))
    return CoverageReport(len(explored.variants), tuple(rows))


def format_coverage(report: CoverageReport, shown: int = 3) -> str:
    """Return the coverage report as a text table with a summary line."""
    width = max([len("module"), *(len(c.id) for c in report.modules)])
    lines = [f"{'module':<{width}}  {'kind':<8}  {'included':>11}  switched on by"]
    for row in report.modules:
        if row.never:
            how = "NEVER"
        elif row.included == report.total:
            how = "(every deal)"
        elif not row.switched_on_by:
            how = "(the examples)"
        else:
            how = ", ".join(row.switched_on_by[:shown])
            if len(row.switched_on_by) > shown:
                how += f" (+{len(row.switched_on_by) - shown} more)"
        lines.append(f"{row.id:<{width}}  {row.kind:<8}  "
                     f"{f'{row.included}/{report.total}':>11}  {how}")
    never = report.never
    summary = (f"{len(report.modules)} modules, {report.total} generated deals: "
               f"{len(report.modules) - len(never)} included by some deal, {len(never)} never")
    lines.append(summary + (f" ({', '.join(never)})" if never else ""))
    return "\n".join(lines) + "\n"
